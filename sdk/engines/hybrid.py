"""Model and rules together: the model decides, the rules explain (and may veto).

Each policy is a small pure function of (model result, rules result), so the
combination can be measured against each engine alone on the same dev set
(``python -m training.evaluate`` scores every policy); the default is the one
that measured best on dev. Results say ``engine="onnx"`` when the model's label
stands and ``engine="rules"`` when a rule overrode it.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Protocol, Sequence, Tuple

from ..calibration import ReviewPolicy
from ..context import Context
from ..result_builder import merge_warnings, order_findings
from ..results import BY_MODEL, BY_RULE_OVERRIDE, EmotionResult, Finding
from .base import CheckInput, Engine, Verdict


class Scored(Protocol):
    """What a policy reads of each engine's verdict (a Verdict, or a finished CheckResult)."""

    label: str
    scores: Dict[str, float]
    findings: List[Finding]
    warnings: List[str]


def _model_label(model: Scored, rules: Scored) -> bool:
    return False


def _forbidden_high(model: Scored, rules: Scored) -> bool:
    """A high-severity forbidden-wording hit (e.g. "这不归我管") is a fault whatever the model says."""
    return (
        rules.label == "non_compliant"
        and model.label != "non_compliant"
        and any(f.label == "non_compliant" and f.severity == "high" and f.start is not None for f in rules.findings)
    )


def _forbidden_any(model: Scored, rules: Scored) -> bool:
    return rules.label == "non_compliant" and model.label != "non_compliant"


def _unsure(threshold: float) -> Callable[[Scored, Scored], bool]:
    """The rules' verdict wins where the rules found a fault and the model is not confident."""

    def override(model: Scored, rules: Scored) -> bool:
        return rules.label != "standard" and model.scores[model.label] < threshold

    return override


def _forbidden_high_or_unsure(threshold: float) -> Callable[[Scored, Scored], bool]:
    unsure = _unsure(threshold)
    return lambda model, rules: _forbidden_high(model, rules) or unsure(model, rules)


Decision = Tuple[str, Dict[str, float], str]  # label, scores, deciding engine ("onnx" or "rules")


def _model_decides(model: Scored, rules: Scored) -> Decision:
    return model.label, dict(model.scores), "onnx"


def _overriding(
    should_override: Callable[[Scored, Scored], bool],
    otherwise: Callable[[Scored, Scored], Decision] = _model_decides,
) -> Callable[[Scored, Scored], Decision]:
    """The rules' verdict where ``should_override`` says so, else ``otherwise`` (the model's verdict)."""

    def decide(model: Scored, rules: Scored) -> Decision:
        if should_override(model, rules):
            return rules.label, dict(rules.scores), "rules"
        return otherwise(model, rules)

    return decide


def _blend(weight: float) -> Callable[[Scored, Scored], Decision]:
    """Weighted mean of the two score vectors; the engine whose label wins is named."""

    def decide(model: Scored, rules: Scored) -> Decision:
        scores = {k: weight * model.scores[k] + (1 - weight) * rules.scores.get(k, 0.0) for k in model.scores}
        label = max(scores, key=lambda k: scores[k])
        return label, scores, "onnx" if label == model.label else "rules"

    return decide


def _apology_veto(scores: Dict[str, float]) -> Decision:
    """The best label other than missing_apology, its score mass shared out among the rest."""
    rest = {k: v for k, v in scores.items() if k != "missing_apology"}
    total = sum(rest.values()) or 1.0
    out = {k: v / total for k, v in rest.items()}
    out["missing_apology"] = 0.0
    return max(rest, key=lambda k: rest[k]), out, "rules"


POLICIES: Dict[str, Callable[[Scored, Scored], Decision]] = {
    "model": _overriding(_model_label),
    "forbidden_high": _overriding(_forbidden_high),
    "forbidden_any": _overriding(_forbidden_any),
    "unsure_model_0.5": _overriding(_unsure(0.5)),
    "unsure_model_0.7": _overriding(_unsure(0.7)),
    "forbidden_high_or_unsure_0.5": _overriding(_forbidden_high_or_unsure(0.5)),
    "blend_0.5": _blend(0.5),
    "blend_0.7": _blend(0.7),
    # The blend, except that high-severity forbidden wording the rules located (严禁: "这不归我管") stays a fault:
    # a model that learned real chats' curt style can outvote it in the blend.
    "blend_0.7_forbidden_high": _overriding(_forbidden_high, otherwise=_blend(0.7)),
}
# Fallback when a model's manifest names no combine_policy. Compliance dev macro-F1 (677 records):
# BERT alone: model 0.890, rules 0.780, blend_0.5 0.904, blend_0.7 0.892;
# BERT + n-gram member: model 0.938, blend_0.5 0.894, blend_0.7 0.938 — blend_0.7 is never worse
# than the model alone in either setting.
DEFAULT_POLICY = "blend_0.7"


