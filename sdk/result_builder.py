"""The one place where results are built: engine verdicts + the context's emotion -> CheckResult.

It also enforces binding rules (a QA team's own rules, and any rule marked ``binding`` in the
rulebook): whatever the engine and its combination policy decided, a binding rule's label wins over
a lower-priority label (priority of ../shared/LABELS.md: non_compliant > missing_apology >
missing_thanks > standard), and the result says so in ``decided_by``.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

from .labels import COMPLIANCE_LABELS, COMPLIANCE_PRIORITY
from .results import BY_MODEL, BY_RULE_OVERRIDE, BY_RULES, CheckResult, DecidedBy, EmotionResult, Finding

if TYPE_CHECKING:
    from .context import Context
    from .engines.base import CheckInput, Engine, Verdict

_SEVERITY_CONFIDENCE = {"high": 0.94, "medium": 0.86, "low": 0.72}
_STANDARD_CONFIDENCE = 0.86


def check_results(engine: "Engine", items: Sequence["CheckInput"], fell_back: bool = False) -> List[CheckResult]:
    """One CheckResult per input, in order: the engine's verdicts, each context's emotion once."""
    if not items:
        return []
    verdicts = engine.verdict_batch(items)
    emotions = context_emotions(engine, [item.parsed for item in items], fell_back)
    return [
        build_check_result(item, verdict, emotion, fell_back)
        for item, verdict, emotion in zip(items, verdicts, emotions)
    ]


def context_emotions(
    engine: "Engine", contexts: Sequence[Optional["Context"]], fell_back: bool = False
) -> List[Optional[EmotionResult]]:
    """The emotion of each context's customer words (None without any), computed once per distinct context."""
    unique: Dict[str, "Context"] = {}  # contexts repeat (one customer turn, several candidate replies)
    for c in contexts:
        if c is not None and c.words.strip():
            unique.setdefault(c.words, c)
    found = dict(zip(unique, engine.context_emotions(list(unique.values())))) if unique else {}
    out: List[Optional[EmotionResult]] = []
    for c in contexts:
        emotion = found.get(c.words) if c is not None else None
        # a fresh object per result: results are mutable and must not share state
        result = _finished_copy(emotion, fell_back) if emotion is not None else None
        if result is not None and result.cues and c is not None and isinstance(c.source, str):
            result.cues = _cues_in_context(result.cues, c.source)
        out.append(result)
    return out


def _cues_in_context(cues: Sequence[Finding], context: str) -> List[Finding]:
    """Cue spans moved from the customer's words into the context string the caller gave, so that
    ``context[cue.start:cue.end] == cue.text`` (the words are the context minus its bracketed events)."""
    from .normalize import split_events

    _, words, offsets = split_events(context)
    out = []
    for cue in cues:
        if cue.start is None or cue.end is None or not 0 <= cue.start < cue.end <= len(offsets):
            out.append(cue)
            continue
        start, end = offsets[cue.start], offsets[cue.end - 1] + 1
        out.append(dataclasses.replace(cue, start=start, end=end, text=context[start:end]))
    return out


def finish_emotion(result: EmotionResult, notes: Sequence[str], fell_back: bool) -> EmotionResult:
    """An engine's emotion result with input notes and its provenance added."""
    if notes:
        result.warnings[:0] = list(notes)
    result.decided_by = decided_by(BY_MODEL if result.engine == "onnx" else BY_RULES, None, fell_back)
    return result


@lru_cache(maxsize=256)
def decided_by(by: str, policy: Optional[str], fell_back: bool, rules: Tuple[str, ...] = ()) -> DecidedBy:
    """One shared (immutable) DecidedBy per distinct provenance: results are built by the thousand."""
    return DecidedBy(by, policy, fell_back, rules)


def build_check_result(
    item: "CheckInput", verdict: "Verdict", emotion: Optional[EmotionResult], fell_back: bool = False
) -> CheckResult:
    label, scores, engine, by = verdict.label, dict(verdict.scores), verdict.engine, verdict.by
    findings = list(verdict.findings)
    deciding: Tuple[str, ...] = ()
    binding = [f for f in findings if f.binding and f.label != "standard"]
    if binding:
        top = max(COMPLIANCE_PRIORITY[f.label] for f in binding)
        if top > COMPLIANCE_PRIORITY[label]:
            label, scores = rule_scores(binding)
            engine, by = "rules", BY_RULE_OVERRIDE
            deciding = tuple(f.rule_id for f in binding if f.label == label)
            findings = order_findings(findings, label)
    return CheckResult(
        label=label,
        scores=scores,
        engine=engine,
        findings=findings,
        emotion=emotion,
        utterance=item.utterance,
        context=item.parsed.echo() if item.parsed is not None else None,
        warnings=merge_warnings(item.notes, verdict.warnings),
        decided_by=decided_by(by, verdict.policy, fell_back, deciding),
        needs_review=bool(verdict.review),
        review_reasons=list(verdict.review),
    )


def rule_scores(deciding: Sequence[Finding]) -> Tuple[str, Dict[str, float]]:
    """Priority label and calibrated-ish scores from label-deciding rule findings."""
    weights = {label: 1.0 for label in COMPLIANCE_LABELS}
    if not deciding:
        label, confidence = "standard", _STANDARD_CONFIDENCE
    else:
        best = max(deciding, key=lambda f: (COMPLIANCE_PRIORITY[f.label], _SEVERITY_CONFIDENCE[f.severity]))
        label = best.label
        same = [f for f in deciding if f.label == label]
        confidence = _SEVERITY_CONFIDENCE[best.severity]
        confidence = min(0.97, confidence + 0.02 * (len(same) - 1))
        for f in deciding:
            if f.label != label:
                weights[f.label] += 2.0
    rest = 1.0 - confidence
    others = [lab for lab in COMPLIANCE_LABELS if lab != label]
    total = sum(weights[lab] for lab in others)
    scores = {lab: (confidence if lab == label else rest * weights[lab] / total) for lab in COMPLIANCE_LABELS}
    return label, scores


def order_findings(findings: Sequence[Finding], label: str) -> List[Finding]:
    """Findings that support the decided label first (stable otherwise)."""
    return sorted(findings, key=lambda f: f.label != label)


def merge_warnings(*lists: Sequence[str]) -> List[str]:
    if not any(lists):
        return []
    return list(dict.fromkeys(w for warnings in lists for w in warnings))


def _finished_copy(result: EmotionResult, fell_back: bool) -> EmotionResult:
    """A fresh copy of a (possibly shared) engine result, with its provenance."""
    return EmotionResult(
        result.label,
        dict(result.scores),
        result.engine,
        list(result.cues),
        list(result.warnings),
        decided_by(BY_MODEL if result.engine == "onnx" else BY_RULES, None, fell_back),
    )
