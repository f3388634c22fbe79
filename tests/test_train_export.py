"""Fine-tuning settings, training, export and the parity gate, on a tiny random BERT and toy data.

The end-to-end test trains a 2-layer x 64-hidden model for a few seconds on
toy records, exports it to int8 ONNX, loads it with the SDK's OnnxEngine and
checks that the engine and PyTorch predict the same labels.
"""
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("onnxruntime")
pytest.importorskip("tokenizers")

from sdk.labels import COMPLIANCE_LABELS, EMOTION_LABELS  # noqa: E402
from training.settings import TrainSettings  # noqa: E402

VOCAB = Path(__file__).resolve().parents[2] / "shared" / "data" / "bert_base_chinese_vocab" / "vocab.txt"
if not VOCAB.is_file():  # the shipped base model carries the same bert-base-chinese vocabulary
    VOCAB = Path(__file__).resolve().parents[1] / "models" / "base" / "csqa-bert-dialog" / "vocab.txt"

COMPLIANCE_TEMPLATES = {
    "standard": [(None, "您好，{d}客服，很高兴为您服务，请问有什么可以帮您？", "greeting"),
                 ("我想查一下{d}的账单", "好的，请您稍等，我马上为您查询。", "general_enquiry")],
    "non_compliant": [(None, "喂，说话呀！{d}的事快点说。", "greeting"),
                      ("我的{d}问题还没解决", "不知道，这不归我管。", "general_enquiry")],
    "missing_apology": [("[客户已等待约2分钟] 喂？还有人吗？", "好的，{d}这边帮您查一下。", "hold_return"),
                        ("[线路忙，客户重拨了三次] 怎么老打不进来", "请问您要办理什么{d}业务？", "complaint_busy_line")],
    "missing_thanks": [("我的号码是13800000000", "好的，{d}信息已经记录。", "info_supplied"),
                       ("你们服务真好", "嗯，{d}还有别的问题吗？", "customer_thanks")],
}
EMOTION_TEMPLATES = {
    "neutral": ["请问{d}怎么办理", "我想查一下{d}"],
    "satisfied": ["太好了，{d}谢谢你", "{d}服务真不错，感谢"],
    "anxious": ["我急着用{d}，什么时候能好啊", "{d}会不会出问题啊，好担心"],
    "dissatisfied": ["{d}效率也太慢了吧", "每次都说马上，{d}还是没弄好"],
    "angry": ["什么破{d}！我要投诉你们！", "{d}简直是骗子，我要找媒体曝光！"],
}
DOMAINS = ["电信", "电力", "燃气", "银行", "快递", "保险", "医院", "物业"]


def toy_records(task: str, split: str, seed: int):
    """Schema-valid toy records: each template filled with a different domain word per split."""
    rng = random.Random(seed)
    words = {"train": DOMAINS, "dev": DOMAINS[:3], "test": DOMAINS[3:7]}[split]
    out = []
    templates = COMPLIANCE_TEMPLATES if task == "compliance" else EMOTION_TEMPLATES
    for label, items in templates.items():
        for t, item in enumerate(items):
            for w in words:
                n = len(out)
                common = {"id": f"toy-{task}-{split}-{n}", "label": label, "source": "handwritten",
                          "license": "Apache-2.0", "group": f"toy-{task}-{split}-g{n}", "domain": "other"}
                if task == "compliance":
                    context, utterance, scenario = item
                    out.append(dict(common, context=context, utterance=utterance.format(d=w), scenario=scenario))
                else:
                    out.append(dict(common, text=item.format(d=w)))
    rng.shuffle(out)
    return out


