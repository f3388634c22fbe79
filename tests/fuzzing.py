"""Hypothesis strategies and result checks shared by the fuzz tests.

Inputs are built from pieces that exercise the code paths that matter: the
rulebook's own phrases and lexicon words (so rules actually fire), characters
whose normalisation is tricky (İ, full width, traditional, fillers, stutters,
combining marks, astral characters, lone surrogates, NUL, zero-width and line
separators), bracketed events, arbitrary Unicode, over-long text and values of
the wrong type.
"""
from __future__ import annotations

import json
import math
import os
import re
from functools import lru_cache
from typing import Optional

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import sdk
from sdk.labels import COMPLIANCE_LABELS, EMOTION_LABELS
from sdk.normalize import Normalized, normalize, split_events

# The fast profile runs in the default test run; the long one is the acceptance run:
#   HYPOTHESIS_PROFILE=long python -m pytest tests/test_fuzz.py -s
# (the counts per engine are printed at the end, and written to $FUZZ_REPORT when set).
settings.register_profile("fast", max_examples=40, deadline=None, database=None, derandomize=True,
                          suppress_health_check=list(HealthCheck))
settings.register_profile("long", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100000")), deadline=None,
                          database=None, suppress_health_check=list(HealthCheck))
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "fast")
if PROFILE not in ("fast", "long"):
    raise ValueError(f"HYPOTHESIS_PROFILE must be 'fast' or 'long', got {PROFILE!r}")
LONG = PROFILE == "long"
FUZZ = settings.get_profile(PROFILE)
# Batches hold several inputs; the long profile needs fewer of them to reach its count.
FUZZ_BATCH = settings(FUZZ, max_examples=max(20, FUZZ.max_examples // (8 if LONG else 2)))

MAX_CHARS = 2000  # the documented truncation length (README "Bad input fails clearly")

TRICKY = [
    "İ", "\u0130\u0130", "ß", "ﬁ", "Σ", "ǅ", "\u0301", "e\u0301", "\U0001f600", "\U0001f468\u200d\U0001f469",
    "\U00020000", "\U0010ffff", "\uffff", "\ufffd", "\udca7", "\ud800", "\udfff", "\ud83d", "\x00", "\x1b[31m",
    "\u200b", "\u200d", "\ufeff", "\u2028", "\u2029", "\u202e", "\u3000", "\r\n", "\n", "\t", " ", "\x0b",
    "Ａ", "ｚ", "１", "！", "？", "，", "。", "、", "…", "～", "“", "”", "嗯", "呃", "额", "啊", "哦", "唔",
    "喂喂喂", "我我我我", "[", "]", "【", "】", "［", "］", "\\", '"', "'", "{lex:apology}", "%s", "{0}",
    "對不起", "讓您久等了", "頭髮", "乾燥", "ＳＢ", "SB", "Sb", "(", ")", "*", "+", "?", "|", "$", "^",
]
EVENTS = ["[客户已等待约2分钟]", "【通话保持中】", "[线路忙]", "[转接]", "［客户来电］", "[", "]", "[]", "[[[]]]"]


@lru_cache(maxsize=1)
def phrases() -> tuple:
    """Literal words of the default rulebook and the emotion lexicons."""
    root = os.path.dirname(sdk.__file__)
    with open(os.path.join(root, "rules", "default.yaml"), encoding="utf-8") as fh:
        book = yaml.safe_load(fh)
    words = set()
    for lexicon in (book.get("lexicons") or {}).values():
        words.update(lexicon)
    for item in (book.get("rules") or []) + (book.get("cues") or []):
        words.update(item.get("phrases") or [])
        for pattern in (item.get("patterns") or []) + (item.get("requires") or []):
            words.update(re.findall(r"[\u4e00-\u9fffA-Za-z]{2,}", pattern))
    lex_dir = os.path.join(root, "lexicons")
    for name in sorted(os.listdir(lex_dir)):
        if name.endswith(".txt"):
            with open(os.path.join(lex_dir, name), encoding="utf-8") as fh:
                words.update(line.split("\t")[0].strip() for line in fh if line.strip() and not line.startswith("#"))
    return tuple(sorted(w for w in words if w))


def _fragment():
    return st.one_of(
        st.sampled_from(phrases()),
        st.sampled_from(phrases()),
        st.sampled_from(TRICKY),
        st.sampled_from(EVENTS),
        st.text(max_size=6),
        st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), max_size=6),
        st.text(st.characters(codec=None, categories=("Cs", "Zs", "Mn", "Cc", "Cf")), max_size=3),
    )


