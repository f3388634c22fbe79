"""The fine-tuned classifiers, served by ONNX Runtime (int8): the engine.

Its parts live in small modules: ``encoder`` (text -> token ids, shared with training),
``runtime`` (sessions, the worker pool, one task's classifier), ``sdk.model_manifest`` (the
verified model directory) and ``ngram_engine`` (the n-gram ensemble member). Never imports torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

from ..labels import COMPLIANCE_LABELS, EMOTION_LABELS
from ..results import EmotionResult, Finding
from ..tasks import TASK_LABELS

if TYPE_CHECKING:
    import numpy as np

from .base import CheckInput, Engine, ModelUnavailable, Verdict
from .encoder import Encoded, encode, length_batches, pad_batch, softmax
from .ngram_engine import load_ensemble
from .runtime import (
    DEFAULT_BATCH_SIZE,
    SESSION_DISABLED_OPTIMIZERS,
    TaskModel,
    WorkerPool,
    default_threads,
    import_runtime,
    load_tokenizer,
    make_session,
)

# Re-exported: training, export and the benchmarks import these from here.
__all__ = [
    "OnnxEngine",
    "model_findings",
    "Encoded",
    "encode",
    "pad_batch",
    "length_batches",
    "softmax",
    "TaskModel",
    "WorkerPool",
    "load_tokenizer",
    "make_session",
    "default_threads",
    "load_ensemble",
    "DEFAULT_BATCH_SIZE",
    "SESSION_DISABLED_OPTIMIZERS",
    "CANONICAL",
]
CANONICAL = TASK_LABELS

_MODEL_MESSAGES: Dict[str, Tuple[str, Optional[str], str]] = {
    "non_compliant": ("模型判定：用语不符合服务规范（如不耐烦、推诿、生硬拒绝或不当用语）", None, "high"),
    "missing_apology": ("模型判定：该情境需要致歉，回复中缺少致歉用语", "对不起／抱歉／让您久等了，……", "medium"),
    "missing_thanks": (
        "模型判定：该情境需要致谢或礼貌回应，回复中缺少",
        "谢谢您的配合／感谢您的来电／不客气，……",
        "low",
    ),
}


class OnnxEngine(Engine):
    """Compliance and emotion from the fine-tuned int8 models in ``model_dir``.

    Raises ModelUnavailable (naming the missing package, path or file) when the
    runtime is missing or the directory does not verify against its manifest.
    """

    name = "onnx"

    def __init__(
        self,
        model_dir: Union[str, "os.PathLike[str]"],
        threads: Optional[int] = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:

        import_runtime()
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be a positive int or None, got {threads!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.model_dir = Path(model_dir)
        self.threads = threads or default_threads()
        try:
            self._load(batch_size)
            self._canary()
        except ModelUnavailable:
            raise
        except Exception as exc:  # whatever else a model directory does wrong, `auto` must fall back
            raise ModelUnavailable(
                f"cannot load model directory {self.model_dir}: {type(exc).__name__}: {str(exc)[:300]}"
            ) from exc

    def _load(self, batch_size: int) -> None:
        from ..model_manifest import load_manifest

        self.manifest = load_manifest(self.model_dir)
        tokenizer = load_tokenizer(self.manifest.tokenizer_path)
        # Data parallelism, not intra-op threads: each session runs on one core and the batches of a
        # call are spread over `threads` workers. As fast as intra-op threads on an idle CPU (1-7%
        # faster, benchmarks/RESULTS.md) and free of their spin-or-sleep trade-off on a shared one.
        self.pool = WorkerPool(self.threads) if self.threads > 1 else None
        self.models: Dict[str, TaskModel] = {}
        for task, spec in self.manifest.tasks.items():
            session = make_session(self.model_dir / spec.file, 1)
            path = self.model_dir / spec.file
            input_format = self.manifest.data["tasks"][task].get("input_format", "raw")
            self.models[task] = TaskModel(
                session,
                tokenizer,
                spec.labels,
                spec.max_len,
                spec.inputs == "pair",
                task,
                batch_size,
                pool=self.pool,
                input_format=input_format,
            )
            self.models[task].rebuild = lambda path=path: make_session(path, 1)
        self.ensemble = load_ensemble(self.manifest, self.models)

    def _canary(self) -> None:
        """Run every model once at load, on a short input and on one of its full ``max_len``: a model
        file that does not fit its manifest (another task's model, a max_len its positions cannot
        take, non-finite output) fails here, as ModelUnavailable, not on the first user call."""
        import numpy as np

        for task, model in self.models.items():
            texts = ["您好", "好" * model.max_len]
            contexts = ["谢谢", "好" * model.max_len] if model.pair else None
            probs, _ = self.task_proba(task, texts, contexts)
            if probs.shape != (2, len(TASK_LABELS[task])) or not np.all(np.isfinite(probs)):
                raise ModelUnavailable(
                    f"model directory {self.model_dir}: the {task!r} model gives output of shape {probs.shape} "
                    f"(finite: {bool(np.all(np.isfinite(probs)))}); expected ({len(texts)}, {len(TASK_LABELS[task])})"
                )

    def task_proba(
        self, task: str, texts: Sequence[str], contexts: Optional[Sequence[Any]] = None
    ) -> Tuple["np.ndarray", List[List[str]]]:
        """Probabilities in canonical label order: the BERT head, blended with the manifest's
        n-gram ensemble member where ``training.ensemble`` chose a weight > 0 on dev."""
        probs, notes = self.model(task).predict_proba(texts, contexts)
        if task in self.ensemble:
            from ..dialogue import ngram_rows

            member, weight, encoding = self.ensemble[task]
            rows = ngram_rows(texts, contexts, encoding)
            probs = (1 - weight) * probs + weight * member.predict_proba_in(rows, CANONICAL[task])
        return probs, notes

    def model(self, task: str) -> TaskModel:
        if task not in self.models:
            raise ModelUnavailable(
                f"model directory {self.model_dir} has no {task!r} model; "
                f"it has {', '.join(sorted(self.models)) or 'none'}"
            )
        return self.models[task]

    def verdict_batch(self, items: Sequence[CheckInput]) -> List[Verdict]:
        if not items:
            return []
        # The parsed context (all preceding turns); each model's input format reads what it needs.
        probs, notes = self.task_proba("compliance", [i.utterance for i in items], [i.parsed for i in items])
        results = []
        for row, note in zip(probs, notes):
            scores = {label: float(p) for label, p in zip(COMPLIANCE_LABELS, row)}
            label = COMPLIANCE_LABELS[int(row.argmax())]
            results.append(
                Verdict(
                    label=label,
                    scores=scores,
                    engine=self.name,
                    findings=model_findings(label, scores[label]),
                    warnings=list(note),
                )
            )
        return results

    def emotion_batch(self, texts: Sequence[str]) -> List[EmotionResult]:
        if not texts:
            return []
        probs, notes = self.task_proba("emotion", list(texts))
        return [
            EmotionResult(
                label=EMOTION_LABELS[int(row.argmax())],
                scores={label: float(p) for label, p in zip(EMOTION_LABELS, row)},
                engine=self.name,
                warnings=list(note),
            )
            for row, note in zip(probs, notes)
        ]


def model_findings(label: str, probability: float) -> List[Finding]:
    """The model's decision as a Finding, so results explain themselves like rule hits do."""
    if label not in _MODEL_MESSAGES:
        return []
    message, suggestion, severity = _MODEL_MESSAGES[label]
    return [
        Finding(
            rule_id=f"model.{label}",
            label=label,
            start=None,
            end=None,
            text=None,
            source="onnx",
            message=f"{message}（置信度 {probability:.2f}）",
            suggestion=suggestion,
            severity=severity,
        )
    ]
