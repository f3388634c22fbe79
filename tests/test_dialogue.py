"""The models' view of a dialogue (sdk.dialogue): one form for string and list-of-turns contexts."""
import pytest

from sdk import dialogue as D

WAIT = [{"role": "customer", "text": "地址改一下"}, {"role": "agent", "text": "还请您稍等，正在为您查询~"},
        {"role": "customer", "text": "好的"}]


@pytest.mark.parametrize("text, expected", [
    ("您好，請您稍等！！", "您好请您稍等!"),
    ("人呢？？？", "人呢?"),
    ("ＯＫ　好的。", "ok好的"),
    ("預計!", "预计!"),
])
def test_model_text_simplifies_and_drops_punctuation(text, expected):
    assert D.model_text(text) == expected


@pytest.mark.parametrize("context, expected", [
    (None, ""),
    ("[客户已等待约2分钟] 喂？还有人吗？", "事件:客户已等待约2分钟 客户:喂?还有人吗?"),
    (WAIT, "客户:地址改一下 客服:还请您稍等正在为您查询 客户:好的"),
    ([{"role": "event", "text": "hold"}], "事件:保持等待"),
])
def test_dialogue_context_marks_roles_oldest_first(context, expected):
    assert D.dialogue_context(context) == expected


def test_context_is_cut_from_the_oldest_end():
    turns = [{"role": "customer", "text": f"第{i}句话" * 10} for i in range(30)]
    ctx = D.dialogue_context(turns, max_turns=8, max_chars=100)
    assert ctx.endswith(D.model_text(turns[-1]["text"])) and "第29句话" in ctx and "第21句话" not in ctx
    assert len(ctx) <= 100 + 8


def test_punctuation_and_script_do_not_change_the_model_input():
    plain = D.model_pair("[客户已等待约2分钟] 喂？还有人吗？", "好的，我帮您查一下。")
    assert D.model_pair("[客户已等待约2分钟] 喂?还有人吗 ?", "好的 我帮您查一下") == plain
    assert D.model_pair("[客戶已等待約2分鐘] 喂？還有人嗎？", "好的，我幫您查一下。") == plain


def test_raw_format_keeps_the_old_model_input():
    assert D.model_pair("[事件] 你好", "好的。", "raw") == ("[事件] 你好", "好的。")
    assert D.model_pair(WAIT, "好的。", "raw") == ("好的", "好的。")
    with pytest.raises(ValueError, match="input_format"):
        D.model_pair(None, "好", "dialogue/9")


def test_ngram_columns_separate_who_said_what_and_when():
    earlier, recent, utt = D.ngram_columns(WAIT, "查到了。")
    assert earlier == "客户:地址改一下 客服:还请您稍等正在为您查询" and recent == "客户:好的" and utt == "查到了"
    assert D.ngram_columns(None, "您好")[:2] == ("∅", "∅")


@pytest.mark.parametrize("turns, event", [
    (WAIT, "[客户等待客服查询后回来]"),
    ([{"role": "agent", "text": "麻烦提供一下订单号"}, {"role": "customer", "text": "[订单x]"}], "[客户按要求提供了信息]"),
    ([{"role": "agent", "text": "您好"}, {"role": "customer", "text": "在吗？？"}], "[客户等待后催问]"),
])
def test_rules_see_what_earlier_turns_imply(turns, event):
    from sdk.context import parse_context

    assert event in parse_context(turns).events
    assert D.derived_events(turns[-1:]) == []  # nothing is implied without an earlier agent turn


@pytest.mark.parametrize("bad, message", [
    ([{"role": "boss", "text": "x"}], "role"),
    ([{"role": "agent", "text": 3}], "text"),
])
def test_malformed_turns_name_index_and_field(bad, message):
    with pytest.raises(ValueError, match=f"turn 0 field '{message}'"):
        D.as_turns(bad)
