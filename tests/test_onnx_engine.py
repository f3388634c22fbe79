"""OnnxEngine on a tiny model built with onnx's helper (no torch): loading errors, batching, truncation;
parity with PyTorch on a random tiny BERT exported to int8 (slow, needs torch)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("tokenizers")

from sdk.engines.base import CheckInput, ModelUnavailable, Verdict  # noqa: E402
from sdk.labels import COMPLIANCE_LABELS, EMOTION_LABELS  # noqa: E402
from sdk.model_manifest import load_manifest, write_manifest  # noqa: E402
from conftest import FixedEngine, make_finding, make_verdict  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
VOCAB = REPO.parent / "shared" / "data" / "bert_base_chinese_vocab" / "vocab.txt"
if not VOCAB.is_file():  # the shipped base model carries the same bert-base-chinese vocabulary
    VOCAB = Path(__file__).resolve().parents[1] / "models" / "base" / "csqa-bert-dialog" / "vocab.txt"
MAX_LEN = {"compliance": 48, "emotion": 32}


def build_model_dir(root: Path) -> Path:
    """Random tiny BERT heads for both tasks -> fp32 ONNX -> optimised -> int8, plus a manifest."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tokenizers.implementations import BertWordPieceTokenizer
    from transformers import BertConfig, BertForSequenceClassification

    from training.export import export_fp32, optimize_graph, quantize, QuantSettings

    out = root / "model"
    out.mkdir(parents=True)
    BertWordPieceTokenizer(str(VOCAB), lowercase=True).save(str(out / "tokenizer.json"))
    tasks = {}
    for seed, (task, labels) in enumerate((("compliance", COMPLIANCE_LABELS), ("emotion", EMOTION_LABELS))):
        torch.manual_seed(seed)
        config = BertConfig(vocab_size=21128, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=128, max_position_embeddings=64, num_labels=len(labels),
                            id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)},
                            attn_implementation="eager")
        model = BertForSequenceClassification(config).eval()
        model.save_pretrained(root / f"torch-{task}")
        export_fp32(model, root / f"{task}.raw.onnx", 17)
        optimize_graph(root / f"{task}.raw.onnx", root / f"{task}.fp32.onnx", config)
        quantize(root / f"{task}.fp32.onnx", out / f"{task}.int8.onnx", QuantSettings())
        tasks[task] = {"file": f"{task}.int8.onnx", "labels": list(labels), "max_len": MAX_LEN[task]}
    write_manifest(out, {"version": "test", "tokenizer": "tokenizer.json", "opset": 17, "tasks": tasks})
    return out


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir):
    return tiny_model_dir


@pytest.fixture(scope="module")
def torch_model_dir(tmp_path_factory):
    return build_model_dir(tmp_path_factory.mktemp("onnx_engine"))


@pytest.fixture(scope="module")
def engine(model_dir):
    from sdk.engines.onnx_engine import OnnxEngine

    return OnnxEngine(model_dir, threads=1, batch_size=4)


