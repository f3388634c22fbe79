"""The Checker: input validation, engine choice and the public call surface.

Engines assume clean input; everything a caller can get wrong is caught here
with a message that names the bad value and what was expected.
"""
from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple, Union

from .engines.base import CheckInput, Engine, ModelUnavailable
from .labels import ENGINES
from .normalize import strip_events
from .results import CheckResult, EmotionResult

# Longer utterances are truncated (with a warning in the result): a single
# agent turn is never this long, so such input is almost always a whole
# transcript pasted by mistake and should be split into turns instead.
MAX_CHARS = 2000

CheckItem = Union[str, Tuple[str, Optional[str]], dict]


def customer_words(context: Optional[str]) -> Optional[str]:
    """The customer's words in a context: bracketed events such as
    "[客户已等待约2分钟]" removed. None when nothing is left."""
    if not context:
        return None
    return strip_events(context)[1] or None


def _validate_text(value, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}: {value!r:.60}")
    if not value.strip():
        raise ValueError(f"{what} must contain text, got an empty or whitespace-only string {value!r}")
    return value


def _validate_context(value) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"context must be a str or None, got {type(value).__name__}: {value!r:.60}")
    return value if value.strip() else None


def _truncate(text: str, what: str, notes: List[str]) -> str:
    if len(text) > MAX_CHARS:
        notes.append(f"{what} has {len(text)} characters; only the first {MAX_CHARS} were checked")
        return text[:MAX_CHARS]
    return text


def _coerce_item(item, index: Optional[int]) -> Tuple[str, Optional[str]]:
    where = "utterance" if index is None else f"item {index}"
    if isinstance(item, str):
        return _validate_text(item, where), None
    if isinstance(item, dict):
        if "utterance" not in item:
            raise ValueError(f"{where} is a dict without an 'utterance' key; expected keys 'utterance' and optional "
                             f"'context', got {sorted(item)}")
        return _validate_text(item["utterance"], where), _validate_context(item.get("context"))
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return _validate_text(item[0], where), _validate_context(item[1])
    raise TypeError(f"{where} must be a str, a (utterance, context) pair or a dict with 'utterance', "
                    f"got {type(item).__name__}: {item!r:.60}")


def _build_engine(engine: str, model_dir, rulebook, threads) -> Engine:
    from .engines.rules_engine import RulesEngine

    rules = RulesEngine(rulebook=rulebook)
    if engine == "rules":
        return rules
    try:
        return _build_model_engine(model_dir, rules, threads)
    except ModelUnavailable as exc:
        if engine == "onnx":
            raise
        warnings.warn(f"model unavailable, falling back to the rules engine: {exc}", RuntimeWarning, stacklevel=3)
        return rules


def _build_model_engine(model_dir, rules, threads) -> Engine:
    from .model_manifest import default_model_dir

    if model_dir is None:
        model_dir = default_model_dir()
        if model_dir is None:
            raise ModelUnavailable("no model directory given and no default model is installed "
                                   "(looked for sdk/bundled_models/default and <repo>/models/default)")
    from .engines.hybrid import HybridEngine
    from .engines.onnx_engine import OnnxEngine

    return HybridEngine(OnnxEngine(Path(model_dir), threads=threads), rules)


