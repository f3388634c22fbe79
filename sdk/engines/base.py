"""The one interface every decision engine implements (rules, ONNX, combined).

Engines take validated inputs whose context is already parsed (:class:`CheckInput`), and return
their :class:`Verdict` — label, scores, findings — never a finished result: one place,
``sdk.result_builder``, turns verdicts into the public ``CheckResult``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from ..context import Context, ContextInput, Turn, parse_context
from ..results import BY_MODEL, CheckResult, EmotionResult, Finding

__all__ = ["CheckInput", "Verdict", "Engine", "ModelUnavailable", "Turn"]


class CheckInput:
    """One agent utterance and what came before it (a string, turns, or a parsed Context).

    The context is parsed once, here; ``parsed`` is what every engine reads. (A slotted class, not
    a dataclass: one is built per checked utterance.)
    """

    __slots__ = ("utterance", "context", "notes", "parsed")

    def __init__(self, utterance: str, context: ContextInput = None, notes: Tuple[str, ...] = ()) -> None:
        self.utterance = utterance
        self.context = context
        self.notes = notes  # warnings from input handling (e.g. truncation), carried into the result
        self.parsed: Optional[Context] = parse_context(context)

    @property
    def context_text(self) -> Optional[str]:
        """The context as the one string the models read, or None."""
        return self.parsed.text if self.parsed is not None else None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CheckInput) and (self.utterance, self.context, self.notes) == (
            other.utterance,
            other.context,
            other.notes,
        )

    def __hash__(self) -> int:
        return hash((self.utterance, str(self.context), self.notes))

    def __repr__(self) -> str:
        return f"CheckInput(utterance={self.utterance!r}, context={self.context!r})"


@dataclass
class Verdict:
    """What an engine decided about one utterance, before the result is built."""

    label: str
    scores: Dict[str, float]
    engine: str  # "onnx" or "rules": whose label this is
    findings: List[Finding] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    by: str = BY_MODEL  # see results.DecidedBy
    policy: Optional[str] = None
    review: Tuple[str, ...] = ()  # why a reader should look at it (sdk.calibration); empty: no need


class Engine(ABC):
    name: str = "base"

    @abstractmethod
    def verdict_batch(self, items: Sequence[CheckInput]) -> List[Verdict]:
        """One Verdict per input, in order."""

    @abstractmethod
    def emotion_batch(self, texts: Sequence[str]) -> List[EmotionResult]:
        """One EmotionResult per customer text, in order."""

    def context_emotions(self, contexts: Sequence[Context]) -> List[EmotionResult]:
        """The emotion of each context's customer words (every context has some). The results may be
        shared objects (cached): the result builder copies each one it hands out."""
        return self.emotion_batch([c.words for c in contexts])

    def check_batch(self, items: Sequence[CheckInput]) -> List[CheckResult]:
        """Finished results (with the context's emotion), as the Checker returns them."""
        from ..result_builder import check_results

        return check_results(self, items)


class ModelUnavailable(RuntimeError):
    """Raised by a model engine that cannot load (missing runtime, files, bad manifest)."""