def write_splits(data_dir: Path):
    (data_dir / "splits").mkdir(parents=True, exist_ok=True)
    for task in ("compliance", "emotion"):
        for i, split in enumerate(("train", "dev", "test")):
            with open(data_dir / "splits" / f"{task}_{split}.jsonl", "w", encoding="utf-8") as fh:
                for rec in toy_records(task, split, i):
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def make_tiny_base(out: Path) -> Path:
    """A 2-layer x 64-hidden BERT with random weights and the bert-base-chinese tokenizer."""
    from tokenizers.implementations import BertWordPieceTokenizer
    from transformers import BertConfig, BertForMaskedLM

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=21128, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=128)
    BertForMaskedLM(config).save_pretrained(out)
    BertWordPieceTokenizer(str(VOCAB), lowercase=True).save(str(out / "tokenizer.json"))
    return out


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_export")
    write_splits(root / "data")
    return {"root": root, "data": root / "data", "base": make_tiny_base(root / "base")}


def settings_for(ws, task=None, out=None, **kw):
    # "raw": the toy data and tiny random model test the machinery; test_dialogue_format_* covers dialogue/1.
    defaults = dict(task=task, out=out, base_model=ws["base"], data_dir=ws["data"], max_len=32, batch_size=16,
                    epochs=20, learning_rate=3e-3, evals_per_epoch=1, threads=1, input_format="raw")
    defaults.update(kw)
    return TrainSettings(**defaults)


# ---------------------------------------------------------------- settings

@pytest.mark.parametrize("field,value,message", [
    ("task", "sentiment", "task must be one of compliance, emotion"),
    ("init", "zeros", "init must be one of pretrained, random"),
    ("max_len", 4, "max_len must be an int in 16..512"),
    ("batch_size", 0, "batch_size must be an int"),
    ("learning_rate", 0.0, "learning_rate must be in (0, 1)"),
    ("epochs", -1, "epochs must be in (0, 100]"),
    ("max_minutes", 0, "max_minutes must be positive"),
    ("class_weighting", "inverse", "class_weighting must be one of balanced, sqrt, none"),
    ("device", "tpu", "device must be one of auto, cpu, cuda"),
    ("warmup_ratio", 1.5, "warmup_ratio must be in [0, 1)"),
    ("unpunctuated_share", 1.5, "unpunctuated_share must be in [0, 1]"),
])
def test_settings_reject_bad_values(workspace, tmp_path, field, value, message):
    kwargs = {"task": "compliance", field: value}
    with pytest.raises(ValueError, match=re.escape(message)):
        settings_for(workspace, out=tmp_path, **kwargs)


def test_settings_need_a_bert_dir(tmp_path):
    with pytest.raises(ValueError, match="has no config.json"):
        TrainSettings(task="emotion", out=tmp_path / "o", base_model=tmp_path)


def test_settings_default_max_len(workspace, tmp_path):
    assert settings_for(workspace, "emotion", tmp_path, max_len=None).max_len == 64
    assert settings_for(workspace, "compliance", tmp_path, max_len=None).max_len == 128


def test_class_weights_balance_rare_labels():
    from training.train import class_weights

    w = class_weights(np.array([0] * 8 + [1] * 2), 3, "balanced")
    assert w[1] == pytest.approx(4 * w[0])
    assert (w[[0] * 8 + [1] * 2]).mean() == pytest.approx(1.0)
    assert class_weights(np.array([0, 1]), 2, "none") is None


# ---------------------------------------------------------------- encoding

def test_pair_encoding_keeps_reply_and_context_tail(workspace):
    from sdk.engines.onnx_engine import encode, load_tokenizer

    tok = load_tokenizer(workspace["base"] / "tokenizer.json")
    context, reply = "甲" * 40 + "乙乙", "你好" * 30
    enc = encode(tok, [reply], [context], 32)
    ids = enc.ids[0]
    assert len(ids) == 32 and ids[0] == tok.token_to_id("[CLS]")
    ctx_part = ids[1:ids.index(tok.token_to_id("[SEP]"))]
    assert tok.decode(ctx_part[-2:]) == "乙 乙"  # the context keeps its end
    assert len(ctx_part) == (32 - 3) // 4
    assert enc.type_ids[0].count(1) == 32 - len(ctx_part) - 2
    assert any("utterance has 60 tokens" in n for n in enc.notes[0])
    assert not encode(tok, ["短"], [None], 32).notes[0]
    # Full-width letters/digits read like ASCII ones; Chinese punctuation is kept.
    assert encode(tok, ["ＶＩＰ１２３，好"], None, 32).ids == encode(tok, ["VIP123，好"], None, 32).ids