class HybridEngine(Engine):
    """The ONNX model decides labels; the rules add findings and emotion cues.

    ``policy`` names how the two verdicts combine (see POLICIES): most let the model decide and
    the rules override in named cases; ``blend_*`` average the two score vectors. None: the
    ``combine_policy`` that training.evaluate chose on dev and wrote into the model's manifest,
    else DEFAULT_POLICY.
    """

    name = "onnx"

    def __init__(
        self, onnx: Engine, rules: Engine, policy: Optional[str] = None, review_threshold: Optional[float] = None
    ):
        manifest = getattr(getattr(onnx, "manifest", None), "data", None) or {}
        if policy is None:
            # The policy measured best on dev for this model travels in its manifest (training.evaluate).
            policy = manifest.get("combine_policy", DEFAULT_POLICY)
        # Temperatures fitted on dev and the review threshold (training.calibrate), from the manifest.
        self.review = ReviewPolicy.from_manifest(manifest, review_threshold)
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
        self.onnx, self.rules, self.policy = onnx, rules, policy
        # Emotion: weight of the model's scores against the rules' lexicon scores, chosen on dev
        # (training.evaluate); 1.0, the model alone, where the manifest names none.
        self.emotion_model_weight = float(manifest.get("emotion_model_weight", 1.0))
        self._decide = POLICIES[policy]
        # The apology veto: a turn that apologises is not missing an apology (LABELS.md), whatever the
        # scores say. Rules engines know the rulebook's explicit apology wording; other engines never veto.
        self._apologises: Callable[[str], bool] = getattr(rules, "apologises", lambda utterance: False)

    def verdict_batch(self, items: Sequence[CheckInput]) -> List[Verdict]:
        if not items:
            return []
        return [
            self.combine(m, r, item.utterance)
            for m, r, item in zip(self.onnx.verdict_batch(items), self.rules.verdict_batch(items), items)
        ]

    def combine(self, model: Scored, rules: Scored, utterance: Optional[str] = None) -> Verdict:
        label, scores, engine = self._decide(model, rules)
        if label == "missing_apology" and utterance is not None and self._apologises(utterance):
            label, scores, engine = _apology_veto(scores)
        scores = self.review.calibrate("compliance", scores)
        # The model's own finding only where its label stands; the rules' findings always explain.
        findings = list(rules.findings) + [f for f in model.findings if f.label == label]
        return Verdict(
            label=label,
            scores=scores,
            engine=engine,
            findings=order_findings(findings, label),
            warnings=merge_warnings(model.warnings, rules.warnings),
            by=BY_MODEL if engine == "onnx" else BY_RULE_OVERRIDE,
            policy=self.policy,
            review=tuple(self.review.reasons("compliance", scores, model.label, rules.label)),
        )

    def emotion_batch(self, texts: Sequence[str]) -> List[EmotionResult]:
        if not texts:
            return []
        return [
            self._combine_emotion(m, r) for m, r in zip(self.onnx.emotion_batch(texts), self.rules.emotion_batch(texts))
        ]

    def context_emotions(self, contexts: Sequence[Context]) -> List[EmotionResult]:
        if not contexts:
            return []
        return [
            self._combine_emotion(m, r)
            for m, r in zip(self.onnx.context_emotions(contexts), self.rules.context_emotions(contexts))
        ]

    def _combine_emotion(self, model: EmotionResult, rules: EmotionResult) -> EmotionResult:
        label, blended = model.label, model.scores
        w = self.emotion_model_weight
        if w < 1.0:
            blended = {k: w * v + (1 - w) * rules.scores.get(k, 0.0) for k, v in model.scores.items()}
            label = max(blended, key=lambda k: blended[k])
        # Cues that agree with the label explain it; contrary cues would only confuse.
        cues = [c for c in rules.cues if c.label == label]
        scores = self.review.calibrate("emotion", blended)
        # The rules disagree only where their cues point elsewhere (no cue: they have no opinion).
        reasons = self.review.reasons("emotion", scores, model.label, rules.label if rules.cues else None)
        return EmotionResult(
            label=label,
            scores=scores,
            engine=model.engine,
            cues=cues,
            warnings=merge_warnings(model.warnings, rules.warnings),
            needs_review=bool(reasons),
            review_reasons=reasons,
        )
