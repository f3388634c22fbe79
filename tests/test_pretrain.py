"""Corpus builder, token streams and masked-LM pretraining (tiny configs, CPU, a few seconds)."""
from __future__ import annotations

import hashlib
import json
import pickle
import random
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # the training stack (the 'train' extra); SDK-only installs skip this
from training import corpus, shards  # noqa: E402
from training.pretrain import (CLS_ID, IGNORE, MASK_ID, SEP_ID, TrainSettings, build_eval_set,  # noqa: E402
                               evaluate_models, gather_windows, load_store, main, sample_starts, train,
                               whole_word_mask)
from training.tokenizer import DEFAULT_VOCAB, SAMPLE_SENTENCES, mismatches_with_reference, save_tokenizer  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED_BASES = sorted(p for p in (REPO_ROOT / "models" / "base").glob("*") if (p / "model.safetensors").exists())

needs_vocab = pytest.mark.skipif(not DEFAULT_VOCAB.exists(), reason=f"bert-base-chinese vocab missing: {DEFAULT_VOCAB}")

DIALOGUES = [
    [(0, "我的快递三天了还没到，怎么回事啊"), (1, "非常抱歉给您带来不便，我马上帮您查询"), (0, "好的，谢谢你")],
    [(0, "退款什么时候能到账？"), (1, "一般三到五个工作日退回原支付账户"), (0, "那我再等等吧")],
    [(1, "您好，很高兴为您服务，请问有什么可以帮您？"), (0, "你们客服态度太差了，我要投诉"),
     (1, "实在抱歉，这边马上为您升级处理")],
    [(0, "请问这个套餐每个月多少钱"), (1, "这个套餐每月五十八元，包含二十G流量"), (0, "可以帮我办理吗")],
]


def _fake_sources(n_copies: int = 40) -> tuple[corpus.Source, ...]:
    """A research-only customer-service source and a permissive plain-text one, each with unique documents
    (random characters appended, so that compressed sizes grow with the text as they do for real text)."""
    rng = random.Random(0)

    def noise() -> str:
        return "".join(chr(0x4E00 + rng.randrange(2000)) for _ in range(12))

    dialogues = [[(seg, f"{text}{noise()}") for seg, text in doc] for _ in range(n_copies) for doc in DIALOGUES]
    news = [[(0, f"今天全市天气晴朗，气温二十度左右。{noise()}"), (0, f"市民纷纷外出游玩。{noise()}")]
            for _ in range(n_copies)]
    return (corpus.Source("fake_cs", "research-only", False, "customer_service", "customer 0 / agent 1",
                          lambda root: dialogues),
            corpus.Source("fake_news", "CC0-1.0", True, "news", "plain", lambda root: news))


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory) -> Path:
    if not DEFAULT_VOCAB.exists():
        pytest.skip(f"bert-base-chinese vocab missing: {DEFAULT_VOCAB}")
    out = tmp_path_factory.mktemp("corpus")
    corpus.build(tmp_path_factory.mktemp("shared"), out, heldout_pct=10.0, sources=_fake_sources(), workers=1,
                 log=lambda message: None)
    return out


# ----------------------------------------------------------------------------- corpus cleaning

@pytest.mark.parametrize("raw, expected", [
    ("ＡＢＣ１２３，你好", "ABC123，你好"),             # full-width letters/digits -> half-width, Chinese comma kept
    ("你好\u3000\u3000世界  \t！", "你好 世界 ！"),      # ideographic space and runs of whitespace
    ("\ufeff请看 https://x.cn/a?b=1 谢谢", "请看 谢谢"),  # BOM and URLs removed
    ("好的#E-s[数字x]亲", "好的 亲"),                    # JDDC emoticon codes removed
    ("含30GB流量<br/>注：仅限本机", "含30GB流量 注：仅限本机"),  # HTML line breaks
])
def test_normalise(raw, expected):
    assert corpus.normalise(raw) == expected


@pytest.mark.parametrize("function, raw, expected", [
    (corpus.join_segmented, "喜欢 看 剧情 电影 吗 ?", "喜欢看剧情电影吗?"),
    (corpus.join_segmented, "我 用 iPhone 13 Pro 看", "我用iPhone 13 Pro看"),  # spaces between ASCII words stay
    (corpus.strip_markdown, "## 第一章  总则", "第一章  总则"),
    (corpus.strip_markdown, "**央视网消息**（新闻联播）：今天", "央视网消息（新闻联播）：今天"),
    (corpus.strip_markdown, "<!--repaste.body.begin-->", ""),
])
def test_text_helpers(function, raw, expected):
    assert function(raw) == expected


