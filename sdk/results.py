"""Typed results returned by the public API. Every one has ``to_dict()``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

# How a label was decided (DecidedBy.by).
BY_MODEL, BY_RULES, BY_RULE_OVERRIDE = "model", "rules", "rule_override"


@dataclass(frozen=True)
class Finding:
    """One thing a rule (or the model) found, and where.

    ``start``/``end`` are character offsets into the *original* utterance
    (``utterance[start:end] == text``), or None when the finding is about
    something missing (for example no apology after a hold).
    """

    rule_id: str
    label: str
    start: Optional[int]
    end: Optional[int]
    text: Optional[str]
    source: str  # "rules" or "onnx"
    message: str
    suggestion: Optional[str] = None
    severity: str = "medium"  # "low" | "medium" | "high"
    # A binding rule (a QA team's own, or marked binding in the rulebook) decides the label under
    # every engine: no model score outvotes it.
    binding: bool = False

    def to_dict(self) -> Dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "label": self.label,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "source": self.source,
            "message": self.message,
            "suggestion": self.suggestion,
            "severity": self.severity,
            "binding": self.binding,
        }


@dataclass(frozen=True)
class DecidedBy:
    """How a result's label was decided, so a QA lead can trace every verdict.

    ``by``: "model" (the model's label stands), "rules" (the rules engine alone) or
    "rule_override" (a rule replaced the model's label: the combination policy let the rules
    win, or a binding rule fired; ``rules`` then names the deciding rule ids).
    ``policy``: how model and rules were combined (e.g. "blend_0.7"); None for one engine alone.
    ``fell_back``: ``engine="auto"`` could not load the model and used the rules instead.
    """

    by: str
    policy: Optional[str] = None
    fell_back: bool = False
    rules: Tuple[str, ...] = ()

    def to_dict(self) -> Dict[str, Any]:
        return {"by": self.by, "policy": self.policy, "fell_back": self.fell_back, "rules": list(self.rules)}


@dataclass
class EmotionResult:
    label: str
    scores: Dict[str, float]
    engine: str  # "onnx" or "rules"
    cues: List[Finding] = field(default_factory=list)  # words that drove a rules decision
    warnings: List[str] = field(default_factory=list)
    decided_by: Optional[DecidedBy] = None
    # True when a QA reader should look at it: low calibrated confidence or model-rules disagreement
    # (review_reasons says which; sdk.calibration). Only the model engine judges this.
    needs_review: bool = False
    review_reasons: List[str] = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "label": self.label,
            "scores": {k: round(float(v), 6) for k, v in self.scores.items()},
            "engine": self.engine,
            "cues": [c.to_dict() for c in self.cues],
            "warnings": list(self.warnings),
            "decided_by": self.decided_by.to_dict() if self.decided_by is not None else None,
            "needs_review": self.needs_review,
            "review_reasons": list(self.review_reasons),
        }

    def __repr__(self) -> str:
        top = ", ".join(f"{k}={v:.2f}" for k, v in sorted(self.scores.items(), key=lambda kv: -kv[1]))
        return f"EmotionResult(label={self.label!r}, engine={self.engine!r}, scores={{{top}}})"


@dataclass
class CheckResult:
    label: str
    scores: Dict[str, float]
    engine: str  # "onnx" or "rules": which engine decided the label
    findings: List[Finding] = field(default_factory=list)
    emotion: Optional[EmotionResult] = None  # emotion of the context's customer words
    utterance: str = ""
    # The context as given: a string, or the preceding turns as dicts (oldest first).
    context: Union[str, List[Dict[str, Any]], None] = None
    warnings: List[str] = field(default_factory=list)
    decided_by: Optional[DecidedBy] = None
    needs_review: bool = False  # see EmotionResult.needs_review
    review_reasons: List[str] = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "utterance": self.utterance,
            "context": self.context,
            "label": self.label,
            "scores": {k: round(float(v), 6) for k, v in self.scores.items()},
            "engine": self.engine,
            "findings": [f.to_dict() for f in self.findings],
            "emotion": self.emotion.to_dict() if self.emotion is not None else None,
            "warnings": list(self.warnings),
            "decided_by": self.decided_by.to_dict() if self.decided_by is not None else None,
            "needs_review": self.needs_review,
            "review_reasons": list(self.review_reasons),
        }

    def __repr__(self) -> str:
        top = ", ".join(f"{k}={v:.2f}" for k, v in sorted(self.scores.items(), key=lambda kv: -kv[1]))
        ids = [f.rule_id for f in self.findings]
        return f"CheckResult(label={self.label!r}, engine={self.engine!r}, scores={{{top}}}, findings={ids})"