# ---------------------------------------------------------------- train -> export -> engine

def test_invalid_data_is_refused(workspace, tmp_path):
    from training.train import main

    bad = tmp_path / "data"
    (bad / "splits").mkdir(parents=True)
    for split in ("train", "dev", "test"):
        src = workspace["data"] / "splits" / f"emotion_{split}.jsonl"
        (bad / "splits" / src.name).write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    with open(bad / "splits" / "emotion_train.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "x1", "text": "好", "label": "happy", "source": "handwritten",
                             "license": "Apache-2.0", "group": "g", "domain": "other"}) + "\n")
    code = main(["--task", "emotion", "--out", str(tmp_path / "o"), "--base-model", str(workspace["base"]),
                 "--data-dir", str(bad)])
    assert code == 2
    assert not (tmp_path / "o" / "model.safetensors").exists()


@pytest.fixture(scope="module")
def trained(workspace):
    from training.train import train

    out = {}
    for task in ("compliance", "emotion"):
        out[task] = workspace["root"] / f"run-{task}"
        train(settings_for(workspace, task, out[task]), log=lambda *_: None)
    return out


@pytest.mark.slow
def test_training_saves_labels_and_report(trained):
    for task, labels in (("compliance", COMPLIANCE_LABELS), ("emotion", EMOTION_LABELS)):
        config = json.loads((trained[task] / "config.json").read_text())
        assert [config["id2label"][str(i)] for i in range(len(labels))] == list(labels)
        report = json.loads((trained[task] / "train_report.json").read_text())
        assert report["best"]["dev_macro_f1"] == max(h["dev_macro_f1"] for h in report["history"])
        assert report["data_sources"] == [{"source": "handwritten", "license": "Apache-2.0",
                                           "records": report["records"]["train"]}]
        assert not list(trained[task].glob("*.bin")), "checkpoints must be safetensors, never pickle"
    # The toy data is easy: a model that learned nothing would sit near chance (0.25 / 0.2).
    assert json.loads((trained["emotion"] / "train_report.json").read_text())["best"]["dev_macro_f1"] > 0.5


@pytest.mark.slow
def test_random_init_differs_from_pretrained(workspace, tmp_path):
    from training.train import build_model

    pre = build_model(settings_for(workspace, "emotion", tmp_path), EMOTION_LABELS)
    rnd = build_model(settings_for(workspace, "emotion", tmp_path, init="random", seed=99), EMOTION_LABELS)
    base = pre.bert.embeddings.word_embeddings.weight
    assert torch.equal(base, pre.bert.embeddings.word_embeddings.weight)
    assert not torch.equal(base, rnd.bert.embeddings.word_embeddings.weight)
    assert rnd.config.num_hidden_layers == pre.config.num_hidden_layers == 2


@pytest.fixture(scope="module")
def exported(workspace, trained):
    from training.export import export

    out = workspace["root"] / "model"
    fp32 = workspace["root"] / "fp32"
    manifest = export(trained, out, keep_fp32=fp32, data_dir=workspace["data"], log=lambda *_: None)
    return {"dir": out, "fp32": fp32, "manifest": manifest}


@pytest.mark.slow
def test_export_writes_a_verified_manifest(exported):
    from sdk.model_manifest import load_manifest

    m = load_manifest(exported["dir"])
    assert set(m.tasks) == {"compliance", "emotion"}
    assert m.tasks["compliance"].labels == COMPLIANCE_LABELS
    assert m.data["opset"] >= 14
    assert sorted(p.name for p in exported["dir"].iterdir()) == [
        "compliance.int8.onnx", "emotion.int8.onnx", "manifest.json", "tokenizer.json"]
    for task in ("compliance", "emotion"):
        parity = m.data["tasks"][task]["parity"]["int8_vs_torch"]
        assert parity["agreement"] >= 0.99 and parity["macro_f1_drop"] <= 0.01
        # int8 with quantised embeddings is ~4x smaller than the fp32 graph.
        assert m.data["tasks"][task]["bytes"] < m.data["tasks"][task]["fp32_bytes"] / 2.5
    assert load_manifest(exported["fp32"]).tasks["emotion"].file == "emotion.fp32.onnx"