def texts(max_fragments: int = 12):
    """Text as a user might send it, from ordinary to hostile (any str, never empty of type)."""
    joined = st.lists(_fragment(), max_size=max_fragments).map("".join)
    long = st.tuples(_fragment(), st.integers(1, 700)).map(lambda t: t[0] * t[1])
    return st.one_of(joined, joined, joined, long, st.text())


class _BadRepr:
    def __repr__(self):
        raise RuntimeError("repr must not be needed for an error message")


class _HugeRepr:
    def __repr__(self):
        return "x" * 10_000_000


class _EvilStr(str):
    """A str subclass whose methods lie: the SDK must read the characters, not call them."""

    def strip(self, *args):
        raise RuntimeError("strip() of a str subclass called")

    def __len__(self):
        return 0

    def __getitem__(self, item):
        raise RuntimeError("indexing a str subclass")


class Hostile:
    """A hostile value, built only inside the test (hypothesis must be able to print the example)."""

    def __init__(self, kind: str, size: int = 0):
        self.kind, self.size = kind, size

    def __repr__(self):
        return f"Hostile({self.kind!r}, {self.size})"

    def build(self):
        if self.kind == "nested":
            value: list = []
            for _ in range(self.size):
                value = [value]
            return value
        if self.kind == "long_list":
            return [0] * self.size
        if self.kind == "evil_str":
            return _EvilStr("喂，说话呀！")
        return {"bad_repr": _BadRepr, "huge_repr": _HugeRepr}[self.kind]()


def materialize(value):
    """The real value behind Hostile markers (also inside a tuple or dict item)."""
    if isinstance(value, Hostile):
        return value.build()
    if isinstance(value, tuple):
        return tuple(materialize(v) for v in value)
    if isinstance(value, dict):
        return {k: materialize(v) for k, v in value.items()}
    return value


def plain(value):
    """What the SDK should read: a str subclass as its characters, anything else as is."""
    return str.__str__(value) if isinstance(value, str) else value


def not_text():
    """Values that are not str: each must get a TypeError (never a crash deep inside).
    Hostile ones come as ``Hostile`` markers: call ``materialize`` in the test."""
    return st.one_of(
        st.none(), st.integers(), st.integers(min_value=10 ** 4000, max_value=10 ** 4001), st.floats(),
        st.binary(max_size=10), st.booleans(), st.lists(st.text(max_size=3), max_size=3),
        st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
        st.just(bytearray(b"\xff\xfe")), st.just(memoryview(b"abc")),
        st.sampled_from([Hostile("bad_repr"), Hostile("huge_repr"), Hostile("nested", 100_000),
                         Hostile("long_list", 10_000_000)]),
    )


def utterances():
    return st.one_of(texts(), texts(), texts(), texts(), texts(), st.sampled_from(["", " ", "\u3000\n\t", "\r\n"]),
                     not_text(), st.just(Hostile("evil_str")))


def turns():
    """A context as a list of turns (API.md), well-formed or not."""
    turn = st.fixed_dictionaries({"role": st.sampled_from(["customer", "agent", "event", "boss", ""]),
                                  "text": st.one_of(texts(), texts(), st.none(), st.integers())},
                                 optional={"start": st.one_of(st.floats(), st.integers(-5, 10 ** 30)),
                                           "end": st.floats(allow_nan=False)})
    return st.lists(turn, max_size=5)


def contexts():
    return st.one_of(st.none(), texts(), st.builds(lambda e, t: e + t, st.sampled_from(EVENTS), texts()),
                     st.sampled_from(["", "  "]), not_text(), turns())


def is_valid_text(value) -> bool:
    return isinstance(value, str) and bool(str.strip(value))


# --------------------------------------------------------------------------
# What a well-formed result is
# --------------------------------------------------------------------------
def engines(checker_engine: str) -> tuple:
    """Engines a result may name: the model's checker says "rules" where a rule's verdict won."""
    return ("onnx", "rules") if checker_engine == "onnx" else ("rules",)


def check_scores(scores, labels, label):
    assert list(scores) == list(labels) or set(scores) == set(labels), scores
    for value in scores.values():
        assert isinstance(value, float) and math.isfinite(value) and 0.0 <= value <= 1.0, scores
    assert abs(sum(scores.values()) - 1.0) < 1e-3, scores
    assert scores[label] >= max(scores.values()) - 1e-9, (label, scores)


