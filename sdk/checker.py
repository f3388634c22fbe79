"""The Checker: input validation, engine choice and the public call surface.

Engines assume clean input; everything a caller can get wrong is caught here
with a message that names the bad value and what was expected.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any, Iterable, List, Optional, Sequence, Tuple, Union

from .bounded_repr import short_repr
from .context import ContextInput, parse_context
from .engines.base import Engine, ModelUnavailable
from .labels import ENGINES
from .records import MAX_CHARS, CheckItem, batch_items, check_input, coerce_check_item, emotion_input
from .result_builder import check_results, finish_emotion
from .results import CheckResult, EmotionResult

__all__ = [
    "Checker",
    "audit",
    "audit_batch",
    "check",
    "check_batch",
    "emotion",
    "emotion_batch",
    "default_checker",
    "customer_words",
    "MAX_CHARS",
]


def customer_words(context: ContextInput) -> Optional[str]:
    """The customer's words in a context: bracketed events such as
    "[客户已等待约2分钟]" removed. None when nothing is left."""
    parsed = parse_context(context)
    return (parsed.words or None) if parsed is not None else None


# A batch reaches the engine this many items at a time, so its working memory (token ids, activations)
# stays bounded however long the batch is; every item's result is computed on its own, so the chunk
# size changes no result.
CHUNK = 256

PathLike = Union[str, Path]
RulebookPaths = Union[PathLike, Sequence[PathLike], None]


def _build_engine(
    engine: str,
    model_dir: Optional[PathLike],
    rulebook: RulebookPaths,
    threads: Optional[int],
    review_threshold: Optional[float] = None,
) -> Tuple[Engine, bool]:
    """The engine to use, and whether ``auto`` fell back to the rules because the model could not load."""
    from .engines.rules_engine import RulesEngine

    rules = RulesEngine(rulebook=rulebook)
    if engine == "rules":
        return rules, False
    try:
        return _build_model_engine(model_dir, rules, threads, review_threshold), False
    except ModelUnavailable as exc:
        if engine == "onnx":
            raise
        warnings.warn(f"model unavailable, falling back to the rules engine: {exc}", RuntimeWarning, stacklevel=3)
        return rules, True


def _build_model_engine(
    model_dir: Optional[PathLike], rules: Engine, threads: Optional[int], review_threshold: Optional[float] = None
) -> Engine:
    from .model_manifest import default_model_dir

    if model_dir is None:
        model_dir = default_model_dir()
        if model_dir is None:
            raise ModelUnavailable(
                "no model directory given and no default model is installed "
                "(looked for sdk/bundled_models/default and <repo>/models/default)"
            )
    from .engines.hybrid import HybridEngine
    from .engines.onnx_engine import OnnxEngine

    return HybridEngine(OnnxEngine(Path(model_dir), threads=threads), rules, review_threshold=review_threshold)


class Checker:
    """Checks agent utterances for compliance and customer utterances for emotion.

    engine: "auto" (the model where it can run, else rules), "onnx" (the model,
    or an error) or "rules" (no onnxruntime or model files needed).
    rulebook: path (or list of paths) of YAML overlays on the default rulebook.
    review_threshold: a model result whose calibrated top score is below it (or where model and
    rules disagree) says ``needs_review``; None: the value chosen on dev in the model's manifest.
    """

    def __init__(
        self,
        engine: str = "auto",
        model_dir: Optional[PathLike] = None,
        rulebook: RulebookPaths = None,
        threads: Optional[int] = None,
        scorecard: Optional[PathLike] = None,
        review_threshold: Optional[float] = None,
    ) -> None:
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}, got {short_repr(engine)}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be a positive int or None, got {short_repr(threads)}")
        if review_threshold is not None and (
            isinstance(review_threshold, bool)
            or not isinstance(review_threshold, (int, float))
            or not 0.0 <= review_threshold <= 1.0
        ):
            raise ValueError(f"review_threshold must be a number in [0, 1] or None, got {short_repr(review_threshold)}")
        self.requested_engine = engine
        self._engine, self.fell_back = _build_engine(engine, model_dir, rulebook, threads, review_threshold)
        self._rulebook: RulebookPaths = rulebook
        self._auditor: Any = None
        self._scorecard: Any = None
        if scorecard is not None:  # a QA team's own score card: validated now, not at the first audit
            from .audit.auditor import load_checker_scorecard

            self._scorecard = load_checker_scorecard(scorecard, rulebook)

    @property
    def engine(self) -> str:
        """The engine that decides labels: "onnx" or "rules"."""
        return self._engine.name

    def check(self, utterance: str, context: ContextInput = None) -> CheckResult:
        """Compliance of one agent utterance; ``context``: a string, or the preceding turns
        (``[{"role": "customer"|"agent"|"event", "text": ...}, ...]``, oldest first)."""
        return check_results(self._engine, [check_input(utterance, context)], self.fell_back)[0]

    def check_batch(self, items: Iterable[CheckItem]) -> List[CheckResult]:
        inputs = [coerce_check_item(item, i) for i, item in enumerate(batch_items(items, "check_batch", "check"))]
        out: List[CheckResult] = []
        for start in range(0, len(inputs), CHUNK):
            out.extend(check_results(self._engine, inputs[start : start + CHUNK], self.fell_back))
        return out

    def emotion(self, text: str) -> EmotionResult:
        emotion_input(text, "text")  # a bad single text is named "text", not "item 0"
        return self.emotion_batch([text])[0]

    def emotion_batch(self, texts: Iterable[str]) -> List[EmotionResult]:
        items = batch_items(texts, "emotion_batch", "emotion")
        clean = [emotion_input(text, f"item {i}") for i, text in enumerate(items)]
        out: List[EmotionResult] = []
        for start in range(0, len(clean), CHUNK):
            chunk = clean[start : start + CHUNK]
            results = self._engine.emotion_batch([text for text, _ in chunk])
            out.extend(finish_emotion(result, notes, self.fell_back) for result, (_, notes) in zip(results, chunk))
        return out

    def audit(self, call: Any, channel: Optional[str] = None) -> Any:
        """Audit a whole call or chat session (../shared/API.md "Whole conversations")."""
        return self._call_auditor().audit(call, channel)

    def audit_batch(self, calls: Iterable[Any], channel: Optional[str] = None, errors: str = "raise") -> List[Any]:
        """One AuditResult per call, in order; errors="return" puts an AuditError in place of a bad call."""
        results: List[Any] = self._call_auditor().audit_batch(calls, channel, errors)
        return results

    def _call_auditor(self) -> Any:
        if self._auditor is None:
            from .audit.auditor import build_auditor

            self._auditor = build_auditor(self, self._rulebook, self._scorecard)
        return self._auditor


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


def check(utterance: str, context: ContextInput = None) -> CheckResult:
    return default_checker().check(utterance, context)


def check_batch(items: Iterable[CheckItem]) -> List[CheckResult]:
    return default_checker().check_batch(items)


def emotion(text: str) -> EmotionResult:
    return default_checker().emotion(text)


def emotion_batch(texts: Iterable[str]) -> List[EmotionResult]:
    return default_checker().emotion_batch(texts)


def audit(call: Any, channel: Optional[str] = None) -> Any:
    return default_checker().audit(call, channel)


def audit_batch(calls: Iterable[Any], channel: Optional[str] = None, errors: str = "raise") -> List[Any]:
    return default_checker().audit_batch(calls, channel, errors)