@pytest.mark.slow
def test_export_reuses_the_other_task_of_a_model_dir(workspace, trained, exported, tmp_path):
    """Retrain one task, keep the other: --reuse copies it, manifest entry and licences included."""
    from sdk.model_manifest import load_manifest
    from training.export import export

    out = tmp_path / "model"
    export({"emotion": trained["emotion"]}, out, data_dir=workspace["data"], log=lambda *_: None,
           reuse=exported["dir"], version="9.9.9")
    new, old = load_manifest(out), load_manifest(exported["dir"])  # both verified
    assert list(new.tasks) == ["compliance", "emotion"] and new.data["version"] == "9.9.9"
    assert new.data["tasks"]["compliance"] == old.data["tasks"]["compliance"]
    assert new.data["training_data"] == old.data["training_data"]
    with pytest.raises(ValueError, match="is the --out directory"):
        export({"emotion": trained["emotion"]}, out, data_dir=workspace["data"], log=lambda *_: None, reuse=out)


@pytest.mark.slow
def test_onnx_engine_agrees_with_pytorch(workspace, trained, exported):
    from sdk.engines.base import CheckInput
    from sdk.engines.onnx_engine import OnnxEngine
    from training.export import load_torch_model, torch_logits
    from training.train import load_tokenizer

    engine = OnnxEngine(exported["dir"], threads=1)
    for task in ("compliance", "emotion"):
        records = toy_records(task, "test", 2)
        model = load_torch_model(trained[task], task)
        expected = torch_logits(model, load_tokenizer(trained[task]), task, records, 32).argmax(-1)
        if task == "compliance":
            results = engine.check_batch([CheckInput(r["utterance"], r["context"]) for r in records])
            labels = COMPLIANCE_LABELS
        else:
            results = engine.emotion_batch([r["text"] for r in records])
            labels = EMOTION_LABELS
        got = np.array([labels.index(r.label) for r in results])
        assert (got == expected).mean() >= 0.99, task
        assert all(r.engine == "onnx" for r in results)


@pytest.mark.slow
def test_parity_gate_failure_exits_nonzero(workspace, trained, tmp_path, capsys):
    from training import export as export_mod

    # Disagreement is simulated by a gate no int8 model can pass (agreement and zero drop are fine,
    # but the logits must match to the last bit): the gate must stop the export and write nothing.
    class Strict(export_mod.Gate):
        def failures(self, parity):
            return ["logits differ"] if parity["max_abs_logit_diff"] > 0 else []

    with pytest.raises(export_mod.ParityError, match="emotion: int8 model fails the parity gate"):
        export_mod.export({"emotion": trained["emotion"]}, tmp_path / "out", gate=Strict(),
                          data_dir=workspace["data"], log=lambda *_: None)
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_gate_messages():
    from training.export import Gate

    gate = Gate()
    ok = {"agreement": 0.995, "macro_f1_drop": 0.004, "macro_f1_torch": 0.8, "macro_f1_int8": 0.796}
    assert gate.failures(ok) == []
    bad = dict(ok, agreement=0.97, macro_f1_drop=0.02, macro_f1_int8=0.78)
    msgs = gate.failures(bad)
    assert "agree on 97.00% of labels" in msgs[0] and "drops by 2.00 points" in msgs[1]
    with pytest.raises(ValueError, match="min_agreement"):
        Gate(min_agreement=1.5)


