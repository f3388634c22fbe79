"""The fine-tuned classifiers, served by ONNX Runtime (int8).

Needs only onnxruntime, tokenizers and numpy, all imported lazily so that
``import sdk`` stays cheap and the rules engine works without them. Never
imports torch. The encoding functions here are also what training and export
use, so the model sees exactly the same token ids at training and run time.
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..labels import COMPLIANCE_LABELS, EMOTION_LABELS
from ..tasks import TASK_LABELS
from ..results import EmotionResult, Finding
from .base import CheckInput, Engine, ModelUnavailable, Verdict

# 16 measured faster per item than 32 or 64 on CPU (cache-resident activations) and keeps peak RSS low.
DEFAULT_BATCH_SIZE = 16
CANONICAL = TASK_LABELS
SESSION_DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)

_MODEL_MESSAGES = {
    "non_compliant": ("模型判定：用语不符合服务规范（如不耐烦、推诿、生硬拒绝或不当用语）", None, "high"),
    "missing_apology": ("模型判定：该情境需要致歉，回复中缺少致歉用语", "对不起／抱歉／让您久等了，……", "medium"),
    "missing_thanks": ("模型判定：该情境需要致谢或礼貌回应，回复中缺少", "谢谢您的配合／感谢您的来电／不客气，……", "low"),
}


# Full-width letters and digits ("ＡＢＣ１２３") -> ASCII, so they tokenize like their
# half-width twins; Chinese punctuation is left alone (the base model was pretrained on it).
_WIDTH = {code: code - 0xFEE0 for span in ((0xFF10, 0xFF19), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A))
          for code in range(span[0], span[1] + 1)}
_WIDTH[0x3000] = 0x20


@dataclass
class Encoded:
    """Token ids per item (special tokens included) and notes about truncation."""
    ids: List[List[int]]
    type_ids: List[List[int]]
    notes: List[List[str]]


def _special_ids(tokenizer) -> Tuple[int, int, int]:
    ids = [tokenizer.token_to_id(tok) for tok in ("[CLS]", "[SEP]", "[PAD]")]
    if any(i is None for i in ids):
        raise ModelUnavailable("tokenizer has no [CLS]/[SEP]/[PAD] tokens; expected a BERT WordPiece tokenizer")
    return ids[0], ids[1], ids[2]


def encode(tokenizer, texts: Sequence[str], contexts: Optional[Sequence[Optional[str]]], max_len: int) -> Encoded:
    """BERT inputs for single texts (``contexts`` None) or (context, text) pairs.

    Pairs are always ``[CLS] context [SEP] text [SEP]``; a missing context is
    empty. Over-long input keeps the start of the text and the *end* of the
    context (the words just before the reply), and says so in ``notes``.
    """
    cls_id, sep_id, _ = _special_ids(tokenizer)
    texts = [t.translate(_WIDTH) for t in texts]
    text_ids = [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
    out = Encoded([], [], [])
    if contexts is None:
        budget = max_len - 2
        for ids in text_ids:
            notes = [_truncation_note("text", len(ids), budget, max_len)] if len(ids) > budget else []
            ids = ids[:budget]
            out.ids.append([cls_id] + ids + [sep_id])
            out.type_ids.append([0] * (len(ids) + 2))
            out.notes.append(notes)
        return out
    ctx_ids = [e.ids for e in tokenizer.encode_batch([(c or "").translate(_WIDTH) for c in contexts],
                                                     add_special_tokens=False)]
    budget = max_len - 3
    for ids, ctx in zip(text_ids, ctx_ids):
        notes: List[str] = []
        if len(ids) + len(ctx) > budget:
            # The reply matters most; the context keeps at least a quarter of the budget (its tail).
            ctx_keep = min(len(ctx), max(budget - len(ids), budget // 4))
            text_keep = min(len(ids), budget - ctx_keep)
            if text_keep < len(ids):
                notes.append(_truncation_note("utterance", len(ids), text_keep, max_len))
            if ctx_keep < len(ctx):
                notes.append(f"context has {len(ctx)} tokens; the model read only its last {ctx_keep} "
                             f"(max_len={max_len})")
            ids, ctx = ids[:text_keep], ctx[len(ctx) - ctx_keep:]
        out.ids.append([cls_id] + ctx + [sep_id] + ids + [sep_id])
        out.type_ids.append([0] * (len(ctx) + 2) + [1] * (len(ids) + 1))
        out.notes.append(notes)
    return out


def _truncation_note(what: str, have: int, kept: int, max_len: int) -> str:
    return (f"{what} has {have} tokens; the model read only the first {kept} (max_len={max_len}); "
            "split long text into turns")


def pad_batch(ids: Sequence[Sequence[int]], type_ids: Sequence[Sequence[int]], pad_id: int):
    """numpy int64 input_ids, attention_mask, token_type_ids padded to the longest item."""
    import numpy as np

    width = max(len(row) for row in ids)
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    types = np.zeros((len(ids), width), dtype=np.int64)
    for i, (row, trow) in enumerate(zip(ids, type_ids)):
        input_ids[i, :len(row)] = row
        mask[i, :len(row)] = 1
        types[i, :len(trow)] = trow
    return input_ids, mask, types


def length_batches(lengths: Sequence[int], batch_size: int) -> List[List[int]]:
    """Indices grouped into batches of similar length, so little padding is computed."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def softmax(logits):
    import numpy as np

    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def _import_runtime():
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelUnavailable("onnxruntime is not installed; install the SDK with the 'onnx' extra "
                               "(pip install 'cs-qa-sdk[onnx]') or use engine='rules'") from exc
    try:
        import tokenizers
    except ImportError as exc:
        raise ModelUnavailable("tokenizers is not installed; install the SDK with the 'onnx' extra "
                               "(pip install 'cs-qa-sdk[onnx]') or use engine='rules'") from exc
    return onnxruntime, tokenizers


