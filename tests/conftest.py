"""Shared fixtures and fakes: a rules-only Checker, fixed-output engines, result builders."""
from __future__ import annotations

from typing import List, Optional, Sequence

import pytest

from sdk.engines.base import Engine, Verdict
from sdk.labels import COMPLIANCE_LABELS, EMOTION_LABELS
from sdk.results import EmotionResult, Finding


class FixedEngine(Engine):
    """An engine that returns the same verdict (and emotion) for every input; stands in for either
    the model or the rules, so combination and result building are tested without a model."""

    def __init__(self, name: str, check: Optional[Verdict], emotion: Optional[EmotionResult] = None):
        self.name, self._check, self._emotion = name, check, emotion
        self.calls: List[str] = []

    def verdict_batch(self, items: Sequence) -> List[Verdict]:
        self.calls.append("verdict_batch")
        return [self._check] * len(items)

    def emotion_batch(self, texts: Sequence[str]) -> List[EmotionResult]:
        self.calls.append("emotion_batch")
        return [self._emotion] * len(texts)


def make_verdict(label: str, engine: str, findings=(), warnings=()) -> Verdict:
    """A verdict whose top score (0.7) is ``label``, the other labels 0.1."""
    scores = {lab: (0.7 if lab == label else 0.1) for lab in COMPLIANCE_LABELS}
    return Verdict(label=label, scores=scores, engine=engine, findings=list(findings), warnings=list(warnings))


def make_finding(label: str, severity: str, source: str = "rules", start: Optional[int] = 0,
                 binding: bool = False) -> Finding:
    return Finding(rule_id=f"x.{label}", label=label, start=start, end=None if start is None else start + 2,
                   text="不行" if start is not None else None, source=source, message="m", severity=severity,
                   binding=binding)


def make_emotion(label: str, engine: str, cues=()) -> EmotionResult:
    return EmotionResult(label, {lab: 0.2 for lab in EMOTION_LABELS}, engine, cues=list(cues))


@pytest.fixture(scope="session")
def rules_checker():
    """Checker(engine="rules"): no model, shared by every test that only reads it."""
    from sdk import Checker

    return Checker(engine="rules")