def test_is_useful_and_split_long():
    assert corpus.is_useful("请问退款到账了吗")
    assert not corpus.is_useful("?") and not corpus.is_useful("ok thanks 好")
    long_line = "我们已经收到您的反馈。" * 40
    pieces = corpus.split_long(long_line)
    assert "".join(pieces) == long_line and all(len(p) <= corpus.MAX_LINE_CHARS for p in pieces)


def test_clean_document_keeps_roles_drops_blocked_and_repeated_boilerplate():
    boilerplate = "本条例自公布之日起施行，由市人民代表大会常务委员会负责解释和监督实施。"
    counts = corpus.Counter()
    stats: dict = {}
    doc = [(0, "你好，我的订单怎么还没到"), (1, "这家酒店的服务态度非常差劲"), (1, "亲，马上帮您查")]
    assert corpus.clean_document(doc, {"这家酒店的服务态度非常差劲"}, counts, stats) == [
        (0, "你好，我的订单怎么还没到"), (1, "亲，马上帮您查")]
    kept = [corpus.clean_document([(0, boilerplate)], set(), counts, stats) for _ in range(corpus.MAX_REPEATS + 2)]
    assert sum(bool(k) for k in kept) == corpus.MAX_REPEATS
    assert stats["dropped_lines"] == 1 + 2


def test_record_texts_include_real_conversation_context_turns():
    record = {"context": [{"role": "customer", "text": "我的快递到哪了"}, {"role": "agent", "text": "亲，马上帮您查"}],
              "utterance": "您好，已经在派送中了"}
    assert corpus._record_texts(record) == ["您好，已经在派送中了", "我的快递到哪了", "亲，马上帮您查"]


def test_every_source_has_a_known_kind_and_a_licence_tag():
    names = [s.name for s in corpus.SOURCES]
    assert len(names) == len(set(names))
    for source in corpus.SOURCES:
        assert source.kind in corpus.KIND_WEIGHTS and source.licence
        if source.permissive:  # a permissive tag must name a permissive licence
            assert any(tag in source.licence for tag in ("CC0", "Apache", "MIT", "CC-BY"))
    weights = {s.name: s.weight for s in corpus.SOURCES}
    assert weights["jddc2019_chat_sample"] > weights["smilechat_psych_counseling"] > weights["china_laws"]


# ----------------------------------------------------------------------------- token streams

def test_stream_roundtrip_markers_types_and_word_bits(tmp_path):
    class FakeEncoder(shards.DocumentEncoder):
        def __init__(self):  # tokens are characters; a word starts at every even offset
            self.tokenizer = None
            self.word_starts = lambda text: set(range(0, len(text), 2))

    class Tokenizer:
        @staticmethod
        def encode_batch(texts, add_special_tokens=False):
            class Encoding:
                def __init__(self, text):
                    self.ids = [200 + ord(c) % 100 for c in text]
                    self.offsets = [(i, i + 1) for i in range(len(text))]
            return [Encoding(t) for t in texts]

    encoder = FakeEncoder()
    encoder.tokenizer = Tokenizer()
    stream = encoder.encode([[(0, "abc"), (1, "de")], [(1, "f")]])
    assert [int(v) & shards.ID_MASK for v in stream][:1] == [shards.DOC0]
    shards.write_stream(tmp_path / "s.u16.xz", stream)
    back = shards.read_stream(tmp_path / "s.u16.xz")
    assert np.array_equal(back, stream)
    decoded = shards.decode(back, SEP_ID)
    # DOC0 a b c TURN1 d e DOC1 f
    assert decoded.turn_starts.tolist() == [0, 4, 7]
    assert decoded.ids[[0, 4, 7]].tolist() == [SEP_ID] * 3
    assert decoded.types.tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1]  # a [SEP] keeps the type of the turn it closes
    assert decoded.word_start.tolist() == [True, True, False, True, True, True, False, True, True]
    assert decoded.maskable.tolist() == [False, True, True, True, False, True, True, False, True]
    kept = shards.take_documents(back, np.array([False, True]))
    assert (kept & shards.ID_MASK).tolist() == [shards.DOC1, 200 + ord("f") % 100]
    with pytest.raises(ValueError, match="segment"):
        shards.marker(2, False)


