"""The committed real-conversation selection and the helpers that rebuild it."""
import collections

import pytest

from training import real_conv


@pytest.fixture(scope="module")
def convs():
    return real_conv.load()


def test_committed_selection_meets_the_issue_minimums(convs):
    roles = collections.Counter(t["role"] for c in convs for t in c["turns"])
    assert len(convs) >= 300 and roles["agent"] >= 3000 and roles["customer"] >= 2000
    assert len({c["source"] for c in convs}) >= 3
    assert len({c["conv_id"] for c in convs}) == len(convs)


def test_turns_are_numbered_and_capped(convs):
    for c in convs:
        assert [t["i"] for t in c["turns"]] == list(range(len(c["turns"])))
        assert real_conv.MIN_TURNS <= len(c["turns"]) <= real_conv.MAX_TURNS
        assert c["licence"] and c["channel"] and all(t["text"].strip() for t in c["turns"])


def test_sheet_parts_are_disjoint_and_stratified(convs):
    parts = real_conv.sheet_parts(convs)
    ids1 = {c["conv_id"] for c in parts["part1"]}
    ids2 = {c["conv_id"] for c in parts["part2"]}
    assert not ids1 & ids2 and len(ids1) + len(ids2) == len(convs)
    per = collections.Counter((c["source"], p) for p, cs in parts.items() for c in cs)
    for source in {c["source"] for c in convs}:
        assert abs(per[(source, "part1")] - per[(source, "part2")]) <= 1


@pytest.mark.parametrize("messages, expected", [
    ([("customer", "你好"), ("customer", "在吗"), ("agent", "您好")], [("customer", "你好 在吗"), ("agent", "您好")]),
    ([("agent", "  "), ("agent", "好的")], [("agent", "好的")]),
    ([("agent", "a"), ("customer", "b"), ("agent", "c")], [("agent", "a"), ("customer", "b"), ("agent", "c")]),
])
def test_consecutive_messages_of_one_speaker_make_one_turn(messages, expected):
    turns = []
    for role, text in messages:
        real_conv._append(turns, role, text, merge=True)
    assert [(t["role"], t["text"]) for t in turns] == expected


def test_word_segmentation_spaces_are_removed_between_chinese_only():
    assert real_conv._SEG_SPACE.sub("", "亲 现在 只要 收藏 本店 100 片") == "亲现在只要收藏本店100片"
    assert real_conv._SEG_SPACE.sub("", "ok thanks") == "ok thanks"


def test_sheet_lines_carry_id_role_and_text(convs):
    text = real_conv.sheet_text(convs[:1])
    c = convs[0]
    t = c["turns"][0]
    assert f"{c['conv_id']}#0 [{real_conv.ROLE_ZH[t['role']]}] " in text
    items = real_conv.items(convs[:1])
    assert len(items) == sum(t["role"] != "event" for t in c["turns"])
