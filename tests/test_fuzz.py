"""Property-based fuzzing of the public API, for both engines.

Any input either gets a documented exception (TypeError for a value that is not
a str, ValueError for an empty one) or a well-formed result whose spans index
the original text at the characters their rule matched.

Fast profile (default test run): a few dozen examples per property.
Long profile (acceptance: FUZZ_EXAMPLES examples per single-input property, default 100,000, and an
eighth as many batches of up to 200 inputs; FUZZ_EXAMPLES=4000 already gives over 100,000 inputs per
engine, most of them in batches):

    HYPOTHESIS_PROFILE=long FUZZ_EXAMPLES=4000 python -m pytest tests/test_fuzz.py -s

It prints the number of inputs checked per engine and API (and writes them to
$FUZZ_REPORT as JSON when that is set).
"""
from __future__ import annotations

import collections
import json
import os
import time
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sdk
from fuzzing import (FUZZ, FUZZ_BATCH, LONG, PROFILE, check_emotion, check_result, contexts, is_valid_text, materialize,
                     plain, same_result, texts, utterances)

COUNTS: "collections.Counter[str]" = collections.Counter()
# The long profile's inputs come mostly in batches of 50-200 valid texts (cheaper per input); the fast
# profile's small batches also hold invalid items (the whole batch is then refused with ValueError).
BATCH_MIN, BATCH_MAX = (50, 200) if LONG else (1, 24)


def _batch_texts():
    return texts().filter(is_valid_text) if LONG else texts()
ENGINES = ("rules", "onnx")