def test_export_cli_fails_cleanly_on_parity(monkeypatch, capsys, tmp_path):
    from training import export as export_mod

    def boom(*a, **k):
        raise export_mod.ParityError("compliance: int8 model fails the parity gate on 10 test records: x")

    monkeypatch.setattr(export_mod, "export", boom)
    assert export_mod.main(["--compliance", str(tmp_path), "--out", str(tmp_path / "o")]) == 3
    assert "export failed: compliance: int8 model fails the parity gate" in capsys.readouterr().err


@pytest.mark.slow
def test_time_budget_stops_training(workspace, tmp_path):
    from training.train import train

    messages = []
    report = train(settings_for(workspace, "emotion", tmp_path / "o", epochs=100, max_minutes=0.1,
                                evals_per_epoch=2), log=messages.append)
    assert "budget" in report["stop_reason"]
    assert report["minutes"] < 0.1 + 0.2  # the budget plus saving
    assert report["history"][-1]["step"] < 100 * 5
    assert any("plan shortened" in m for m in messages)


def test_unpunctuated_copies_are_added_and_only_where_words_change():
    from training.perturb import with_variant

    records = [{"id": f"r{i}", "label": "neutral", "source": "hand", "text": f"第{i}次了，怎么还没到？"} for i in range(200)]
    records.append({"id": "plain", "label": "neutral", "source": "hand", "text": "好的"})
    every = with_variant(records, "unpunctuated", 1.0, seed=1)
    assert [r["id"] for r in every] == [f"r{i}" for i in range(200)]  # "好的" has nothing to strip
    assert every[0]["text"] == "第0次了怎么还没到"
    assert records[0]["text"] == "第0次了，怎么还没到？"  # the originals are untouched
    some = with_variant(records, "unpunctuated", 0.3, seed=1)
    assert 30 < len(some) < 90 and some == with_variant(records, "unpunctuated", 0.3, seed=1)
    assert with_variant(records, "unpunctuated", 0.0, seed=1) == []


def test_excluding_every_source_is_refused(workspace, tmp_path):
    from training.train import train

    with pytest.raises(ValueError, match="no training records left after excluding"):
        train(settings_for(workspace, "emotion", tmp_path / "o", exclude_sources=("hand",)), log=lambda *_: None)
    with pytest.raises(ValueError, match="exclude_sources must be non-empty source names"):
        settings_for(workspace, "emotion", tmp_path / "o", exclude_sources=("",))


