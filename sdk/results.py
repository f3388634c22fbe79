"""Typed results returned by the public API. Every one has ``to_dict()``."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional


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

    def to_dict(self) -> dict:
        return {
            "rule_id": self.rule_id, "label": self.label, "start": self.start, "end": self.end,
            "text": self.text, "source": self.source, "message": self.message,
            "suggestion": self.suggestion, "severity": self.severity,
        }


@dataclass
class EmotionResult:
    label: str
    scores: Dict[str, float]
    engine: str  # "onnx" or "rules"
    cues: List[Finding] = field(default_factory=list)  # words that drove a rules decision
    warnings: List[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "scores": {k: round(float(v), 6) for k, v in self.scores.items()},
            "engine": self.engine,
            "cues": [c.to_dict() for c in self.cues],
            "warnings": list(self.warnings),
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
    context: Optional[str] = None
    warnings: List[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "utterance": self.utterance,
            "context": self.context,
            "label": self.label,
            "scores": {k: round(float(v), 6) for k, v in self.scores.items()},
            "engine": self.engine,
            "findings": [f.to_dict() for f in self.findings],
            "emotion": self.emotion.to_dict() if self.emotion is not None else None,
            "warnings": list(self.warnings),
        }

    def __repr__(self) -> str:
        top = ", ".join(f"{k}={v:.2f}" for k, v in sorted(self.scores.items(), key=lambda kv: -kv[1]))
        ids = [f.rule_id for f in self.findings]
        return (f"CheckResult(label={self.label!r}, engine={self.engine!r}, scores={{{top}}}, "
                f"findings={ids})")
