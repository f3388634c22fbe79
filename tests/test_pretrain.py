"""Corpus builder, tokenizer and masked-LM pretraining (tiny configs, CPU, a few seconds)."""
from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")  # the training stack (the 'train' extra); SDK-only installs skip this
from training import corpus  # noqa: E402
from training.pretrain import IGNORE, MaskedLMBatcher, TrainSettings, train  # noqa: E402
from training.tokenizer import DEFAULT_VOCAB, SAMPLE_SENTENCES, mismatches_with_reference, save_tokenizer  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED = REPO_ROOT / "models" / "base" / "csqa-bert-small"

needs_vocab = pytest.mark.skipif(not DEFAULT_VOCAB.exists(), reason=f"bert-base-chinese vocab missing: {DEFAULT_VOCAB}")

LINES = [
    "您好，很高兴为您服务，请问有什么可以帮您？", "我的快递三天了还没到，怎么回事啊", "非常抱歉给您带来不便，我马上帮您查询",
    "好的，谢谢你", "请您稍等一下，正在为您核实处理中", "退款什么时候能到账？", "一般三到五个工作日退回原支付账户",
    "感谢您的耐心等待，祝您生活愉快，再见", "你们客服态度太差了，我要投诉", "实在抱歉，这边马上为您升级处理",
]


def _write_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.txt").write_text("\n".join(LINES * 5) + "\n", encoding="utf-8")
    (folder / "heldout.txt").write_text("\n".join(reversed(LINES)) + "\n", encoding="utf-8")
    return folder


# ----------------------------------------------------------------------------- corpus

@pytest.mark.parametrize("raw, expected", [
    ("ＡＢＣ１２３，你好", "ABC123，你好"),             # full-width letters/digits -> half-width, Chinese comma kept
    ("你好\u3000\u3000世界  \t！", "你好 世界 ！"),      # ideographic space and runs of whitespace
    ("\ufeff请看 https://x.cn/a?b=1 谢谢", "请看 谢谢"),  # BOM and URLs removed
    ("好的#E-s[数字x]亲", "好的 亲"),                    # JDDC emoticon codes removed
])
def test_normalise(raw, expected):
    assert corpus.normalise(raw) == expected


def test_is_useful_and_split_long():
    assert corpus.is_useful("请问退款到账了吗")
    assert not corpus.is_useful("?") and not corpus.is_useful("ok thanks 好")
    long_line = "我们已经收到您的反馈。" * 40
    pieces = corpus.split_long(long_line)
    assert "".join(pieces) == long_line and all(len(p) <= corpus.MAX_LINE_CHARS for p in pieces)


def test_build_dedups_blocks_test_text_and_holds_out(tmp_path):
    shared = tmp_path / "shared"
    (shared / "chnsenticorp").mkdir(parents=True)
    leaked = "这家酒店的服务态度非常差劲"
    (shared / "chnsenticorp" / "test.tsv").write_text(f"label\ttext_a\n0\t{leaked}\n", encoding="utf-8")
    documents = [[f"第{i}位客户说：我的订单还没有发货"] for i in range(300)]
    documents += [["你好，我想咨询一下", leaked, "好的"], ["第1位客户说：我的订单还没有发货"]]  # leak + duplicate
    source = corpus.Source("fake", "Apache-2.0", lambda root: documents)
    manifest = corpus.build(shared, tmp_path / "out", heldout_pct=5.0, sources=(source,))
    train_text = (tmp_path / "out" / "train.txt").read_text(encoding="utf-8")
    heldout_text = (tmp_path / "out" / "heldout.txt").read_text(encoding="utf-8")
    assert leaked not in train_text + heldout_text
    assert manifest["sources"][0]["duplicate_documents"] == 1
    assert manifest["totals"]["heldout"]["documents"] > 0
    assert manifest["totals"]["train"]["documents"] + manifest["totals"]["heldout"]["documents"] == 301
    assert set(train_text.split("\n")) & set(heldout_text.split("\n")) <= {""}


# ----------------------------------------------------------------------------- tokenizer and masking

@needs_vocab
def test_saved_tokenizer_matches_reference_bert_tokenizer(tmp_path):
    save_tokenizer(tmp_path, DEFAULT_VOCAB, 64)
    assert mismatches_with_reference(tmp_path) == []
    from transformers import AutoTokenizer

    tokens = AutoTokenizer.from_pretrained(str(tmp_path)).tokenize(SAMPLE_SENTENCES[1])
    assert "iphone" in tokens and "订" in tokens and "单" in tokens  # lower-cased; one token per Chinese char


