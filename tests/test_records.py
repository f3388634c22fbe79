"""Records and formatters: validation/coercion shared by every front end, readers and writers."""
import io
import json

import pytest

from sdk import formatters, records


@pytest.mark.parametrize("item, utterance, context", [
    ("好的", "好的", None),
    (("好的", "我建议你们周末也开门"), "好的", "我建议你们周末也开门"),
    ({"utterance": "好的", "context": "  "}, "好的", None),
    ({"utterance": "好的", "context": [{"role": "customer", "text": "在吗"}]}, "好的", [{"role": "customer", "text": "在吗"}]),
])
def test_coerce_check_item(item, utterance, context):
    got = records.coerce_check_item(item, 0)
    assert got.utterance == utterance and got.context == context


@pytest.mark.parametrize("item, exc, match", [
    (42, TypeError, "item 3 must be a str"), ("", ValueError, "item 3 must contain text"),
    ({"text": "好的"}, ValueError, "without an 'utterance' key"), (("好的", 5), TypeError, "context must be"),
])
def test_coerce_check_item_errors(item, exc, match):
    with pytest.raises(exc, match=match):
        records.coerce_check_item(item, 3)


def test_long_input_is_truncated_with_notes():
    item = records.check_input("好" * (records.MAX_CHARS + 5), [{"role": "customer", "text": "啊" * (records.MAX_CHARS + 1)}])
    assert len(item.utterance) == records.MAX_CHARS and len(item.parsed.words) == records.MAX_CHARS
    assert len(item.notes) == 2 and "context turn 0" in item.notes[1]


@pytest.mark.parametrize("fmt, text, want", [
    ("jsonl", '{"utterance": "好的"}\n\n{bad\n', [(1, {"utterance": "好的"}), (3, ValueError)]),
    ("csv", "utterance,context\n好的,\n", [(2, {"utterance": "好的", "context": ""})]),
    ("text", "谢谢\n\n好的\n", [(1, {"text": "谢谢"}), (3, {"text": "好的"})]),
])
def test_read_records(fmt, text, want):
    got = list(records.read_records(io.StringIO(text), fmt))
    assert [n for n, _ in got] == [n for n, _ in want]
    for (_, rec), (_, expected) in zip(got, want):
        assert isinstance(rec, expected) if isinstance(expected, type) else rec == expected


def test_run_records_keeps_one_row_per_record(rules_checker):
    rows = records.run_records(rules_checker, "check", [
        (1, {"id": "a", "utterance": "您好，请问有什么可以帮您？"}), (2, ValueError("line is not valid JSON")),
        (3, {"id": "c", "utterance": ""}), (4, "好的"),
    ])
    assert [r["line"] for r in rows] == [1, 2, 3, 4]
    assert ["error" in r for r in rows] == [False, True, True, False]
    assert rows[0]["id"] == "a" and rows[2]["id"] == "c"
    with pytest.raises(ValueError, match="command must be one of check, emotion"):
        records.run_records(rules_checker, "audit", [])


def test_formatters(rules_checker):
    d = rules_checker.check("喂，说话呀！").to_dict()
    assert json.loads(formatters.to_json(d))["label"] == "non_compliant"
    table = formatters.to_table([{"line": 1, **d}, {"line": 2, "error": "ValueError: x"}], "check")
    assert "non_compliant" in table and "ERROR  ValueError: x" in table and "ban.wei_impatient" in table
    assert formatters.render([{"line": 1, **d}], "json", "check").count("\n") == 1
