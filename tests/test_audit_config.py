"""The call-level thresholds and the score card: validated data, errors naming item and field."""
import textwrap

import pytest

from sdk.audit.config import (
    CHECK_IDS,
    AuditConfigError,
    CallConfig,
    Scorecard,
    load_call_config,
    load_scorecard,
    merge_call,
)
from sdk.rulebook import load_rulebook


def _write(tmp_path, text, name="x.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_default_loads_every_check_with_a_seed_source():
    cfg = load_call_config()
    assert set(cfg.checks) == set(CHECK_IDS)
    for cid in CHECK_IDS:
        assert cfg[cid].source.strip(), cid
    assert cfg["hold.duration"].max_seconds == 60
    assert cfg["answer.rings"].max_rings == 3
    assert cfg["greeting.timing"].max_delay_s == {"phone": 2.0, "chat": 30.0}
    assert cfg["chat.reply_time"].max_reply_s == 60


def test_default_scorecard_selectors_name_real_rules():
    card = load_scorecard(rule_ids=[r.id for r in load_rulebook().rules])
    assert card.pass_mark <= card.total
    assert any(item.critical for item in card.items)


def test_overlay_changes_one_field_and_keeps_the_rest(tmp_path):
    path = _write(tmp_path, """
        call:
          hold.duration: {max_seconds: 90}
          greeting.timing: {max_delay_s: {phone: 3}}
    """)
    cfg = load_call_config(path)
    assert cfg["hold.duration"].max_seconds == 90
    assert cfg["hold.duration"].message == load_call_config()["hold.duration"].message
    assert cfg["greeting.timing"].max_delay_s == {"phone": 3.0, "chat": 30.0}


@pytest.mark.parametrize("overlay, expected", [
    ("call: {hold.duraton: {max_seconds: 90}}", "'hold.duraton': unknown check id"),
    ("call: {hold.duration: {max_seconds: -1}}", "check 'hold.duration' field 'max_seconds'"),
    ("call: {hold.duration: {max_secs: 5}}", "check 'hold.duration' field 'max_secs'"),
    ("call: {speech_rate: {min_cps: 9}}", "min_cps (9.0) must be below max_cps"),
    ("call: {hold.consent: {request: ['稍等(']}}", "check 'hold.consent'"),
    ("call: {hold.duration: {message: '等了{minutes}分钟'}}", "unknown placeholder {minutes}"),
    ("call: {emotion.escalation: {upset: [furious]}}", "unknown emotion label 'furious'"),
    ("call: {interruption: {severity: critical}}", "check 'interruption' field 'severity'"),
    ("rules: []", "no 'call' section"),
])
def test_broken_overlay_names_check_and_field(tmp_path, overlay, expected):
    with pytest.raises(AuditConfigError) as err:
        load_call_config(_write(tmp_path, overlay))
    assert expected in str(err.value)


def test_every_problem_is_reported_not_just_the_first(tmp_path):
    path = _write(tmp_path, """
        call:
          hold.duration: {max_seconds: 0}
          speech_rate: {min_chars: 0}
          chat.reply_time: {channels: [fax]}
    """)
    with pytest.raises(AuditConfigError) as err:
        load_call_config(path)
    text = str(err.value)
    for cid in ("hold.duration", "speech_rate", "chat.reply_time"):
        assert f"check {cid!r}" in text


@pytest.mark.parametrize("card, expected", [
    ("{name: x, pass_mark: 80, items: [{id: a, name: A, checks: [nope], points: 5}]}",
     "item 'a' field 'checks'"),
    ("{name: x, pass_mark: 80, items: [{id: a, name: A, points: 5}]}", "item 'a'"),
    ("{name: x, pass_mark: 80, items: [{id: a, name: A, labels: [rude], points: 5}]}",
     "unknown label 'rude'"),
    ("{name: x, pass_mark: 80, items: [{id: a, name: A, checks: [interruption], points: -2}]}",
     "item 'a' field 'points'"),
    ("{name: x, pass_mark: 120, items: [{id: a, name: A, checks: [interruption], points: 2}]}",
     "pass_mark (120.0) is above total"),
    ("{name: x, pass_mark: 80, items: [{id: a, name: A, rules: [ban.nosuch], points: 2}]}",
     "item 'a' field 'rules': 'ban.nosuch' matches no rule id"),
    ("{name: x, pass_mark: 80, items: [{id: a, name: A, checks: [interruption], points: 2},"
     " {id: a, name: B, checks: [speech_rate], points: 2}]}", "item 'a' field 'id': duplicate"),
])
def test_broken_scorecard_names_item_and_field(tmp_path, card, expected):
    path = _write(tmp_path, f"scorecard: {card}\n")
    with pytest.raises(AuditConfigError) as err:
        load_scorecard(path, rule_ids=[r.id for r in load_rulebook().rules])
    assert expected in str(err.value)


def test_scorecard_file_may_be_the_card_itself(tmp_path):
    path = _write(tmp_path, """
        name: 我们的评分表
        pass_mark: 90
        items:
          - {id: hold, name: 等待, checks: ['hold.*'], points: 10, critical: true}
    """)
    card = load_scorecard(path)
    assert card.name == "我们的评分表" and card.items[0].selects_check("hold.return")
    assert not card.items[0].selects_check("closing.thanks")


def test_models_validate_sections_directly():
    # What the rulebook's v2 loader does with its `call:` and `scorecard:` sections.
    import yaml

    from sdk.audit.config import DEFAULT_CALL_YAML

    raw = yaml.safe_load(open(DEFAULT_CALL_YAML, encoding="utf-8"))
    CallConfig.model_validate(merge_call(raw["call"], {"interruption": {"min_overlap_s": 1}}))
    Scorecard.model_validate(raw["scorecard"])
    with pytest.raises(AuditConfigError):
        merge_call(raw["call"], {"no.such": {}})


def _turn(label, *findings):
    from sdk.results import CheckResult

    return CheckResult(label=label, scores={label: 0.9}, engine="onnx", findings=list(findings))


def _rule(label, severity, located=True):
    from sdk.results import Finding

    start, end = (0, 4) if located else (None, None)
    return Finding("ban.x", label, start, end, "这不归我管" if located else None, "rules", "m", severity=severity)


@pytest.mark.parametrize(
    "turn, expected",
    [
        # the model outvoted a located high-severity forbidden-wording rule: still a call fault
        (_turn("standard", _rule("non_compliant", "high")), "non_compliant"),
        (_turn("standard", _rule("non_compliant", "medium")), None),  # below turn.non_compliant's floor
        (_turn("standard", _rule("non_compliant", "high", located=False)), None),  # nothing in the words
        (_turn("standard", _rule("missing_apology", "high", located=False)), None),  # missing_* has no floor
        (_turn("standard"), None),
    ],
)
def test_rules_min_severity_keeps_red_line_wording_a_call_fault(turn, expected):
    import sdk

    auditor = sdk.Checker(engine="rules")._call_auditor()
    assert auditor._red_line_label(turn, "chat") == expected