@pytest.mark.parametrize("field,value,message", [
    ("layers", 0, "layers must be an int in 1..48"),
    ("distill_alpha", 1.5, "distill_alpha must be in [0, 1]"),
    ("temperature", 0, "temperature must be in (0, 20]"),
])
def test_student_settings_reject_bad_values(workspace, tmp_path, field, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        settings_for(workspace, "emotion", tmp_path, **{field: value})


def test_teacher_must_be_a_model_dir(workspace, tmp_path):
    with pytest.raises(ValueError, match="teacher .* has no config.json"):
        settings_for(workspace, "emotion", tmp_path / "o", teacher=tmp_path)


def test_layers_keep_the_base_models_first_layers(workspace, tmp_path):
    from training.train import build_model

    full = build_model(settings_for(workspace, "emotion", tmp_path), EMOTION_LABELS)
    one = build_model(settings_for(workspace, "emotion", tmp_path, layers=1), EMOTION_LABELS)
    assert one.config.num_hidden_layers == 1 and len(one.bert.encoder.layer) == 1
    for name, tensor in one.bert.encoder.layer[0].state_dict().items():
        assert torch.equal(tensor, full.bert.encoder.layer[0].state_dict()[name]), name
    with pytest.raises(ValueError, match="layers 3 exceeds the base model's 2 encoder layers"):
        build_model(settings_for(workspace, "emotion", tmp_path, layers=3), EMOTION_LABELS)


@pytest.mark.slow
def test_distilled_student_learns_from_teacher(workspace, trained, tmp_path):
    from training.train import distill_loss, train

    logits = torch.tensor([[2.0, 0.0, -1.0]])
    assert float(distill_loss(logits, logits, 2.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(distill_loss(logits, torch.tensor([[-1.0, 0.0, 2.0]]), 2.0)) > 0.1

    messages = []
    report = train(settings_for(workspace, "emotion", tmp_path / "s", layers=1, teacher=trained["emotion"],
                                distill_alpha=0.7), log=messages.append)
    assert report["architecture"]["num_hidden_layers"] == 1
    assert report["settings"]["teacher"] == str(trained["emotion"])
    assert any(m.startswith("teacher ") and "agrees with gold" in m for m in messages)
    assert report["best"]["dev_macro_f1"] > 0.5  # chance is 0.2 on the toy data
    with pytest.raises(ValueError, match="is not a emotion model"):
        train(settings_for(workspace, "emotion", tmp_path / "x", teacher=trained["compliance"]), log=lambda *_: None)


@pytest.mark.slow
def test_shared_encoder_comparison_learns_both_tasks(workspace, trained, tmp_path):
    from training.multitask import markdown, run

    settings = {t: settings_for(workspace, t, tmp_path / "mt", layers=1, teacher=trained[t])
                for t in ("compliance", "emotion")}
    result = run(settings, 20, log=lambda *_: None)
    means = [(h["dev_compliance"] + h["dev_emotion"]) / 2 for h in result["history"]]
    assert result["best"]["mean"] == pytest.approx(max(means), abs=1e-4)  # chosen on dev, on both tasks
    assert result["best"]["dev_emotion"] > 0.5 and result["best"]["dev_compliance"] > 0.4  # chance: 0.2 / 0.25
    separate = {"compliance": {"run": "c", "dev_macro_f1": 0.5, "minutes": 1.0},
                "emotion": {"run": "e", "dev_macro_f1": 0.7, "minutes": 1.0}}
    table = markdown(result, separate)
    assert "| two models (`c`, `e`) | 0.5 | 0.7 | 0.6000 |" in table
    assert "one encoder, two heads" in table


@pytest.mark.slow
def test_dialogue_format_travels_from_training_to_the_engine(workspace, tmp_path):
    """A dialogue/1 model: the manifest names its input format and the ONNX engine builds the same
    input from a list-of-turns context as training did."""
    from sdk.engines.base import CheckInput
    from sdk.engines.onnx_engine import OnnxEngine
    from training.export import export, load_torch_model, torch_logits
    from training.train import load_tokenizer, train

    run = tmp_path / "run"
    train(settings_for(workspace, "compliance", run, input_format="dialogue/1"), log=lambda *_: None)
    assert json.loads((run / "train_report.json").read_text())["settings"]["input_format"] == "dialogue/1"
    manifest = export({"compliance": run}, tmp_path / "model", data_dir=workspace["data"], log=lambda *_: None)
    assert manifest["tasks"]["compliance"]["input_format"] == "dialogue/1"
    records = [dict(r, context=[{"role": "agent", "text": "请您稍等"}, {"role": "customer", "text": r["context"]}]
                    if r["context"] else None) for r in toy_records("compliance", "test", 2)]
    expected = torch_logits(load_torch_model(run, "compliance"), load_tokenizer(run), "compliance", records, 32,
                            "dialogue/1").argmax(-1)
    got = OnnxEngine(tmp_path / "model", threads=1).verdict_batch([CheckInput(r["utterance"], r["context"])
                                                                   for r in records])
    assert (np.array([COMPLIANCE_LABELS.index(r.label) for r in got]) == expected).mean() >= 0.99


def test_base_model_path_is_recorded_relative_to_the_repo(tmp_path):
    # A shipped manifest must not name one machine's checkout (0.5.0's first export did).
    from training.train import base_model_info

    repo = Path(__file__).resolve().parents[1]
    inside = repo / "models" / "base" / "csqa-bert-dialog"
    assert base_model_info(inside)["path"] == "models/base/csqa-bert-dialog"
    outside = tmp_path / "my-bert"
    outside.mkdir()
    (outside / "config.json").write_text('{"model_type": "bert"}', encoding="utf-8")
    assert base_model_info(outside) == {"path": str(outside), "name": "my-bert", "model_type": "bert"}
