"""Typed results of ``sdk.audit``. Every one has ``to_dict()`` (JSON-ready)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional, Tuple, Union

from ..labels import EMOTION_LABELS
from ..results import CheckResult, EmotionResult


def _r(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(float(x), 3)


@dataclass(frozen=True)
class CallFinding:
    """One call-level finding: which check, on which turns, over which seconds, what it costs."""

    check_id: str
    turns: List[int]  # indices into the call's turns
    severity: str  # "low" | "medium" | "high"
    message: str  # Chinese, with the measured values
    suggestion: Optional[str] = None  # the standard wording, where the seeds give one
    start: Optional[float] = None  # seconds the finding spans, when the call has times
    end: Optional[float] = None
    points: float = 0.0  # deducted by the score card (0 when no item selects it or its cap is spent)
    source: str = ""  # the seed item of the standard
    label: Optional[str] = None  # the compliance label a turn-level finding corresponds to
    rule_ids: List[str] = field(default_factory=list)  # per-turn rules behind a roll-up finding
    score_item: Optional[str] = None  # the score-card item that counted it

    def with_points(self, points: float, item: Optional[str]) -> "CallFinding":
        return replace(self, points=points, score_item=item)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "check_id": self.check_id,
            "turns": list(self.turns),
            "start": _r(self.start),
            "end": _r(self.end),
            "severity": self.severity,
            "points": self.points,
            "message": self.message,
            "suggestion": self.suggestion,
            "source": self.source,
            "label": self.label,
            "rule_ids": list(self.rule_ids),
            "score_item": self.score_item,
        }


@dataclass(frozen=True)
class SkippedCheck:
    check_id: str
    reason: str  # Chinese/English reason, e.g. no timestamps

    def to_dict(self) -> Dict[str, Any]:
        return {"check_id": self.check_id, "reason": self.reason}


_RANK = {label: i for i, label in enumerate(EMOTION_LABELS)}
# How bad an emotion is, for "worst": angry > dissatisfied > anxious > neutral > satisfied.
SEVERITY_ORDER = {"satisfied": 0, "neutral": 1, "anxious": 2, "dissatisfied": 3, "angry": 4}


@dataclass(frozen=True)
class CallEmotion:
    """The customer's emotion over the call."""

    per_turn: List[Dict[str, Any]]  # {"turn": index, "label": ..., "score": ...}
    first: Optional[str]
    last: Optional[str]
    worst: Optional[str]
    worst_turn: Optional[int]

    @classmethod
    def of(cls, pairs: List[Tuple[int, EmotionResult]]) -> "CallEmotion":
        """From (turn index, EmotionResult) pairs in call order."""
        if not pairs:
            return cls([], None, None, None, None)
        per_turn: List[Dict[str, Any]] = [
            {"turn": i, "label": e.label, "score": round(float(e.scores.get(e.label, 0.0)), 4)} for i, e in pairs
        ]
        worst_turn, worst = max(
            pairs, key=lambda p: (SEVERITY_ORDER.get(p[1].label, 0), p[1].scores.get(p[1].label, 0))
        )
        return cls(per_turn, pairs[0][1].label, pairs[-1][1].label, worst.label, worst_turn)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "per_turn": [dict(p) for p in self.per_turn],
            "first": self.first,
            "last": self.last,
            "worst": self.worst,
            "worst_turn": self.worst_turn,
        }


@dataclass(frozen=True)
class ScoreLine:
    """One score-card item as applied to a call."""

    item: str
    name: str
    hits: int
    points: float
    critical: bool

    def to_dict(self) -> Dict[str, Any]:
        return {
            "item": self.item,
            "name": self.name,
            "hits": self.hits,
            "points": self.points,
            "critical": self.critical,
        }


TurnResult = Union[CheckResult, EmotionResult, None]


def _turn_dict(result: TurnResult) -> Optional[Dict[str, Any]]:
    """A turn's result; an agent turn's context (the preceding turns, already in ``call``) is
    written as the one string its models read: the events and the customer's words before it."""
    if result is None:
        return None
    d = result.to_dict()
    if isinstance(result, CheckResult) and isinstance(d.get("context"), list):
        from ..context import parse_context

        parsed = parse_context(d["context"])
        d["context"] = parsed.text if parsed is not None else None
    return d


@dataclass
class AuditResult:
    """The audit of one call. ``turns[i]`` is a CheckResult (agent turn), an EmotionResult
    (customer turn with words) or None (event, or a silent customer turn)."""

    id: Optional[str]
    channel: str
    score: float
    passed: bool
    turns: List[TurnResult]
    findings: List[CallFinding]
    skipped: List[SkippedCheck]
    emotion: CallEmotion
    engine: str
    scorecard: str = ""
    pass_mark: Optional[float] = None
    score_lines: List[ScoreLine] = field(default_factory=list)
    critical: List[str] = field(default_factory=list)  # critical score-card items that were hit
    agent_id: Optional[str] = None
    call: Optional[Dict[str, Any]] = None  # the input turns (and times), for reports
    warnings: List[str] = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "agent_id": self.agent_id,
            "score": self.score,
            "passed": self.passed,
            "engine": self.engine,
            "scorecard": self.scorecard,
            "pass_mark": self.pass_mark,
            "critical": list(self.critical),
            "findings": [f.to_dict() for f in self.findings],
            "skipped": [s.to_dict() for s in self.skipped],
            "emotion": self.emotion.to_dict(),
            "score_lines": [s.to_dict() for s in self.score_lines],
            "turns": [_turn_dict(t) for t in self.turns],
            "call": self.call,
            "warnings": list(self.warnings),
        }

    def __repr__(self) -> str:
        ids = [f.check_id for f in self.findings]
        return (
            f"AuditResult(id={self.id!r}, score={self.score}, passed={self.passed}, engine={self.engine!r}, "
            f"findings={ids}, skipped={[s.check_id for s in self.skipped]})"
        )
