"""Model and rules together: the model decides, the rules explain (and may veto).

Each policy is a small pure function of (model result, rules result), so the
combination can be measured against each engine alone on the same dev set
(``python -m training.evaluate --compare-policies``); the default is the one
that measured best. Results say ``engine="onnx"`` when the model's label
stands and ``engine="rules"`` when a rule overrode it.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Sequence

from ..results import CheckResult, EmotionResult, Finding
from .base import CheckInput, Engine

# Model probability below which a rules verdict replaces the model's ("confident_model" policy).
LOW_CONFIDENCE = 0.5


def _model_label(model: CheckResult, rules: CheckResult) -> bool:
    return False


def _forbidden_high(model: CheckResult, rules: CheckResult) -> bool:
    """A high-severity forbidden-wording hit (e.g. "这不归我管") is a fault whatever the model says."""
    return rules.label == "non_compliant" and model.label != "non_compliant" and any(
        f.label == "non_compliant" and f.severity == "high" and f.start is not None for f in rules.findings)


def _forbidden_any(model: CheckResult, rules: CheckResult) -> bool:
    return rules.label == "non_compliant" and model.label != "non_compliant"


def _unsure_model(model: CheckResult, rules: CheckResult) -> bool:
    return rules.label != "standard" and model.scores[model.label] < LOW_CONFIDENCE


def _forbidden_high_or_unsure(model: CheckResult, rules: CheckResult) -> bool:
    return _forbidden_high(model, rules) or _unsure_model(model, rules)


# policy name -> "should the rules verdict replace the model's?"
POLICIES: Dict[str, Callable[[CheckResult, CheckResult], bool]] = {
    "model": _model_label,
    "forbidden_high": _forbidden_high,
    "forbidden_any": _forbidden_any,
    "unsure_model": _unsure_model,
    "forbidden_high_or_unsure": _forbidden_high_or_unsure,
}
DEFAULT_POLICY = "forbidden_high"
EMOTION_POLICIES = ("model",)


class HybridEngine(Engine):
    """The ONNX model decides labels; the rules add findings and emotion cues.

    ``policy`` names when a rules verdict overrides the model (see POLICIES).
    """

    name = "onnx"

    def __init__(self, onnx: Engine, rules: Engine, policy: str = DEFAULT_POLICY):
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
        self.onnx, self.rules, self.policy = onnx, rules, policy
        self._override = POLICIES[policy]

    def check_batch(self, items: Sequence[CheckInput]) -> List[CheckResult]:
        if not items:
            return []
        return [self.combine(m, r) for m, r in zip(self.onnx.check_batch(items), self.rules.check_batch(items))]

    def combine(self, model: CheckResult, rules: CheckResult) -> CheckResult:
        warnings = _merge(model.warnings, rules.warnings)
        if self._override(model, rules):
            return CheckResult(label=rules.label, scores=dict(rules.scores), engine=self.rules.name,
                               findings=_order(rules.findings + model.findings, rules.label),
                               utterance=rules.utterance, context=rules.context, warnings=warnings)
        return CheckResult(label=model.label, scores=dict(model.scores), engine=model.engine,
                           findings=_order(model.findings + rules.findings, model.label),
                           utterance=model.utterance, context=model.context, warnings=warnings)

    def emotion_batch(self, texts: Sequence[str]) -> List[EmotionResult]:
        if not texts:
            return []
        out = []
        for model, rules in zip(self.onnx.emotion_batch(texts), self.rules.emotion_batch(texts)):
            # Cues that agree with the model's label explain it; contrary cues would only confuse.
            cues = [c for c in rules.cues if c.label == model.label]
            out.append(EmotionResult(label=model.label, scores=dict(model.scores), engine=model.engine,
                                     cues=cues, warnings=_merge(model.warnings, rules.warnings)))
        return out


def _order(findings: List[Finding], label: str) -> List[Finding]:
    """Findings that support the decided label first (stable otherwise)."""
    return sorted(findings, key=lambda f: f.label != label)


def _merge(a: List[str], b: List[str]) -> List[str]:
    return list(dict.fromkeys(list(a) + list(b)))