def copy_of(model_dir, tmp_path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(model_dir, dst)
    return dst


# ---------------------------------------------------------------- loading errors

def test_missing_directory_names_the_path(tmp_path):
    from sdk.engines.onnx_engine import OnnxEngine

    missing = tmp_path / "nowhere"
    with pytest.raises(ModelUnavailable, match=f"model directory not found: {missing}"):
        OnnxEngine(missing)


def test_missing_manifest_names_the_path(tmp_path):
    from sdk.engines.onnx_engine import OnnxEngine

    with pytest.raises(ModelUnavailable, match=f"no manifest.json in model directory {tmp_path}"):
        OnnxEngine(tmp_path)


def test_missing_model_file_names_the_path(model_dir, tmp_path):
    from sdk.engines.onnx_engine import OnnxEngine

    d = copy_of(model_dir, tmp_path)
    (d / "emotion.int8.onnx").unlink()
    with pytest.raises(ModelUnavailable, match=f"missing: {d / 'emotion.int8.onnx'}"):
        OnnxEngine(d)


def test_tampered_model_names_the_file(model_dir, tmp_path):
    from sdk.engines.onnx_engine import OnnxEngine

    d = copy_of(model_dir, tmp_path)
    data = bytearray((d / "compliance.int8.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (d / "compliance.int8.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelUnavailable, match="sha256 mismatch for model file .*compliance.int8.onnx"):
        OnnxEngine(d)


def test_missing_onnxruntime_is_model_unavailable(model_dir, monkeypatch):
    from sdk.engines.onnx_engine import OnnxEngine

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` raise ImportError
    with pytest.raises(ModelUnavailable, match="onnxruntime is not installed"):
        OnnxEngine(model_dir)


def test_missing_tokenizers_is_model_unavailable(model_dir, monkeypatch):
    from sdk.engines.onnx_engine import OnnxEngine

    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with pytest.raises(ModelUnavailable, match="tokenizers is not installed"):
        OnnxEngine(model_dir)


def test_bad_threads_value(model_dir):
    from sdk.engines.onnx_engine import OnnxEngine

    with pytest.raises(ValueError, match="threads must be a positive int"):
        OnnxEngine(model_dir, threads=0)


# ---------------------------------------------------------------- predictions

def test_results_have_the_public_shape(engine):
    [r] = engine.check_batch([CheckInput("好的，我帮您查一下。", "[客户已等待约2分钟] 喂？还有人吗？")])
    assert r.engine == "onnx" and r.label in COMPLIANCE_LABELS
    assert list(r.scores) == list(COMPLIANCE_LABELS)
    assert abs(sum(r.scores.values()) - 1) < 1e-5 and max(r.scores, key=r.scores.get) == r.label
    assert all(f.source == "onnx" for f in r.findings)
    json.dumps(r.to_dict(), ensure_ascii=False)
    [e] = engine.emotion_batch(["什么破公司！我要投诉你们！"])
    assert e.engine == "onnx" and list(e.scores) == list(EMOTION_LABELS)
    assert engine.check_batch([]) == [] and engine.emotion_batch([]) == []


def test_batches_match_single_calls_in_order(engine):
    items = [CheckInput("您好" * n, "客户说：" + "嗯" * (7 - n) if n % 2 else None) for n in range(1, 12)]
    batch = engine.check_batch(items)
    singles = [engine.check_batch([item])[0] for item in items]
    for b, s, item in zip(batch, singles, items):
        assert b.utterance == item.utterance and b.context == item.context
        np.testing.assert_allclose(list(b.scores.values()), list(s.scores.values()), atol=2e-3)
    texts = ["好" * n for n in (9, 1, 5, 3, 12, 2)]
    for b, s in zip(engine.emotion_batch(texts), [engine.emotion_batch([t])[0] for t in texts]):
        np.testing.assert_allclose(list(b.scores.values()), list(s.scores.values()), atol=2e-3)


@pytest.mark.slow
def test_engine_matches_pytorch(torch_model_dir):
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForSequenceClassification

    from sdk.engines.onnx_engine import OnnxEngine, encode, pad_batch

    model_dir = torch_model_dir
    engine = OnnxEngine(model_dir, threads=1, batch_size=4)

    texts = ["谢谢你啊", "怎么还没到", "什么破公司！我要投诉你们！", "我急着用，什么时候能好啊"]
    model = AutoModelForSequenceClassification.from_pretrained(model_dir.parent / "torch-emotion").eval()
    enc = encode(engine.models["emotion"].tokenizer, texts, None, MAX_LEN["emotion"])
    ids, mask, types = (torch.from_numpy(a) for a in pad_batch(enc.ids, enc.type_ids, 0))
    with torch.no_grad():
        expected = torch.softmax(model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits, -1)
    got = np.array([list(r.scores.values()) for r in engine.emotion_batch(texts)])
    np.testing.assert_allclose(got, expected.numpy(), atol=0.02)  # int8 vs fp32 probabilities


def test_truncation_is_reported(engine):
    [r] = engine.check_batch([CheckInput("您好" * 100, None)])
    assert any("utterance has 200 tokens; the model read only the first 45" in w for w in r.warnings)
    [e] = engine.emotion_batch(["好" * 40])
    assert any("text has 40 tokens" in w for w in e.warnings)
    [ok] = engine.check_batch([CheckInput("您好", "你好")])
    assert ok.warnings == []


def test_threads_are_explicit(engine):
    opts = engine.models["compliance"].session.get_session_options()
    assert opts.intra_op_num_threads == 1 and opts.inter_op_num_threads == 1


def test_workers_spread_batches_and_keep_order(model_dir, engine):
    from sdk.engines.onnx_engine import OnnxEngine

    # threads=3: batches run on 3 one-thread sessions at once; results must be those of one thread, in order.
    parallel = OnnxEngine(model_dir, threads=3, batch_size=4)
    assert parallel.models["compliance"].session.get_session_options().intra_op_num_threads == 1
    items = [CheckInput("您好" * (n % 7 + 1), "客户说：" + "嗯" * (n % 5) if n % 3 else None) for n in range(29)]
    for got, want in zip(parallel.check_batch(items), engine.check_batch(items)):
        assert got.utterance == want.utterance and got.label == want.label
        np.testing.assert_allclose(list(got.scores.values()), list(want.scores.values()), atol=1e-6)
    texts = ["好" * n for n in range(1, 20)]
    for got, want in zip(parallel.emotion_batch(texts), engine.emotion_batch(texts)):
        np.testing.assert_allclose(list(got.scores.values()), list(want.scores.values()), atol=1e-6)


def test_worker_errors_reach_the_caller(model_dir, monkeypatch):
    from sdk.engines.onnx_engine import OnnxEngine

    parallel = OnnxEngine(model_dir, threads=2, batch_size=2)
    model = parallel.models["emotion"]

    class Broken:
        def run(self, *a, **k):
            raise RuntimeError("session failed")

    monkeypatch.setattr(model, "session", Broken())
    with pytest.raises(RuntimeError, match="session failed"):
        parallel.emotion_batch(["好"] * 6)


@pytest.mark.skipif(sys.platform == "win32", reason="no fork on Windows")
def test_workers_survive_a_fork(model_dir):
    # QA tools often load the model once and fork workers; the child must not wait on the parent's threads.
    import multiprocessing

    code = ("import multiprocessing as mp, sys; from sdk.engines.onnx_engine import OnnxEngine; "
            "from sdk.engines.base import CheckInput\n"
            f"e = OnnxEngine({str(model_dir)!r}, threads=2, batch_size=2)\n"
            "items = [CheckInput('您好' * n, None) for n in range(1, 9)]\n"
            "want = [r.label for r in e.check_batch(items)]\n"
            "def child(q): q.put([r.label for r in e.check_batch(items)])\n"
            "if __name__ == '__main__':\n"
            "    ctx = mp.get_context('fork'); q = ctx.Queue(); p = ctx.Process(target=child, args=(q,)); p.start()\n"
            "    got = q.get(timeout=20); p.join(10); sys.exit(0 if got == want else 3)\n")
    assert "fork" in multiprocessing.get_all_start_methods()
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert run.returncode == 0, run.stderr[-2000:]


def test_engine_never_imports_torch(model_dir):
    code = ("import sys; from sdk.engines.onnx_engine import OnnxEngine; from sdk.engines.base import CheckInput; "
            f"e = OnnxEngine({str(model_dir)!r}, threads=1); e.check_batch([CheckInput('您好', None)]); "
            "e.emotion_batch(['好']); bad = [m for m in ('torch', 'transformers') if m in sys.modules]; "
            "assert not bad, bad")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_manifest_label_order_is_respected(model_dir, tmp_path):
    """A head whose manifest lists labels in another order still reports canonical names correctly."""
    from sdk.engines.onnx_engine import OnnxEngine

    d = copy_of(model_dir, tmp_path)
    manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    manifest["tasks"]["emotion"]["labels"] = list(reversed(EMOTION_LABELS))
    write_manifest(d, manifest)
    original = OnnxEngine(model_dir, threads=1).emotion_batch(["太好了"])[0].scores
    swapped = OnnxEngine(d, threads=1).emotion_batch(["太好了"])[0].scores
    for a, b in zip(EMOTION_LABELS, reversed(EMOTION_LABELS)):
        assert swapped[a] == pytest.approx(original[b])
    assert load_manifest(d).tasks["emotion"].labels[0] == "angry"


# ---------------------------------------------------------------- hybrid

def _check(label, engine, findings=(), warnings=()):
    return make_verdict(label, engine, findings, warnings)


def _finding(label, severity, source="rules", start=0):
    return make_finding(label, severity, source, start)


def test_hybrid_model_decides_and_rules_explain():
    from sdk.engines.hybrid import HybridEngine

    model = _check("missing_apology", "onnx", [_finding("missing_apology", "medium", "onnx", None)], ["w1"])
    rules = _check("missing_thanks", "rules", [_finding("missing_thanks", "low")], ["w1", "w2"])
    [r] = HybridEngine(FixedEngine("onnx", model), FixedEngine("rules", rules)).check_batch([CheckInput("好的")])
    assert (r.label, r.engine) == ("missing_apology", "onnx")
    assert [f.source for f in r.findings] == ["onnx", "rules"]  # supporting findings first
    assert r.warnings == ["w1", "w2"]


def test_hybrid_high_severity_forbidden_wording_overrides():
    from sdk.engines.hybrid import HybridEngine

    model = _check("standard", "onnx")
    rules = _check("non_compliant", "rules", [_finding("non_compliant", "high")])
    [r] = HybridEngine(FixedEngine("onnx", model), FixedEngine("rules", rules),
                       policy="forbidden_high").check_batch([CheckInput("不行")])
    assert (r.label, r.engine) == ("non_compliant", "rules")
    assert r.scores == rules.scores
    # A medium-severity hit does not override under this policy, and never under "model".
    medium = _check("non_compliant", "rules", [_finding("non_compliant", "medium")])
    [r] = HybridEngine(FixedEngine("onnx", model), FixedEngine("rules", medium),
                       policy="forbidden_high").check_batch([CheckInput("不行")])
    assert (r.label, r.engine) == ("standard", "onnx")
    [r] = HybridEngine(FixedEngine("onnx", model), FixedEngine("rules", rules),
                       policy="model").check_batch([CheckInput("不行")])
    assert r.engine == "onnx"


def test_hybrid_emotion_keeps_agreeing_cues_only():
    from sdk.engines.hybrid import HybridEngine
    from sdk.results import EmotionResult

    scores = {lab: 0.2 for lab in EMOTION_LABELS}
    model = EmotionResult("angry", scores, "onnx")
    rules = EmotionResult("dissatisfied", scores, "rules",
                          cues=[_finding("angry", "high"), _finding("dissatisfied", "low")])
    [e] = HybridEngine(FixedEngine("onnx", None, model), FixedEngine("rules", None, rules)).emotion_batch(["x"])
    assert e.label == "angry" and e.engine == "onnx" and [c.label for c in e.cues] == ["angry"]


def test_hybrid_rejects_unknown_policy():
    from sdk.engines.hybrid import HybridEngine

    with pytest.raises(ValueError, match="policy must be one of model, forbidden_high"):
        HybridEngine(None, None, policy="vote")


def test_checker_uses_the_model(model_dir):
    import sdk

    checker = sdk.Checker(engine="onnx", model_dir=model_dir, threads=1)
    assert checker.engine == "onnx"
    r = checker.check("好的，我帮您查一下。", context="[客户已等待约2分钟] 喂？还有人吗？")
    assert r.label in COMPLIANCE_LABELS and r.engine in ("onnx", "rules")
    assert r.emotion is not None and r.emotion.engine == "onnx"


def test_hybrid_blend_averages_scores():
    from sdk.engines.hybrid import HybridEngine

    model = _check("standard", "onnx")  # standard 0.7, others 0.1
    rules = _check("non_compliant", "rules", [_finding("non_compliant", "high")])
    [r] = HybridEngine(FixedEngine("onnx", model), FixedEngine("rules", rules),
                       policy="blend_0.7").check_batch([CheckInput("不行")])
    assert r.scores["standard"] == pytest.approx(0.7 * 0.7 + 0.3 * 0.1)
    assert (r.label, r.engine) == ("standard", "onnx")
    [r] = HybridEngine(FixedEngine("onnx", model), FixedEngine("rules", rules),
                       policy="blend_0.5").check_batch([CheckInput("不行")])
    assert r.scores["standard"] == pytest.approx(0.4) and r.scores["non_compliant"] == pytest.approx(0.4)


# ---------------------------------------------------------------- n-gram ensemble member

def test_ensemble_member_is_blended_with_the_manifest_weight(model_dir, tmp_path):
    pytest.importorskip("sklearn")
    from sdk.engines.ngram_engine import NgramModel
    from sdk.engines.onnx_engine import OnnxEngine
    from training.baseline import Baseline
    from training.ngram import export

    d = copy_of(model_dir, tmp_path)
    recs = [{"text": t, "label": l} for t, l in [("谢谢你啊", "satisfied"), ("怎么还没到", "anxious"),
                                                 ("什么破公司", "angry"), ("请问怎么办理", "neutral"),
                                                 ("太慢了吧", "dissatisfied")]] * 3
    export(Baseline("emotion", "text").fit(recs), d)
    manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    texts = ["谢谢你啊", "什么破公司！"]
    bert = np.array([list(r.scores.values()) for r in OnnxEngine(d, threads=1).emotion_batch(texts)])
    ngram = NgramModel(d / "ngram_emotion").predict_proba_in([(t,) for t in texts], EMOTION_LABELS)
    for weight in (0.0, 0.4):
        manifest["ensemble"] = {"emotion": {"member": "ngram_emotion", "weight": weight}}
        write_manifest(d, manifest)
        got = np.array([list(r.scores.values()) for r in OnnxEngine(d, threads=1).emotion_batch(texts)])
        np.testing.assert_allclose(got, (1 - weight) * bert + weight * ngram, atol=1e-6)
    # A member whose files the manifest does not vouch for is refused.
    manifest["ensemble"] = {"emotion": {"member": "ngram_other", "weight": 0.4}}
    write_manifest(d, manifest)
    with pytest.raises(ModelUnavailable, match="ngram_other.json is not listed"):
        OnnxEngine(d, threads=1)


def test_hybrid_reads_the_policy_from_the_manifest():
    from types import SimpleNamespace

    from sdk.engines.hybrid import DEFAULT_POLICY, HybridEngine

    onnx = FixedEngine("onnx", _check("standard", "onnx"))
    assert HybridEngine(onnx, None).policy == DEFAULT_POLICY
    onnx.manifest = SimpleNamespace(data={"combine_policy": "forbidden_any"})
    assert HybridEngine(onnx, None).policy == "forbidden_any"
    assert HybridEngine(onnx, None, policy="model").policy == "model"
    onnx.manifest = SimpleNamespace(data={"combine_policy": "vote"})
    with pytest.raises(ValueError, match="got 'vote'"):
        HybridEngine(onnx, None)


def test_worker_pool_creates_one_executor_under_concurrent_first_use(monkeypatch):
    import threading

    from sdk.engines import runtime

    created = []
    real = runtime.ThreadPoolExecutor

    def counting(*args, **kwargs):
        created.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(runtime, "ThreadPoolExecutor", counting)
    pool = runtime.WorkerPool(2)
    start = threading.Barrier(8)
    out = []

    def first_use():
        start.wait()
        pool.run_all(out.append, [1, 2])

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(created) == 1 and len(out) == 16


@pytest.mark.parametrize(
    "weight, expected",
    [(1.0, "neutral"), (0.9, "neutral"), (0.5, "angry"), (0.0, "angry")],  # model 0.6 neutral vs rules 0.9 angry
)
def test_hybrid_emotion_blends_the_rules_lexicon_at_the_manifest_weight(weight, expected):
    from types import SimpleNamespace

    from sdk.engines.hybrid import HybridEngine
    from sdk.results import EmotionResult

    labels = ("neutral", "satisfied", "anxious", "dissatisfied", "angry")
    model = EmotionResult("neutral", {k: 0.6 if k == "neutral" else 0.1 for k in labels}, engine="onnx")
    rules = EmotionResult("angry", {k: 0.9 if k == "angry" else 0.025 for k in labels}, engine="rules")
    onnx = FixedEngine("onnx", _check("standard", "onnx"))
    onnx.manifest = SimpleNamespace(data={"emotion_model_weight": weight})
    result = HybridEngine(onnx, None)._combine_emotion(model, rules)
    assert result.label == expected and abs(sum(result.scores.values()) - 1.0) < 1e-9


@pytest.mark.parametrize("utterance, vetoed", [
    ("亲，让您久等了，这边查到已经发货了", True),
    ("不好意思，这个型号不支持", True),
    ("對不起，讓您久等了", True),          # traditional characters read as the rules read them
    ("您不用道歉，我帮您查", False),        # negated: no apology
    ("请您谅解，这个改不了", False),        # asks for understanding; LABELS.md: no apology
    ("这个改不了", False),
])
def test_hybrid_apology_veto(utterance, vetoed):
    """A turn that apologises is never missing_apology, whatever the model says (LABELS.md)."""
    from sdk.engines.hybrid import HybridEngine
    from sdk.engines.rules_engine import RulesEngine

    scores = {"standard": 0.2, "non_compliant": 0.05, "missing_apology": 0.6, "missing_thanks": 0.15}
    model = Verdict(label="missing_apology", scores=scores, engine="onnx")
    hybrid = HybridEngine(FixedEngine("onnx", model), RulesEngine(), policy="model")
    [r] = hybrid.check_batch([CheckInput(utterance)])
    if vetoed:
        assert (r.label, r.engine) == ("standard", "rules")
        assert r.scores["missing_apology"] < 0.01 and abs(sum(r.scores.values()) - 1) < 1e-6
    else:
        assert (r.label, r.engine) == ("missing_apology", "onnx")
