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


# ---------------------------------------------------------------- a tiny ONNX model, without torch
REPO = __import__("pathlib").Path(__file__).resolve().parents[1]
VOCAB = REPO.parent / "shared" / "data" / "bert_base_chinese_vocab" / "vocab.txt"
if not VOCAB.is_file():  # the shipped base model carries the same bert-base-chinese vocabulary
    VOCAB = REPO / "models" / "base" / "csqa-bert-dialog" / "vocab.txt"
TINY_MAX_LEN = {"compliance": 48, "emotion": 32}


def tiny_classifier(path, vocab_size: int, num_labels: int, seed: int, hidden: int = 16) -> None:
    """A BERT-shaped classifier graph written with onnx's helper: token + segment embeddings,
    masked mean pooling, tanh, a linear head. Inputs input_ids / attention_mask / token_type_ids
    (int64, [batch, seq]), output logits [batch, labels] — what the SDK's runtime feeds and reads."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper, save

    rng = np.random.default_rng(seed)
    init = [numpy_helper.from_array(a.astype(np.float32), name) for name, a in (
        ("tok", rng.normal(0, 1, (vocab_size, hidden))), ("seg", rng.normal(0, 1, (2, hidden))),
        ("w", rng.normal(0, 1, (hidden, num_labels))), ("b", rng.normal(0, 0.1, (num_labels,))),
        ("one", np.ones((1,))))]
    init.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"))
    init.append(numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"))
    nodes = [
        helper.make_node("Gather", ["tok", "input_ids"], ["e_tok"]),
        helper.make_node("Gather", ["seg", "token_type_ids"], ["e_seg"]),
        helper.make_node("Add", ["e_tok", "e_seg"], ["emb"]),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "axis2"], ["mask3"]),
        helper.make_node("Mul", ["emb", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask3", "axis1"], ["count"], keepdims=0),
        helper.make_node("Max", ["count", "one"], ["count1"]),
        helper.make_node("Div", ["summed", "count1"], ["mean"]),
        helper.make_node("Tanh", ["mean"], ["pooled"]),
        helper.make_node("MatMul", ["pooled", "w"], ["scores"]),
        helper.make_node("Add", ["scores", "b"], ["logits"]),
    ]
    ints = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"])
            for n in ("input_ids", "attention_mask", "token_type_ids")]
    out = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", num_labels])]
    graph = helper.make_graph(nodes, "tiny_classifier", ints, out, init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every onnxruntime >= 1.14
    save(model, str(path))


def build_tiny_model_dir(root) -> "__import__('pathlib').Path":
    """A complete model directory (tokenizer, one tiny ONNX classifier per task, manifest) in ``root``."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from tokenizers.implementations import BertWordPieceTokenizer

    from sdk.model_manifest import write_manifest

    root.mkdir(parents=True, exist_ok=True)
    tokenizer = BertWordPieceTokenizer(str(VOCAB), lowercase=True)
    tokenizer.save(str(root / "tokenizer.json"))
    tasks = {}
    for seed, (task, labels) in enumerate((("compliance", COMPLIANCE_LABELS), ("emotion", EMOTION_LABELS))):
        tiny_classifier(root / f"{task}.int8.onnx", tokenizer.get_vocab_size(), len(labels), seed)
        tasks[task] = {"file": f"{task}.int8.onnx", "labels": list(labels), "max_len": TINY_MAX_LEN[task]}
    write_manifest(root, {"version": "test-tiny", "tokenizer": "tokenizer.json", "opset": 17, "tasks": tasks})
    return root


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny model directory the OnnxEngine loads like the shipped one (built without torch)."""
    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny_model") / "model")
