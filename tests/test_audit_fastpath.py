"""The audit's per-turn pass takes shortcuts (contexts parsed without re-validation, each turn
simplified once per batch, results copied by hand): it must give what the plain Checker path gives."""
import pytest

import sdk
from audit_calls import CLEAN_CHAT, CLEAN_PHONE, CLEAN_SILENT, variant
from sdk.audit.auditor import _contexts, _parsed
from sdk.audit.model import parse_call
from sdk.audit.view import build_view
from sdk.context import parse_context
from sdk.normalize import to_simplified_halfwidth

WAITS = {  # a wait asked for, nudges, data supplied: the events earlier turns imply
    "id": "waits", "channel": "chat",
    "turns": [
        {"role": "customer", "text": "？？"},
        {"role": "agent", "text": "您好，请您提供一下订单号，我帮您查询一下，好吗？"},
        {"role": "customer", "text": "订单号是12345678"},
        {"role": "customer", "text": "在吗"},
        {"role": "customer", "text": "人呢？"},
        {"role": "agent", "text": "不好意思让您久等了"},
        {"role": "event", "text": "transfer"},
        {"role": "customer", "text": "還在嗎？？"},
        {"role": "customer", "text": "ＡＢＣ１２３"},
        {"role": "customer", "text": "喂"}, {"role": "customer", "text": "喂"}, {"role": "customer", "text": "喂"},
        {"role": "customer", "text": "喂"}, {"role": "customer", "text": "喂"}, {"role": "customer", "text": "喂"},
        {"role": "agent", "text": "这不归我管，你找别人吧。"},
    ],
}
CALLS = [CLEAN_PHONE, CLEAN_CHAT, CLEAN_SILENT, WAITS, variant(CLEAN_PHONE, ring_seconds=24.0),
         variant(CLEAN_PHONE, {4: {"text": "谢谢您，我查询一下。"}}, delete=[6])]


@pytest.fixture(scope="module")
def checker():
    return sdk.Checker(engine="rules")


@pytest.mark.parametrize("call", CALLS, ids=[c["id"] for c in CALLS])
def test_window_contexts_parse_like_parse_context(checker, call):
    auditor = checker._call_auditor()
    view = build_view(parse_call(call), auditor.config, auditor.patterns, auditor.company)
    windows = [ctx for ctx in _contexts(view).values() if ctx]
    assert windows
    for ctx in windows:
        fast, plain = _parsed(ctx, to_simplified_halfwidth), parse_context([t.to_dict() for t in ctx])
        assert (fast.events, fast.words, fast.turns, fast.text, fast.echo()) == (
            plain.events, plain.words, plain.turns, plain.text, plain.echo())


@pytest.mark.parametrize("call", CALLS, ids=[c["id"] for c in CALLS])
def test_audit_turn_results_equal_checker_results(checker, call):
    a = checker.audit(call)
    auditor = checker._call_auditor()
    view = build_view(parse_call(call), auditor.config, auditor.patterns, auditor.company)
    contexts = _contexts(view)
    for turn, result in zip(view.call.turns, a.turns):
        if turn.role == "agent":
            ctx = contexts[turn.index]
            plain = checker.check(turn.text, context=[t.to_dict() for t in ctx] if ctx else None)
            assert result.to_dict() == plain.to_dict()
        elif turn.role == "customer" and result is not None:
            assert result.to_dict() == checker.emotion(turn.text).to_dict()


@pytest.mark.parametrize("text, has_emotion", [("？？", True), ("...", True), ("", False), ("(无声)", False)])
def test_punctuation_only_customer_turn_gets_an_emotion(checker, text, has_emotion):
    a = checker.audit({"channel": "chat", "turns": [
        {"role": "customer", "text": text}, {"role": "agent", "text": "您好，请问有什么可以帮您？"}]})
    assert isinstance(a.turns[0], sdk.EmotionResult) is has_emotion
    assert [p["turn"] for p in a.emotion.to_dict()["per_turn"]] == ([0] if has_emotion else [])
