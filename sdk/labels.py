"""Label names, exactly as ../shared/LABELS.md defines them.

The order here is the canonical order of score vectors and model heads; a
model manifest carries its own order and is checked against these names.
"""

from typing import Tuple

COMPLIANCE_LABELS = ("standard", "non_compliant", "missing_apology", "missing_thanks")
EMOTION_LABELS = ("neutral", "satisfied", "anxious", "dissatisfied", "angry")

# Priority when several compliance faults apply (LABELS.md): higher wins.
COMPLIANCE_PRIORITY = {"non_compliant": 3, "missing_apology": 2, "missing_thanks": 1, "standard": 0}

ENGINES = ("auto", "onnx", "rules")

# Situations of data/SCHEMA.md, shared by the rulebook and the labelled data.
SCENARIOS = (
    "greeting",
    "customer_greets",
    "outbound_call",
    "silent_call",
    "cannot_hear",
    "ask_repeat",
    "wrong_number",
    "private_call",
    "long_info",
    "verify_details",
    "info_supplied",
    "transfer",
    "hold_request",
    "hold_return",
    "complaint_busy_line",
    "complaint_slow",
    "complaint_attitude",
    "complaint_error",
    "abusive_caller",
    "cannot_answer_now",
    "request_cannot_be_met",
    "equipment_fault",
    "agent_personal_info",
    "disclosure_request",
    "suggestion",
    "ask_forgiveness",
    "customer_apologises",
    "customer_thanks",
    "closing",
    "customer_not_hanging_up",
    "emotional_customer",
    "general_enquiry",
)


def check_label(value: str, allowed: Tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what} label {value!r}; expected one of {', '.join(allowed)}")
    return value
