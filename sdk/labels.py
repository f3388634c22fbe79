"""Label names, exactly as ../shared/LABELS.md defines them.

The order here is the canonical order of score vectors and model heads; a
model manifest carries its own order and is checked against these names.
"""
COMPLIANCE_LABELS = ("standard", "non_compliant", "missing_apology", "missing_thanks")
EMOTION_LABELS = ("neutral", "satisfied", "anxious", "dissatisfied", "angry")

# Priority when several compliance faults apply (LABELS.md): higher wins.
COMPLIANCE_PRIORITY = {"non_compliant": 3, "missing_apology": 2, "missing_thanks": 1, "standard": 0}

ENGINES = ("auto", "onnx", "rules")


def check_label(value: str, allowed: tuple, what: str) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what} label {value!r}; expected one of {', '.join(allowed)}")
    return value