@pytest.fixture(scope="module", autouse=True)
def _report():
    start = time.perf_counter()
    yield
    per_engine = collections.Counter()
    for key, n in COUNTS.items():
        per_engine[key.split(":")[0]] += n
    report = {"profile": PROFILE, "seconds": round(time.perf_counter() - start, 1),
              "inputs_per_engine": dict(per_engine), "inputs": dict(sorted(COUNTS.items()))}
    print("\nfuzz report:", json.dumps(report, ensure_ascii=False))
    if os.environ.get("FUZZ_REPORT"):
        with open(os.environ["FUZZ_REPORT"], "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=1)


@pytest.fixture(scope="module", params=ENGINES)
def checker(request):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "onnx" must not silently be the rules
        try:
            return sdk.Checker(engine=request.param)
        except sdk.ModelUnavailable as exc:  # pragma: no cover - the onnx extra is part of the test install
            pytest.skip(f"model engine unavailable: {exc}")


def _expect(value, what_fails):
    """(exception type the API documents for ``value``, or None)."""
    if not isinstance(value, str):
        return TypeError
    return None if what_fails(value) else ValueError


def _count(checker, api, n=1, outcome="ok"):
    COUNTS[f"{checker.requested_engine}:{api}:{outcome}"] += n


def _call(fn, expected):
    """Run ``fn``; an exception must be the documented one, with a short message."""
    try:
        result = fn()
    except (TypeError, ValueError) as exc:
        assert expected is not None and isinstance(exc, expected), f"unexpected {type(exc).__name__}: {exc}"
        assert len(str(exc)) < 2000, "error messages stay short whatever the input"
        return None, type(exc).__name__
    assert expected is None, f"expected {expected.__name__}, got a result"
    return result, "ok"


@given(utterance=utterances(), context=contexts())
@FUZZ
def test_check(checker, utterance, context):
    utterance, context = materialize(utterance), materialize(context)
    expected = _expect(utterance, is_valid_text)
    turn_list = isinstance(context, (list, tuple))
    if expected is None and context is not None and not isinstance(context, str) and not turn_list:
        expected = TypeError
    try:
        result, outcome = _call(lambda: checker.check(utterance, context=context), expected)
    except AssertionError:
        if not (expected is None and turn_list):
            raise
        # a malformed turn is a ValueError naming its index and field
        with pytest.raises(ValueError, match="context turn"):
            checker.check(utterance, context=context)
        result, outcome = None, "ValueError"
    _count(checker, "check", outcome=outcome)
    if result is not None:
        ctx = list(context) if turn_list else plain(context) if is_valid_text(context) else None
        check_result(result, plain(utterance), ctx, checker.engine)


@given(text=utterances())
@FUZZ
def test_emotion(checker, text):
    text = materialize(text)
    result, outcome = _call(lambda: checker.emotion(text), _expect(text, is_valid_text))
    _count(checker, "emotion", outcome=outcome)
    if result is not None:
        check_emotion(result, plain(text), checker.engine)


def _pairs():
    return st.lists(st.one_of(_batch_texts(), st.tuples(_batch_texts(), st.one_of(st.none(), texts())),
                              st.builds(lambda u, c: {"utterance": u, "context": c}, _batch_texts(),
                                        st.one_of(st.none(), texts()))),
                    min_size=BATCH_MIN, max_size=BATCH_MAX)


def _unpack(item):
    if isinstance(item, str):
        return item, None
    if isinstance(item, dict):
        return item["utterance"], item["context"]
    return item


@given(items=_pairs())
@FUZZ_BATCH
def test_check_batch_matches_single_calls(checker, items):
    pairs = [_unpack(i) for i in items]
    valid = all(is_valid_text(u) for u, _ in pairs)
    results, outcome = _call(lambda: checker.check_batch(items), None if valid else ValueError)
    _count(checker, "check_batch", len(items), outcome)
    if results is None:
        return
    assert len(results) == len(items)
    for (u, c), r in zip(pairs, results):
        check_result(r, u, c, checker.engine)
    # one input's result does not depend on which others share its batch (float noise aside)
    for (u, c), r in list(zip(pairs, results))[:3]:
        same_result(r, checker.check(u, context=c), tol=1e-4)


@given(items=st.lists(_batch_texts(), min_size=BATCH_MIN, max_size=BATCH_MAX))
@FUZZ_BATCH
def test_emotion_batch_matches_single_calls(checker, items):
    valid = all(is_valid_text(t) for t in items)
    results, outcome = _call(lambda: checker.emotion_batch(items), None if valid else ValueError)
    _count(checker, "emotion_batch", len(items), outcome)
    if results is None:
        return
    assert len(results) == len(items)
    for t, r in zip(items, results):
        check_emotion(r, t, checker.engine)
    single = checker.emotion(items[0])
    assert single.label == results[0].label
    assert all(abs(single.scores[k] - results[0].scores[k]) <= 1e-4 for k in single.scores)


@given(item=st.one_of(utterances(), st.tuples(utterances(), contexts()), st.tuples(utterances()),
                      st.tuples(texts(), texts(), texts()),
                      st.dictionaries(st.sampled_from(["utterance", "context", "contxt", "text", "id"]),
                                      st.one_of(texts(), st.none()), max_size=3)))
@FUZZ
def test_check_batch_item_forms(checker, item):
    """Every item form is either accepted as documented or refused with TypeError/ValueError."""
    item = materialize(item)
    try:
        results = checker.check_batch([item])
    except (TypeError, ValueError) as exc:
        _count(checker, "check_batch_forms", outcome=type(exc).__name__)
        assert len(str(exc)) < 2000
        return
    _count(checker, "check_batch_forms")
    assert isinstance(item, (str, tuple, list, dict)) and len(results) == 1
    u, c = (item, None) if isinstance(item, str) else (item["utterance"], item.get("context")) \
        if isinstance(item, dict) else item
    assert is_valid_text(u)
    ctx = list(c) if isinstance(c, (list, tuple)) else plain(c) if is_valid_text(c) else None
    check_result(results[0], plain(u), ctx, checker.engine)
    if isinstance(item, dict):
        assert set(item) <= {"utterance", "context"}, f"unknown keys accepted silently: {sorted(item)}"


def _calls():
    turn = st.fixed_dictionaries(
        {"role": st.sampled_from(["agent", "customer", "event", "boss"]),
         "text": st.one_of(texts(), st.sampled_from(["hold", "mute", "transfer", "agent_hangup"]), st.none())},
        optional={"start": st.one_of(st.floats(), st.integers(-5, 10 ** 6)), "end": st.floats(allow_nan=False)})
    return st.fixed_dictionaries({"turns": st.lists(turn, max_size=8)},
                                 optional={"channel": st.sampled_from(["phone", "chat", "fax"]),
                                           "id": st.one_of(st.text(max_size=5), st.integers()),
                                           "ring_seconds": st.one_of(st.floats(), st.integers(-3, 100))})


@given(call=_calls())
@FUZZ_BATCH
def test_audit(checker, call):
    """A whole call: an AuditResult whose turn results are well formed, or a ValueError/TypeError."""
    try:
        result = checker.audit(call)
    except (TypeError, ValueError) as exc:
        _count(checker, "audit", outcome=type(exc).__name__)
        assert len(str(exc)) < 2000
        return
    _count(checker, "audit", len(call["turns"]))
    assert len(result.turns) == len(call["turns"])
    json.dumps(result.to_dict(), allow_nan=False)
    for turn, out in zip(call["turns"], result.turns):
        if isinstance(out, sdk.CheckResult):
            for f in out.findings:
                if f.start is not None:
                    assert turn["text"][f.start:f.end] == f.text