class Checker:
    """Checks agent utterances for compliance and customer utterances for emotion.

    engine: "auto" (the model where it can run, else rules), "onnx" (the model,
    or an error) or "rules" (no onnxruntime or model files needed).
    rulebook: path (or list of paths) of YAML overlays on the default rulebook.
    """

    def __init__(self, engine: str = "auto", model_dir: Union[str, Path, None] = None,
                 rulebook: Union[str, Path, Sequence[Union[str, Path]], None] = None,
                 threads: Optional[int] = None, scorecard: Union[str, Path, None] = None):
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}, got {engine!r}")
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be a positive int or None, got {threads!r}")
        self.requested_engine = engine
        self._engine = _build_engine(engine, model_dir, rulebook, threads)
        self._rulebook, self._auditor = rulebook, None
        self._scorecard = None
        if scorecard is not None:  # a QA team's own score card: validated now, not at the first audit
            from .audit.config import load_scorecard
            from .rulebook import load_rulebook

            self._scorecard = load_scorecard(scorecard, rule_ids=[r.id for r in load_rulebook(rulebook).rules])

    @property
    def engine(self) -> str:
        """The engine that decides labels: "onnx" or "rules"."""
        return self._engine.name

    def check(self, utterance: str, context: Optional[str] = None) -> CheckResult:
        utterance = _validate_text(utterance, "utterance")
        return self._check_pairs([(utterance, _validate_context(context))])[0]

    def check_batch(self, items: Iterable[CheckItem]) -> List[CheckResult]:
        if isinstance(items, (str, bytes)):
            raise TypeError("check_batch takes a list of utterances, got a single "
                            f"{type(items).__name__}; use check() for one utterance")
        pairs = [_coerce_item(item, i) for i, item in enumerate(items)]
        return self._check_pairs(pairs)

    def emotion(self, text: str) -> EmotionResult:
        return self.emotion_batch([_validate_text(text, "text")])[0]

    def emotion_batch(self, texts: Iterable[str]) -> List[EmotionResult]:
        if isinstance(texts, (str, bytes)):
            raise TypeError("emotion_batch takes a list of texts, got a single "
                            f"{type(texts).__name__}; use emotion() for one text")
        notes: List[List[str]] = []
        clean = []
        for i, text in enumerate(texts):
            note: List[str] = []
            clean.append(_truncate(_validate_text(text, f"item {i}"), "text", note))
            notes.append(note)
        results = self._engine.emotion_batch(clean) if clean else []
        for result, note in zip(results, notes):
            result.warnings[:0] = note
        return results

    def audit(self, call, channel: Optional[str] = None):
        """Audit a whole call or chat session (../shared/API.md "Whole conversations")."""
        return self._call_auditor().audit(call, channel)

    def audit_batch(self, calls, channel: Optional[str] = None, errors: str = "raise"):
        """One AuditResult per call, in order; errors="return" puts an AuditError in place of a bad call."""
        return self._call_auditor().audit_batch(calls, channel, errors)

    def _call_auditor(self):
        if self._auditor is None:
            from .audit.auditor import build_auditor

            self._auditor = build_auditor(self, self._rulebook, self._scorecard)
        return self._auditor

    def _check_pairs(self, pairs: List[Tuple[str, Optional[str]]]) -> List[CheckResult]:
        if not pairs:
            return []
        inputs, notes = [], []
        for utterance, context in pairs:
            note: List[str] = []
            utterance = _truncate(utterance, "utterance", note)
            context = _truncate(context, "context", note) if context else context
            inputs.append(CheckInput(utterance, context))
            notes.append(note)
        results = self._engine.check_batch(inputs)
        self._attach_emotion(inputs, results)
        for result, item, note in zip(results, inputs, notes):
            result.utterance, result.context = item.utterance, item.context
            result.warnings[:0] = note
        return results

    def _attach_emotion(self, inputs: List[CheckInput], results: List[CheckResult]) -> None:
        # The emotion of the context's customer words, from the same engine that
        # classifies emotion on its own, so check() and emotion() never disagree.
        # An engine that already filled it (the rules engine does) is not asked twice.
        wanted = [(i, customer_words(item.context)) for i, item in enumerate(inputs)
                  if results[i].emotion is None]
        wanted = [(i, text) for i, text in wanted if text]
        emotions = self._engine.emotion_batch([text for _, text in wanted]) if wanted else []
        for (i, _), emotion in zip(wanted, emotions):
            results[i].emotion = emotion


_default: Optional[Checker] = None
_default_lock = threading.Lock()


def default_checker() -> Checker:
    """The shared Checker(engine="auto") behind the module-level functions, built on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Checker(engine="auto")
    return _default


def check(utterance: str, context: Optional[str] = None) -> CheckResult:
    return default_checker().check(utterance, context)


def check_batch(items: Iterable[CheckItem]) -> List[CheckResult]:
    return default_checker().check_batch(items)


def emotion(text: str) -> EmotionResult:
    return default_checker().emotion(text)


def emotion_batch(texts: Iterable[str]) -> List[EmotionResult]:
    return default_checker().emotion_batch(texts)


def audit(call, channel: Optional[str] = None):
    return default_checker().audit(call, channel)


def audit_batch(calls, channel: Optional[str] = None, errors: str = "raise"):
    return default_checker().audit_batch(calls, channel, errors)