def default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def load_tokenizer(path: Path):
    _, tokenizers = _import_runtime()
    if not Path(path).is_file():
        raise ModelUnavailable(f"tokenizer file not found: {path}")
    try:
        tokenizer = tokenizers.Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception for malformed files
        raise ModelUnavailable(f"cannot read tokenizer {path}: {exc}") from exc
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def make_session(path: Path, threads: Optional[int] = None):
    """An ONNX Runtime CPU session with explicit thread counts (no oversubscription)."""
    ort, _ = _import_runtime()
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
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"],
                                    disabled_optimizers=list(SESSION_DISABLED_OPTIMIZERS))
    except Exception as exc:  # onnxruntime raises its own exception types per failure
        raise ModelUnavailable(f"ONNX Runtime cannot load {path}: {exc}") from exc


class WorkerPool:
    """Threads that run one call's batches side by side (ONNX Runtime releases the GIL in ``run``).

    Created on first use in each process: a child forked from a process that already ran batches
    inherits the executor but none of its threads, and would wait forever on its futures.
    """

    def __init__(self, workers: int):
        self.workers = workers
        self._pid: Optional[int] = None
        self._executor: Optional[ThreadPoolExecutor] = None

    def run_all(self, fn, items) -> None:
        if self._pid != os.getpid():
            self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="cs-qa-onnx")
            self._pid = os.getpid()
        for done in [self._executor.submit(fn, item) for item in items]:
            done.result()  # re-raises a worker's exception here


class TaskModel:
    """One classifier head: session + tokenizer + label order + max_len.

    With a ``pool`` (WorkerPool), the length-sorted batches of one call run ``pool.workers`` at a time,
    each on one core; a session may be run from several threads at once.
    """

    def __init__(self, session, tokenizer, labels: Sequence[str], max_len: int, pair: bool, task: str,
                 batch_size: int = DEFAULT_BATCH_SIZE, pool: Optional[WorkerPool] = None, input_format: str = "raw"):
        self.session, self.tokenizer, self.max_len, self.pair = session, tokenizer, max_len, pair
        self.input_format = input_format  # how texts and contexts become model input (sdk.dialogue)
        self.labels = tuple(labels)
        self.batch_size = batch_size
        self.pool = pool
        self.workers = pool.workers if pool is not None else 1
        self.pad_id = _special_ids(tokenizer)[2]
        self._input_names = {i.name for i in session.get_inputs()}
        # Columns of the model's output, reordered into the SDK's canonical label order.
        self.column_order = [self.labels.index(label) for label in CANONICAL[task]]

    def predict_logits(self, texts: Sequence[str], contexts: Optional[Sequence[Optional[str]]] = None):
        """Logits in the SDK's canonical label order, plus truncation notes per item."""
        import numpy as np

        from ..dialogue import model_inputs

        if self.pair and contexts is None:
            contexts = [None] * len(texts)
        texts, contexts = model_inputs(texts, contexts if self.pair else None, self.input_format)
        encoded = encode(self.tokenizer, texts, contexts, self.max_len)
        logits = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        # Smaller batches when there are few items, so every worker gets one (8 and 16 cost the same per item).
        size = max(1, min(self.batch_size, math.ceil(len(texts) / self.workers)))
        batches = length_batches([len(row) for row in encoded.ids], size)

        def run(batch):
            input_ids, mask, types = pad_batch([encoded.ids[i] for i in batch],
                                               [encoded.type_ids[i] for i in batch], self.pad_id)
            feeds = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": types}
            logits[batch] = self.session.run(None, {k: v for k, v in feeds.items() if k in self._input_names})[0]

        if self.pool is None or len(batches) == 1:
            for batch in batches:
                run(batch)
        else:
            self.pool.run_all(run, batches)
        return logits[:, self.column_order], encoded.notes

    def predict_proba(self, texts, contexts=None):
        logits, notes = self.predict_logits(texts, contexts)
        return softmax(logits), notes