@needs_vocab
def test_whole_word_masking_rate_and_specials(tmp_path):
    from transformers import AutoTokenizer

    save_tokenizer(tmp_path, DEFAULT_VOCAB, 64)
    batcher = MaskedLMBatcher(AutoTokenizer.from_pretrained(str(tmp_path)), 64, 0.15, whole_word=True)
    rng = random.Random(0)
    masked = real = 0
    for start in range(len(LINES)):
        ids, types, words, _ = batcher.pack(LINES, start, rng)
        assert len(ids) <= 64 and ids[0] == batcher.cls_id and ids[-1] == batcher.sep_id
        assert types[0] == 0 and set(types) <= {0, 1}
        inputs, labels = batcher.mask(ids, words, rng)
        for position, word in enumerate(words):
            if word < 0:
                assert labels[position] == IGNORE and inputs[position] == ids[position]  # specials untouched
        for word in set(w for w in words if w >= 0):  # a word is masked entirely or not at all
            assert len({labels[p] == IGNORE for p, w in enumerate(words) if w == word}) == 1
        masked += sum(label != IGNORE for label in labels)
        real += sum(w >= 0 for w in words)
    assert 0.10 <= masked / real <= 0.22


# ----------------------------------------------------------------------------- training

@needs_vocab
def test_tiny_pretraining_run_saves_loadable_model_and_resumes(tmp_path):
    from transformers import AutoModel, AutoTokenizer

    settings = TrainSettings(out=tmp_path / "run", corpus_dir=_write_corpus(tmp_path / "corpus"), layers=2, hidden=32,
                             heads=2, intermediate=64, max_len=32, batch_size=8, lr=3e-3, warmup_steps=2, max_steps=12,
                             max_minutes=0, eval_sequences=8, unigram_sample_lines=100, threads=1,
                             ship_dir=tmp_path / "shipped")
    summary = train(settings, log=lambda message: None)
    assert summary["steps"] == 12 and summary["tokens_seen"] > 12 * 8
    history = summary["eval_history"]
    assert history[-1]["loss"] < history[0]["loss"]  # it learns something even in 12 steps
    assert 0 < summary["unigram_baseline"]["mlm_loss"] < 12

    shipped = tmp_path / "shipped"
    manifest = json.loads((shipped / "manifest.json").read_text(encoding="utf-8"))
    for name, info in manifest["files"].items():
        assert hashlib.sha256((shipped / name).read_bytes()).hexdigest() == info["sha256"]
    assert {"config.json", "model.safetensors", "tokenizer.json", "vocab.txt"} <= set(manifest["files"])
    model = AutoModel.from_pretrained(str(shipped))
    assert next(model.parameters()).dtype == torch.float32  # stored as fp16, loads as fp32
    tokenizer = AutoTokenizer.from_pretrained(str(shipped))
    with torch.no_grad():
        hidden = model(**tokenizer(["您好，请问有什么可以帮您"], return_tensors="pt")).last_hidden_state
    assert hidden.shape[-1] == 32 and torch.isfinite(hidden).all()

    settings.max_steps, settings.resume = 15, True
    resumed = train(settings, log=lambda message: None)
    assert resumed["steps"] == 15 and resumed["tokens_seen"] > summary["tokens_seen"]


def test_settings_reject_bad_values(tmp_path):
    with pytest.raises(ValueError, match="divisible"):
        TrainSettings(out=tmp_path, hidden=30, heads=4)
    with pytest.raises(ValueError, match="never ends"):
        TrainSettings(out=tmp_path, max_steps=0, max_minutes=0)


# ----------------------------------------------------------------------------- shipped checkpoint

@pytest.mark.skipif(not (SHIPPED / "model.safetensors").exists(), reason="pretrained checkpoint not shipped yet")
def test_shipped_checkpoint_loads_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    manifest = json.loads((SHIPPED / "manifest.json").read_text(encoding="utf-8"))
    for name, info in manifest["files"].items():
        assert hashlib.sha256((SHIPPED / name).read_bytes()).hexdigest() == info["sha256"], name
    tokenizer = AutoTokenizer.from_pretrained(str(SHIPPED))
    model = AutoModel.from_pretrained(str(SHIPPED)).eval()
    batch = tokenizer(["您好，很高兴为您服务", "你们怎么还没给我退款？"], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    assert hidden.shape[-1] == manifest["architecture"]["hidden"] and torch.isfinite(hidden).all()
    assert manifest["heldout"]["mlm_loss"] < manifest["unigram_baseline"]["mlm_loss"]
