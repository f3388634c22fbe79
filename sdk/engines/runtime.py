"""ONNX Runtime sessions, the tokenizer file, the worker pool and one task's classifier.

onnxruntime and tokenizers are imported lazily (``import sdk`` stays cheap and the rules engine
works without them); a missing one is a ModelUnavailable naming the extra to install.
"""

from __future__ import annotations

import math
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, List, Optional, Sequence, Tuple

from ..tasks import TASK_LABELS

if TYPE_CHECKING:
    import numpy as np
from .base import ModelUnavailable
from .encoder import encode, length_batches, pad_batch, softmax, special_ids

# One item per session run: the int8 models quantise activations with one scale per run, so items
# sharing a run changed each other's scores (400 of 400 differed from single calls, 1 label in 1,000).
# Alone, an item's result never depends on the batch it came in. Measured as fast per item as 16 on
# the shipped 2-layer int8 models (1,087 vs 1,089 items/s, one thread); the worker pool still runs
# items side by side.
DEFAULT_BATCH_SIZE = 1
SESSION_DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)


def import_runtime() -> Tuple[Any, Any]:
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelUnavailable(
            "onnxruntime is not installed; install the SDK with the 'onnx' extra "
            "(pip install 'cs-qa-sdk[onnx]') or use engine='rules'"
        ) from exc
    try:
        import tokenizers
    except ImportError as exc:
        raise ModelUnavailable(
            "tokenizers is not installed; install the SDK with the 'onnx' extra "
            "(pip install 'cs-qa-sdk[onnx]') or use engine='rules'"
        ) from exc
    return onnxruntime, tokenizers


def default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def load_tokenizer(path: Path) -> Any:
    _, tokenizers = import_runtime()
    if not Path(path).is_file():
        raise ModelUnavailable(f"tokenizer file not found: {path}")
    try:
        tokenizer = tokenizers.Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception for malformed files
        raise ModelUnavailable(f"cannot read tokenizer {path}: {exc}") from exc
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def make_session(path: Path, threads: Optional[int] = None) -> Any:
    """An ONNX Runtime CPU session with explicit thread counts (no oversubscription)."""
    ort, _ = import_runtime()
    if not Path(path).is_file():
        raise ModelUnavailable(f"ONNX model file not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # Idle worker threads sleep instead of spinning: on a shared CPU spinning threads starve the
    # other process (measured: 2 spinning threads ran 2.3x slower than 1 under load; not spinning, no loss).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        # Keep Add + LayerNormalization unfused: the fused CPU SkipLayerNormalization kernel is 4-5x slower
        # at this hidden size (see training/export.py, UNFUSED).
        return ort.InferenceSession(
            str(path),
            sess_options=options,
            providers=["CPUExecutionProvider"],
            disabled_optimizers=list(SESSION_DISABLED_OPTIMIZERS),
        )
    except Exception as exc:  # onnxruntime raises its own exception types per failure
        raise ModelUnavailable(f"ONNX Runtime cannot load {path}: {exc}") from exc


class WorkerPool:
    """Threads that run one call's batches side by side (ONNX Runtime releases the GIL in ``run``).

    The executor is created on first use, under a lock (concurrent first calls share one), and
    dropped in a forked child: the child inherits the executor but none of its threads, and would
    wait forever on its futures.
    """

    def __init__(self, workers: int):
        self.workers = workers
        self._lock = threading.Lock()
        self._executor: Optional[ThreadPoolExecutor] = None
        _POOLS.add(self)

    def executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="cs-qa-onnx")
            return self._executor

    def run_all(self, fn: Callable[[Any], None], items: Iterable[Any]) -> None:
        executor = self.executor()
        for done in [executor.submit(fn, item) for item in items]:
            done.result()  # re-raises a worker's exception here

    def _after_fork(self) -> None:
        self._lock = threading.Lock()  # it may have been held by a thread that does not exist here
        self._executor = None


_POOLS: "weakref.WeakSet[WorkerPool]" = weakref.WeakSet()


def _reset_pools_after_fork() -> None:
    for pool in list(_POOLS):
        pool._after_fork()


if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork
    os.register_at_fork(after_in_child=_reset_pools_after_fork)


class TaskModel:
    """One classifier head: session + tokenizer + label order + max_len.

    With a ``pool`` (WorkerPool), the length-sorted batches of one call run ``pool.workers`` at a time,
    each on one core; a session may be run from several threads at once.
    """

    def __init__(
        self,
        session: Any,
        tokenizer: Any,
        labels: Sequence[str],
        max_len: int,
        pair: bool,
        task: str,
        batch_size: int = DEFAULT_BATCH_SIZE,
        pool: Optional[WorkerPool] = None,
        input_format: str = "raw",
    ) -> None:
        self.session, self.tokenizer, self.max_len, self.pair = session, tokenizer, max_len, pair
        self.input_format = input_format  # how texts and contexts become model input (sdk.dialogue)
        self.labels = tuple(labels)
        self.batch_size = batch_size
        self.pool = pool
        self.workers = pool.workers if pool is not None else 1
        self.pad_id = special_ids(tokenizer)[2]
        self._input_names = {i.name for i in session.get_inputs()}
        # how to build a fresh session in a forked child (set by the engine; None: keep this one)
        self.rebuild: Optional[Callable[[], Any]] = None
        self._pid = os.getpid()
        # Columns of the model's output, reordered into the SDK's canonical label order.
        self.column_order = [self.labels.index(label) for label in TASK_LABELS[task]]

    def predict_logits(
        self, texts: Sequence[str], contexts: Optional[Sequence[Any]] = None
    ) -> Tuple["np.ndarray", List[List[str]]]:
        """Logits in the SDK's canonical label order, plus truncation notes per item."""
        import numpy as np

        from ..dialogue import model_inputs

        if self.pair and contexts is None:
            contexts = [None] * len(texts)
        self._after_fork()
        texts, contexts = model_inputs(texts, contexts if self.pair else None, self.input_format)
        encoded = encode(self.tokenizer, texts, contexts, self.max_len)
        logits = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        # Smaller batches when there are few items, so every worker gets one (8 and 16 cost the same per item).
        size = max(1, min(self.batch_size, math.ceil(len(texts) / self.workers)))
        batches = length_batches([len(row) for row in encoded.ids], size)

        def run(batch: List[int]) -> None:
            input_ids, mask, types = pad_batch(
                [encoded.ids[i] for i in batch], [encoded.type_ids[i] for i in batch], self.pad_id
            )
            feeds = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": types}
            logits[batch] = self.session.run(None, {k: v for k, v in feeds.items() if k in self._input_names})[0]

        if self.pool is None or len(batches) == 1:
            for batch in batches:
                run(batch)
        else:
            self.pool.run_all(run, batches)
        return logits[:, self.column_order], encoded.notes

    def _after_fork(self) -> None:
        """In a forked child, run on a session of its own: the inherited one may hold locks taken by a
        parent thread that was inside ``run`` at the fork, which no thread here will ever release."""
        if self._pid != os.getpid() and self.rebuild is not None:
            self.session = self.rebuild()
            self._pid = os.getpid()

    def predict_proba(
        self, texts: Sequence[str], contexts: Optional[Sequence[Any]] = None
    ) -> Tuple["np.ndarray", List[List[str]]]:
        logits, notes = self.predict_logits(texts, contexts)
        return softmax(logits), notes