@needs_vocab
def test_build_dedups_blocks_holds_out_and_tags_licences(tmp_path):
    shared = tmp_path / "shared"
    (shared / "chnsenticorp").mkdir(parents=True)
    leaked = "这家酒店的服务态度非常差劲"
    (shared / "chnsenticorp" / "test.tsv").write_text(f"label\ttext_a\n0\t{leaked}\n", encoding="utf-8")
    documents = [[(0, f"第{i}位客户说：我的订单还没有发货")] for i in range(300)]
    documents += [[(0, "你好，我想咨询一下"), (1, leaked), (1, "好的")], [(0, "第1位客户说：我的订单还没有发货")]]
    sources = (corpus.Source("fake", "research-only", False, "customer_service", "customer 0 / agent 1",
                             lambda root: documents),
               corpus.Source("open", "CC0-1.0", True, "news", "plain",
                             lambda root: [[(0, "今天天气很好，适合出门。")]]))
    manifest = corpus.build(shared, tmp_path / "out", heldout_pct=5.0, sources=sources, workers=1,
                            log=lambda message: None)
    fake = manifest["sources"][0]
    assert fake["duplicate_documents"] == 1 and fake["heldout"]["documents"] > 0
    assert fake["train"]["documents"] + fake["heldout"]["documents"] == 301
    assert fake["licence"] == "research-only" and fake["permissive"] is False
    tokenizer = json.loads((tmp_path / "out" / "tokenizer" / "tokenizer.json").read_text(encoding="utf-8"))
    leaked_ids = [tokenizer["model"]["vocab"][c] for c in leaked]
    for split in ("train", "heldout"):
        ids = (shards.read_stream(tmp_path / "out" / fake[split]["file"]) & shards.ID_MASK).tolist()
        assert not any(ids[i:i + len(leaked_ids)] == leaked_ids for i in range(len(ids)))
    assert manifest["permissive_totals"]["train"]["documents"] + manifest["permissive_totals"]["heldout"][
        "documents"] == 1
    only_open = corpus.build(shared, tmp_path / "open", sources=sources, permissive_only=True, workers=1,
                             log=lambda message: None)
    assert [s["name"] for s in only_open["sources"]] == ["open"] and only_open["permissive_only"]


@needs_vocab
def test_shard_fits_budget_and_keeps_full_sizes(tiny_corpus, tmp_path):
    full = json.loads((tiny_corpus / "manifest.json").read_text(encoding="utf-8"))
    budget = sum(s["train"]["bytes"] + s["heldout"]["bytes"] for s in full["sources"]) // 2
    shard = corpus.make_shard(tiny_corpus, tmp_path / "shard", budget, log=lambda message: None)
    size = sum(p.stat().st_size for p in (tmp_path / "shard" / "tokens").iterdir())
    assert size <= budget * 1.1
    by_name = {s["name"]: s for s in shard["sources"]}
    assert by_name["fake_cs"]["shard_fraction"] > by_name["fake_news"]["shard_fraction"]  # weight 3 vs 0.25
    assert by_name["fake_cs"]["train"]["tokens"] == {s["name"]: s for s in full["sources"]}["fake_cs"]["train"][
        "tokens"]  # the full size, so shares stay those of the full corpus
    permissive = corpus.make_shard(tiny_corpus, tmp_path / "open", budget, permissive_only=True,
                                   log=lambda message: None)
    assert [s["name"] for s in permissive["sources"]] == ["fake_news"]


# ----------------------------------------------------------------------------- windows and masking

@needs_vocab
def test_windows_start_at_turns_and_masking_is_whole_word(tiny_corpus):
    manifest = json.loads((tiny_corpus / "manifest.json").read_text(encoding="utf-8"))
    store = load_store(tiny_corpus, manifest["sources"], "train", 32, torch.device("cpu"))
    assert abs(sum(s.probability for s in store.sources) - 1) < 1e-9
    generator = torch.Generator().manual_seed(0)
    starts = sample_starts(store, 256, generator, 32)
    assert set(starts.tolist()) <= set(store.turn_starts.tolist())
    window = gather_windows(store, starts, 32)
    assert (window["ids"][:, 0] == CLS_ID).all() and (window["types"][:, 0] == 0).all()
    assert set(window["types"].unique().tolist()) == {0, 1}  # agent turns are segment 1
    inputs, labels = whole_word_mask(window, 0.15, generator, 21128)
    selected = labels != IGNORE
    assert 0.10 <= selected.sum() / window["maskable"].sum() <= 0.20
    assert not selected[~window["maskable"]].any()  # [CLS]/[SEP] never masked
    assert (labels[selected] == window["ids"][selected]).all()
    assert 0.7 <= (inputs[selected] == MASK_ID).float().mean() <= 0.9
    for row in range(len(starts)):  # all tokens of a word share the decision
        word = torch.cumsum(window["word_start"][row].long(), 0)
        for w in word.unique():
            in_word = (word == w) & window["maskable"][row]
            assert len(selected[row][in_word].unique()) <= 1


