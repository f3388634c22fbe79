"""Parsed contexts: a string or a list of turns, parsed once; its emotion computed once."""
import pytest

import sdk
from sdk.context import Turn, parse_context
from sdk.engines.base import CheckInput

WAIT = "[客户已等待约2分钟] 喂？还有人吗？"


@pytest.mark.parametrize("value, events, words", [
    (WAIT, "[客户已等待约2分钟]", "喂？还有人吗？"),
    ("我建议你们周末也开门", "", "我建议你们周末也开门"),
    ([{"role": "customer", "text": "喂？还有人吗？"}], "", "喂？还有人吗？"),
    ([{"role": "agent", "text": "请您稍等"}, {"role": "event", "text": "hold", "start": 3.0, "end": 75.0},
      {"role": "customer", "text": "喂？"}], "[保持等待约72秒][客户等待客服查询后回来]", "喂？"),  # + what "请您稍等" implies
    # only what came after the agent last spoke is "recent"
    ([{"role": "customer", "text": "你们太慢了"}, {"role": "agent", "text": "对不起"},
      {"role": "customer", "text": "好吧"}], "", "好吧"),
    ([{"role": "event", "text": "客户已等待约2分钟"}, {"role": "customer", "text": "喂？"}], "[客户已等待约2分钟]", "喂？"),
])
def test_parse_context(value, events, words):
    c = parse_context(value)
    assert (c.events, c.words) == (events, words)


@pytest.mark.parametrize("value", [None, "", "  ", []])
def test_no_context(value):
    assert parse_context(value) is None


@pytest.mark.parametrize("value, exc, match", [
    (5, TypeError, "context must be a str, a list of turns or None"),
    (b"x", TypeError, "context must be"),
    ([{"role": "boss", "text": "x"}], ValueError, "context turn 0 field 'role' must be one of customer, agent, event"),
    ([{"role": "customer", "text": "x"}, {"role": "agent"}], ValueError, "context turn 1 field 'text'"),
    ([{"role": "event", "text": "hold", "start": -1}], ValueError, "context turn 0 field 'start'"),
    ([{"role": "event", "text": "hold", "start": 5, "end": 2}], ValueError, "context turn 0 field 'end'"),
    (["喂？"], ValueError, "context turn 0 must be a dict"),
])
def test_malformed_context_names_index_and_field(rules_checker, value, exc, match):
    with pytest.raises(exc, match=match):
        parse_context(value)
    with pytest.raises(exc, match=match):
        rules_checker.check("好的", context=value)


def test_turn_list_context_decides_like_the_string(rules_checker):
    turns = [{"role": "agent", "text": "请您稍等，我帮您查一下"}, {"role": "event", "text": "hold", "start": 5, "end": 130},
             {"role": "customer", "text": "喂？还有人吗？"}]
    r = rules_checker.check("好的，我帮您查一下。", context=turns)
    assert r.label == rules_checker.check("好的，我帮您查一下。", context=WAIT).label == "missing_apology"
    assert r.context == turns and r.emotion is not None
    assert rules_checker.check("对不起，让您久等了。", context=turns).label == "standard"
    # accepted in batches too, and Turn objects as well as dicts
    batch = rules_checker.check_batch([("好的，我帮您查一下。", turns),
                                       {"utterance": "好的", "context": [Turn("customer", "我建议你们周末也开门")]}])
    assert [b.label for b in batch] == ["missing_apology", "missing_thanks"]
    assert batch[1].to_dict()["context"] == [{"role": "customer", "text": "我建议你们周末也开门"}]


def _spy(monkeypatch, module_name: str, func_name: str) -> list:
    """Count calls of sdk.<module>.<func> wherever an sdk module imported it."""
    import sys

    original = getattr(sys.modules[module_name], func_name)
    calls: list = []

    def spy(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    for name, module in list(sys.modules.items()):
        if (name == "sdk" or name.startswith("sdk.")) and getattr(module, func_name, None) is original:
            monkeypatch.setattr(module, func_name, spy)
    return calls


def test_one_check_parses_its_context_once_and_its_emotion_once(monkeypatch, rules_checker):
    # a context never seen before, so no cache answers for it
    words = "你们的人到底什么时候来？？我等了一上午了，第七次打电话"
    context = f"[客户已等待约3分钟] {words}"
    strip = _spy(monkeypatch, "sdk.normalize", "strip_events")
    norm = _spy(monkeypatch, "sdk.normalize", "normalize")
    emotion = _spy(monkeypatch, "sdk.engines.rules_engine", "_emotion")
    r = rules_checker.check("好的，我帮您查一下。", context=context)
    assert r.emotion is not None
    assert len(strip) == 1
    assert [args[0] for args in norm].count(words) == 1  # the context's words: normalised once
    assert len(emotion) == 1


def test_auto_engine_computes_the_context_emotion_once(monkeypatch):
    # engine="auto" with a model: one model emotion pass and one rules pass, for a whole batch
    from conftest import FixedEngine, make_emotion, make_verdict

    from sdk.engines.hybrid import HybridEngine

    model = FixedEngine("onnx", make_verdict("standard", "onnx"), make_emotion("angry", "onnx"))
    rules = FixedEngine("rules", make_verdict("standard", "rules"), make_emotion("angry", "rules"))
    hybrid = HybridEngine(model, rules, policy="model")
    items = [CheckInput("好的", WAIT), CheckInput("好的呢", WAIT), CheckInput("嗯", "你们太慢了")]
    results = hybrid.check_batch(items)
    assert all(r.emotion.label == "angry" for r in results)
    assert model.calls.count("emotion_batch") == 1 and rules.calls.count("emotion_batch") == 1
    assert results[0].emotion is not results[1].emotion


def test_customer_words_accepts_turns():
    from sdk.checker import customer_words

    assert customer_words([{"role": "event", "text": "hold"}]) is None
    assert customer_words([{"role": "customer", "text": "在吗"}]) == "在吗"


def test_public_types_are_exported():
    assert sdk.Turn is Turn and sdk.DecidedBy is not None