class OnnxEngine(Engine):
    """Compliance and emotion from the fine-tuned int8 models in ``model_dir``.

    Raises ModelUnavailable (naming the missing package, path or file) when the
    runtime is missing or the directory does not verify against its manifest.
    """

    name = "onnx"

    def __init__(self, model_dir, threads: Optional[int] = None, batch_size: int = DEFAULT_BATCH_SIZE):
        from ..model_manifest import load_manifest

        _import_runtime()
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be a positive int or None, got {threads!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.model_dir = Path(model_dir)
        self.manifest = load_manifest(self.model_dir)
        self.threads = threads or default_threads()
        tokenizer = load_tokenizer(self.manifest.tokenizer_path)
        # Data parallelism, not intra-op threads: each session runs on one core and the batches of a
        # call are spread over `threads` workers. As fast as intra-op threads on an idle CPU (1-7%
        # faster, benchmarks/RESULTS.md) and free of their spin-or-sleep trade-off on a shared one.
        self.pool = WorkerPool(self.threads) if self.threads > 1 else None
        self.models: Dict[str, TaskModel] = {}
        for task, spec in self.manifest.tasks.items():
            session = make_session(self.model_dir / spec.file, 1)
            input_format = self.manifest.data["tasks"][task].get("input_format", "raw")
            self.models[task] = TaskModel(session, tokenizer, spec.labels, spec.max_len, spec.inputs == "pair",
                                          task, batch_size, pool=self.pool, input_format=input_format)
        self.ensemble = load_ensemble(self.manifest, self.models)

    def task_proba(self, task: str, texts: Sequence[str], contexts=None):
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
            raise ModelUnavailable(f"model directory {self.model_dir} has no {task!r} model; "
                                   f"it has {', '.join(sorted(self.models)) or 'none'}")
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
            results.append(Verdict(label=label, scores=scores, engine=self.name,
                                   findings=model_findings(label, scores[label]), warnings=list(note)))
        return results

    def emotion_batch(self, texts: Sequence[str]) -> List[EmotionResult]:
        if not texts:
            return []
        probs, notes = self.task_proba("emotion", list(texts))
        return [EmotionResult(label=EMOTION_LABELS[int(row.argmax())],
                              scores={label: float(p) for label, p in zip(EMOTION_LABELS, row)},
                              engine=self.name, warnings=list(note))
                for row, note in zip(probs, notes)]


def load_ensemble(manifest, models: Dict[str, TaskModel]) -> Dict[str, tuple]:
    """task -> (NgramModel, weight, row encoding) for the manifest's ensemble members with a weight > 0.

    The member files must be listed (so hash-verified) in the manifest; a broken member makes the
    whole model unavailable rather than silently changing what the SDK predicts.
    """
    from .ngram_engine import NgramModel

    out = {}
    for task, member in (manifest.data.get("ensemble") or {}).items():
        weight = member.get("weight", 0) if isinstance(member, dict) else None
        if not isinstance(weight, (int, float)) or not 0 <= weight <= 1:
            raise ModelUnavailable(f"manifest ensemble entry for {task!r} needs a weight in [0, 1], got {member!r:.120}")
        if weight == 0 or task not in models:
            continue
        stem = str(member.get("member", ""))
        for suffix in (".json", ".f16"):
            if stem + suffix not in manifest.data["files"]:
                raise ModelUnavailable(f"ensemble member file {manifest.model_dir / (stem + suffix)} is not listed "
                                       "(with its sha256) in manifest.json")
        from ..dialogue import NGRAM_ENCODINGS

        encoding = member.get("encoding", "pair")  # how rows are built (sdk.dialogue.ngram_rows)
        if encoding not in NGRAM_ENCODINGS:
            raise ModelUnavailable(f"manifest ensemble entry for {task!r} has encoding {encoding!r}; expected one "
                                   f"of {', '.join(NGRAM_ENCODINGS)}")
        try:
            out[task] = (NgramModel(manifest.model_dir / stem), float(weight), encoding)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelUnavailable(f"cannot read ensemble member {manifest.model_dir / stem}: {exc}") from exc
        if set(out[task][0].labels) != set(CANONICAL[task]):
            raise ModelUnavailable(f"ensemble member {stem} labels {out[task][0].labels} do not match the "
                                   f"{task} labels {list(CANONICAL[task])}")
    return out


def model_findings(label: str, probability: float) -> List[Finding]:
    """The model's decision as a Finding, so results explain themselves like rule hits do."""
    if label not in _MODEL_MESSAGES:
        return []
    message, suggestion, severity = _MODEL_MESSAGES[label]
    return [Finding(rule_id=f"model.{label}", label=label, start=None, end=None, text=None, source="onnx",
                    message=f"{message}（置信度 {probability:.2f}）", suggestion=suggestion, severity=severity)]