@needs_vocab
def test_eval_windows_and_masks_are_fixed(tiny_corpus):
    manifest = json.loads((tiny_corpus / "manifest.json").read_text(encoding="utf-8"))
    store = load_store(tiny_corpus, manifest["sources"], "heldout", 32, torch.device("cpu"))
    first = build_eval_set(store, 4, 32, 0.15, 21128, True)
    second = build_eval_set(store, 4, 32, 0.15, 21128, True)
    assert first.names == second.names and first.names
    for a, b in zip(first.batches, second.batches):
        assert torch.equal(a["ids"], b["ids"]) and torch.equal(a["labels"], b["labels"])


# ----------------------------------------------------------------------------- training

def _settings(tiny_corpus: Path, out: Path, **overrides) -> TrainSettings:
    values = dict(out=out, corpus_dir=tiny_corpus, layers=2, hidden=32, heads=2, intermediate=64, max_len=32,
                  batch_size=16, lr=3e-3, warmup_steps=2, max_steps=12, max_minutes=0, eval_windows=4, threads=1)
    values.update(overrides)
    return TrainSettings(**values)


@needs_vocab
def test_tiny_pretraining_run_saves_loadable_model_resumes_and_ships(tiny_corpus, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    settings = _settings(tiny_corpus, tmp_path / "run", snapshot_dir=tmp_path / "snapshot", save_every_minutes=0)
    summary = train(settings, log=lambda message: None)
    assert summary["steps"] == 12 and summary["tokens_seen"] == 12 * 16 * 32
    history = summary["eval_history"]
    assert history[-1]["loss"] < history[0]["loss"]  # it learns something even in 12 steps
    assert set(summary["heldout"]["per_source"]) == {"fake_cs", "fake_news"}
    assert summary["heldout"]["mlm_loss"] < summary["unigram_baseline"]["mlm_loss"] + 1

    snapshot = sorted(p.name for p in (tmp_path / "snapshot").iterdir())
    assert "summary.json" in snapshot and "config.json" in snapshot and len(snapshot) <= 6  # few files to fetch

    results = evaluate_models([tmp_path / "snapshot"], tiny_corpus, 4, 32, False, 1, log=lambda message: None)
    again = results[str(tmp_path / "snapshot")]  # the same windows and masks as in training (fp16-stored weights)
    assert again["masked_tokens"] == summary["heldout"]["masked_tokens"]
    assert abs(again["loss"] - summary["heldout"]["mlm_loss"]) < 0.05

    settings.max_steps, settings.resume = 15, True
    resumed = train(settings, log=lambda message: None)
    assert resumed["steps"] == 15 and resumed["tokens_seen"] == 15 * 16 * 32
    assert [h["step"] for h in resumed["eval_history"]][: len(history)] == [h["step"] for h in history]

    shipped = tmp_path / "shipped"
    assert main(["--ship-from", str(tmp_path / "snapshot"), "--ship-dir", str(shipped),
                 "--tokenizer-dir", str(tiny_corpus / "tokenizer")]) == 0
    manifest = json.loads((shipped / "manifest.json").read_text(encoding="utf-8"))
    for name, info in manifest["files"].items():
        assert hashlib.sha256((shipped / name).read_bytes()).hexdigest() == info["sha256"]
    assert {"config.json", "model.safetensors", "tokenizer.json", "vocab.txt", "README.md"} <= set(manifest["files"])
    assert manifest["name"] == "shipped" and "fake_cs" in (shipped / "README.md").read_text(encoding="utf-8")
    model = AutoModel.from_pretrained(str(shipped))
    assert next(model.parameters()).dtype == torch.float32  # stored as fp16, loads as fp32
    tokenizer = AutoTokenizer.from_pretrained(str(shipped))
    with torch.no_grad():
        hidden = model(**tokenizer(["您好，请问有什么可以帮您"], return_tensors="pt")).last_hidden_state
    assert hidden.shape[-1] == 32 and torch.isfinite(hidden).all()


class _Exploit:
    """Unpickling this would create a file: a resume must never get that far."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@needs_vocab
def test_fixed_size_prediction_matches_masked_only(tiny_corpus, tmp_path):
    from training.pretrain import build_model, masked_lm_loss

    manifest = json.loads((tiny_corpus / "manifest.json").read_text(encoding="utf-8"))
    store = load_store(tiny_corpus, manifest["sources"], "train", 32, torch.device("cpu"))
    generator = torch.Generator().manual_seed(1)
    window = gather_windows(store, sample_starts(store, 8, generator, 32), 32)
    inputs, labels = whole_word_mask(window, 0.15, generator, 21128)
    model = build_model(_settings(tiny_corpus, tmp_path, dropout=0.0), 21128).eval()
    with torch.no_grad():
        exact = masked_lm_loss(model, inputs, window["types"], labels)
        fixed = masked_lm_loss(model, inputs, window["types"], labels, max_predictions=int(0.3 * labels.numel()))
    assert torch.allclose(exact[0], fixed[0], atol=1e-5) and exact[1] == fixed[1] and exact[2] == fixed[2]
    summary = train(_settings(tiny_corpus, tmp_path / "run", max_steps=3, fixed_predictions=True),
                    log=lambda message: None)
    assert summary["steps"] == 3


@needs_vocab
def test_resume_refuses_a_pickled_object_in_the_checkpoint(tiny_corpus, tmp_path):
    """Issue 14: --resume loads with torch.load(weights_only=True); a tampered checkpoint is refused, not run."""
    settings = _settings(tiny_corpus, tmp_path / "run", max_steps=2)
    train(settings, log=lambda message: None)
    state_file = tmp_path / "run" / "checkpoint" / "training_state.pt"
    saved = torch.load(state_file, weights_only=True)
    marker = tmp_path / "pwned"
    saved["generator"] = _Exploit(str(marker))
    torch.save(saved, state_file)
    settings.resume, settings.max_steps = True, 4
    with pytest.raises(pickle.UnpicklingError):
        train(settings, log=lambda message: None)
    assert not marker.exists()


@needs_vocab
def test_permissive_only_trains_on_permissive_sources(tiny_corpus, tmp_path):
    summary = train(_settings(tiny_corpus, tmp_path / "run", max_steps=2, permissive_only=True),
                    log=lambda message: None)
    assert [s["name"] for s in summary["corpus"]["sources"]] == ["fake_news"]
    assert set(summary["heldout"]["per_source"]) <= {"fake_news"}


def test_settings_reject_bad_values(tmp_path):
    with pytest.raises(ValueError, match="divisible"):
        TrainSettings(out=tmp_path, hidden=30, heads=4)
    with pytest.raises(ValueError, match="never ends"):
        TrainSettings(out=tmp_path, max_steps=0, max_minutes=0)


# ----------------------------------------------------------------------------- tokenizer and shipped bases

@needs_vocab
def test_saved_tokenizer_matches_reference_bert_tokenizer(tmp_path):
    save_tokenizer(tmp_path, DEFAULT_VOCAB, 64)
    assert mismatches_with_reference(tmp_path) == []
    from transformers import AutoTokenizer

    tokens = AutoTokenizer.from_pretrained(str(tmp_path)).tokenize(SAMPLE_SENTENCES[1])
    assert "iphone" in tokens and "订" in tokens and "单" in tokens  # lower-cased; one token per Chinese char


@pytest.mark.parametrize("base", SHIPPED_BASES, ids=lambda p: p.name)
def test_shipped_base_loads_offline(base, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    manifest = json.loads((base / "manifest.json").read_text(encoding="utf-8"))
    for name, info in manifest["files"].items():
        assert hashlib.sha256((base / name).read_bytes()).hexdigest() == info["sha256"], name
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModel.from_pretrained(str(base)).eval()
    batch = tokenizer(["您好，很高兴为您服务", "你们怎么还没给我退款？"], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    assert hidden.shape[-1] == manifest["architecture"]["hidden"] and torch.isfinite(hidden).all()
    assert manifest["heldout"]["mlm_loss"] < manifest["unigram_baseline"]["mlm_loss"]
