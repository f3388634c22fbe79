"""The one interface every decision engine implements (rules, ONNX, combined).

Engines take already validated, normalised-for-length inputs; the Checker does
input validation so each engine can assume ``utterance`` is a non-empty str.
Designed so that a whole-call ``audit(turns)`` can be added later: a Turn
carries a role and optional timestamps, and engines score lists of them.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import List, Optional, Sequence

from ..results import CheckResult, EmotionResult


@dataclass(frozen=True)
class CheckInput:
    utterance: str
    context: Optional[str] = None


@dataclass(frozen=True)
class Turn:
    """One turn of a call, for the coming ``sdk.audit``."""
    role: str  # "agent" | "customer"
    text: str
    start: Optional[float] = None  # seconds
    end: Optional[float] = None


class Engine(ABC):
    name: str = "base"

    @abstractmethod
    def check_batch(self, items: Sequence[CheckInput]) -> List[CheckResult]:
        """One CheckResult per input, in order."""

    @abstractmethod
    def emotion_batch(self, texts: Sequence[str]) -> List[EmotionResult]:
        """One EmotionResult per customer text, in order."""


class ModelUnavailable(RuntimeError):
    """Raised by a model engine that cannot load (missing runtime, files, bad manifest)."""
