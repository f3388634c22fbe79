"""Rulebook loading, validation and overlays."""
import re
from pathlib import Path

import pytest

from sdk.labels import COMPLIANCE_LABELS
from sdk.rulebook import SCENARIOS, SEVERITIES, RulebookError, load_rulebook, split_alternatives

FIXTURES = Path(__file__).parent / "fixtures" / "rulebooks"


def test_default_rulebook_loads_and_is_cached():
    book = load_rulebook()
    assert book is load_rulebook()  # loaded once
    assert len(book.rules) >= 40
    ids = [r.id for r in book.rules]
    assert len(ids) == len(set(ids))


def test_every_rule_is_well_formed():
    for rule in load_rulebook().rules:
        assert rule.label in COMPLIANCE_LABELS and rule.label != "standard", rule.id
        assert rule.severity in SEVERITIES, rule.id
        assert rule.scenario in SCENARIOS, rule.id
        assert rule.message and rule.source, rule.id
        if rule.kind == "forbidden":
            assert rule.regex is not None, rule.id
        else:
            assert rule.requires is not None and (rule.when_cues or rule.when_utterance), rule.id


def test_rulebook_covers_the_seed_situations():
    scenarios = {r.scenario for r in load_rulebook().rules} | {c.scenario for c in load_rulebook().cues}
    needed = {"greeting", "silent_call", "cannot_hear", "wrong_number", "private_call", "ask_repeat",
              "long_info", "verify_details", "transfer", "complaint_busy_line", "complaint_slow",
              "complaint_attitude", "complaint_error", "abusive_caller", "cannot_answer_now", "hold_request",
              "hold_return", "equipment_fault", "agent_personal_info", "suggestion", "ask_forgiveness",
              "customer_apologises", "customer_thanks", "request_cannot_be_met", "closing",
              "customer_greets", "outbound_call", "disclosure_request", "info_supplied"}
    assert needed <= scenarios, needed - scenarios


SAMPLES = ["喂，说话呀！", "我也没办法，刚刚线路忙啊！", "您过两天再打来吧", "这不归我管", "嗯。", "再不说话我就挂了啊",
           "你声音大一点", "好的，请您稍等", "我是新来的", "听懂了吧？", "[客户已等待约2分钟]|喂？还有人吗？",
           "你们态度太差了，我要投诉", "谢谢你啊，服务真好", "我的手机号是13912345678", "没有了，再见",
           "这么简单的都不会？自己看去吧", "想得美，爱要不要", "[线路忙，客户重拨了三次]|怎么这么难打"]


def test_prefilter_anchors_are_sound():
    """Every match of a rule/cue alternative contains one of its anchors (else the engine would skip it)."""
    book = load_rulebook()
    checked = 0
    for item in list(book.rules) + list(book.cues):
        pairs = list(item.branches)
        if isinstance(item, type(book.rules[0])):
            pairs += [(item.regex, item.prefilter), (item.when_utterance, item.utterance_prefilter)]
        else:
            pairs.append((item.regex, item.prefilter))
        for regex, anchors in pairs:
            if regex is None or anchors is None:
                continue
            for text in SAMPLES:
                for m in regex.finditer(text):
                    if m.end() > m.start():
                        checked += 1
                        assert any(a in m.group() for a in anchors), (item.id, text, m.group(), anchors)
    assert checked > 30


def test_branches_cover_the_whole_pattern():
    """Splitting a rule into alternatives finds exactly what the whole regex finds."""
    for rule in load_rulebook().rules:
        if rule.kind != "forbidden":
            continue
        for text in SAMPLES:
            whole = rule.regex.search(text) is not None
            parts = any(b.search(text) for b, _ in rule.branches)
            assert whole == parts, (rule.id, text)


@pytest.mark.parametrize("pattern, parts", [
    ("a|b", ["a", "b"]),
    ("(a|b)c|d", ["(a|b)c", "d"]),
    ("[|]x|y", ["[|]x", "y"]),
    (r"\|x|y", [r"\|x", "y"]),
    (r"\\|x", [r"\\", "x"]),
    ("(?:a|(b|c))|[^)|]d", ["(?:a|(b|c))", "[^)|]d"]),
])
def test_split_alternatives(pattern, parts):
    assert split_alternatives(pattern) == parts


@pytest.mark.parametrize("fixture, rule_id, field", [
    ("bad_regex.yaml", "custom.bad_regex", "patterns"),
    ("unknown_label.yaml", "custom.unknown_label", "label"),
    ("duplicate_id.yaml", "custom.twice", "id"),
    ("duplicate_cue.yaml", "dup_cue", "id"),
    ("missing_field.yaml", "custom.missing_message", "message"),
    ("bad_severity.yaml", "custom.bad_severity", "severity"),
    ("unknown_scenario.yaml", "custom.unknown_scenario", "scenario"),
    ("unknown_cue.yaml", "custom.unknown_cue", "when_cues"),
    ("unknown_lexicon.yaml", "custom.unknown_lexicon", "patterns"),
])
def test_broken_overlays_name_rule_and_field(fixture, rule_id, field):
    with pytest.raises(RulebookError) as info:
        load_rulebook([FIXTURES / fixture])
    message = str(info.value)
    assert repr(rule_id) in message
    assert re.search(rf"field '{field}'", message), message
    assert isinstance(info.value, ValueError)


def test_duplicate_id_in_a_full_rulebook():
    with pytest.raises(RulebookError, match=r"rule 'ban\.a' field 'id': duplicate"):
        load_rulebook(base=FIXTURES / "full_book_duplicate.yaml")


def test_not_a_mapping():
    with pytest.raises(RulebookError, match="top level must be a mapping"):
        load_rulebook([FIXTURES / "not_a_mapping.yaml"])


def test_missing_file_is_file_not_found():
    with pytest.raises(FileNotFoundError, match="no_such.yaml"):
        load_rulebook([FIXTURES / "no_such.yaml"])


def test_invalid_yaml(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [unclosed\n", encoding="utf-8")
    with pytest.raises(RulebookError, match="not valid YAML"):
        load_rulebook([bad])


def test_unknown_overlay_key(tmp_path):
    bad = tmp_path / "typo.yaml"
    bad.write_text("disabel: [ban.slang]\n", encoding="utf-8")
    with pytest.raises(RulebookError, match="unknown overlay key"):
        load_rulebook([bad])


def test_override_and_disable_unknown_ids(tmp_path):
    for text in ("overrides: {ban.nope: {severity: low}}\n", "disable: [ban.nope]\n"):
        bad = tmp_path / "o.yaml"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(RulebookError, match="ban.nope"):
            load_rulebook([bad])


def test_overlay_merges():
    book = load_rulebook([FIXTURES / "overlay_company.yaml"])
    default = load_rulebook()
    ids = {r.id for r in book.rules}
    assert book.company_name == "星河电力"
    assert "ban.slang" not in ids and "ban.slang" in {r.id for r in default.rules}
    assert book.rule("ban.filler_only").severity == "low"
    assert default.rule("ban.filler_only").severity == "medium"  # the cached default is untouched
    assert {"custom.forbidden.1", "custom.forbidden.2", "custom.required.closing_slogan"} <= ids
    assert book.rule("custom.forbidden.2").severity == "high"
    assert "万分抱歉哈" in book.lexicons["apology"]