def check_json(result):
    d = result.to_dict()
    text = json.dumps(d, ensure_ascii=True, allow_nan=False)
    if not re.search("[\ud800-\udfff]", text.encode("ascii").decode("unicode_escape", "surrogatepass")):
        # (JSON reads the escapes of a surrogate pair back as one astral character: compare without them)
        assert json.loads(text) == d
    return d


@lru_cache(maxsize=1)
def _rulebook():
    from sdk.rulebook import load_rulebook

    return load_rulebook()


def _normalised_range(norm, start: int, end: int):
    idx = [i for i, off in enumerate(norm.offsets) if start <= off < end]
    assert idx, f"span {start}:{end} covers no normalised character of {norm.original!r}"
    a, b = idx[0], idx[-1] + 1
    assert idx == list(range(a, b))
    assert norm.span(a, b) == (start, end), (norm.span(a, b), start, end)
    return a, b


def check_span(finding, text: str, norm) -> None:
    """``finding`` points at the characters of ``text`` that its rule or cue matched."""
    assert (finding.start is None) == (finding.end is None), finding
    if finding.start is None:
        assert finding.text is None, finding
        return
    assert isinstance(finding.start, int) and isinstance(finding.end, int)
    assert 0 <= finding.start < finding.end <= len(text), (finding, len(text))
    assert finding.text == text[finding.start:finding.end], finding
    a, b = _normalised_range(norm, finding.start, finding.end)
    if finding.rule_id.startswith("emotion."):
        word = finding.message.split("：", 1)[1]
        assert norm.text[a:b] == word, (finding, norm.text[a:b])
        return
    rule = _rulebook().rule(finding.rule_id)
    assert rule.regex.fullmatch(norm.text, a, b) is not None, (finding, norm.text[a:b])


def context_norm(context: str) -> Normalized:
    """The normalised customer words of a context, with offsets into the context itself."""
    _, words, offsets = split_events(context[:MAX_CHARS])
    norm = normalize(words)
    return Normalized(norm.text, tuple(offsets[i] for i in norm.offsets), context)


def check_emotion(result, text: str, engine: str, norm: Optional[Normalized] = None) -> None:
    """An emotion result of ``text`` (for a check's emotion: the context, its cues indexing the context)."""
    assert isinstance(result, sdk.EmotionResult)
    assert result.label in EMOTION_LABELS and result.engine in engines(engine), (result.engine, engine)
    check_scores(result.scores, EMOTION_LABELS, result.label)
    assert all(isinstance(w, str) for w in result.warnings)
    norm = norm if norm is not None else normalize(text[:MAX_CHARS])
    for cue in result.cues:
        check_span(cue, text, norm)
    check_json(result)


def check_emotion_shape(result, engine: str) -> None:
    assert isinstance(result, sdk.EmotionResult)
    assert result.label in EMOTION_LABELS and result.engine in engines(engine)
    check_scores(result.scores, EMOTION_LABELS, result.label)
    for cue in result.cues:
        assert cue.text and 0 <= cue.start < cue.end
    check_json(result)


def check_result(result, utterance: str, context: Optional[str], engine: str) -> None:
    assert isinstance(result, sdk.CheckResult)
    assert result.label in COMPLIANCE_LABELS and result.engine in engines(engine), (result.engine, engine)
    check_scores(result.scores, COMPLIANCE_LABELS, result.label)
    assert utterance.startswith(result.utterance) and len(result.utterance) == min(len(utterance), MAX_CHARS)
    assert all(isinstance(w, str) for w in result.warnings)
    norm = normalize(utterance[:MAX_CHARS])
    for f in result.findings:
        assert isinstance(f, sdk.Finding) and f.source in ("rules", "onnx"), f
        assert f.label in COMPLIANCE_LABELS and f.severity in ("low", "medium", "high"), f
        check_span(f, utterance, norm)
    if isinstance(context, list):  # a turn list: the customer's recent words, cues indexing them
        if result.emotion is not None:
            check_emotion_shape(result.emotion, engine)
    elif is_valid_text(context) and split_events(context[:MAX_CHARS])[1]:
        assert result.emotion is not None
        check_emotion(result.emotion, context, engine, context_norm(context))
    else:
        assert result.emotion is None
    check_json(result)


def same_result(a, b, tol: float) -> None:
    """Two results of the same input agree (labels exactly, scores within ``tol``)."""
    assert a.label == b.label, (a, b)
    for k in a.scores:
        assert abs(a.scores[k] - b.scores[k]) <= tol, (k, a.scores, b.scores)
    assert [f.to_dict() for f in a.findings if f.source == "rules"] == \
        [f.to_dict() for f in b.findings if f.source == "rules"]
