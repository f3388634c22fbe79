"""Rulebook schema v2: every problem reported, rule-like data (company greeting, emotion weights),
the audit's call:/scorecard: sections, binding rules."""
from pathlib import Path

import pytest

import sdk
from sdk.engines.rules_engine import RulesEngine
from sdk.rulebook import SCHEMA_VERSION, RulebookError, load_rulebook

FIXTURES = Path(__file__).parent / "fixtures" / "rulebooks"


def test_rulebook_error_is_public():
    assert sdk.RulebookError is RulebookError and issubclass(RulebookError, ValueError)
    assert load_rulebook().version == SCHEMA_VERSION == 2


def test_a_file_with_three_errors_reports_three():
    with pytest.raises(RulebookError) as info:
        load_rulebook([FIXTURES / "three_errors.yaml"])
    problems = info.value.problems
    assert len(problems) == 3, problems
    assert "rule 'custom.a'" in problems[0] and "field 'label'" in problems[0]
    assert "rule 'custom.b'" in problems[1] and "field 'patterns'" in problems[1]
    assert "rule 'custom.c'" in problems[2] and "field 'when_cues'" in problems[2]
    assert str(info.value).startswith("3 problems:")


def test_overlay_and_rule_problems_are_reported_together(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("disabel: [ban.slang]\noverrides: {ban.nope: {severity: low}}\n"
                   "rules: [{id: custom.x, kind: forbidden, label: non_compliant, scenario: nowhere, phrases: [甲], "
                   "message: m, source: s}]\n", encoding="utf-8")
    with pytest.raises(RulebookError) as info:
        load_rulebook([bad])
    text = "\n".join(info.value.problems)
    assert len(info.value.problems) == 3
    assert "unknown overlay key" in text and "ban.nope" in text and "field 'scenario'" in text


def test_company_greeting_rule_is_data():
    rule = load_rulebook([FIXTURES / "overlay_company.yaml"]).rule("greeting.company_name")
    assert rule.advisory and rule.when_cues == ("greeting",)
    # without a company name the rule does not run at all
    assert "greeting.company_name" not in {r.id for r in load_rulebook().rules}


def test_emotion_weights_are_data(tmp_path):
    default = RulesEngine()
    assert default.rulebook.emotion.table["傻逼"] == (("angry", 2.5),)  # the profanity weight, from YAML
    lighter = tmp_path / "lighter.yaml"
    lighter.write_text("emotion:\n  lexicons:\n    angry: []\n  words: {anxious: {快点儿吧: 3.0}}\n", encoding="utf-8")
    engine = RulesEngine(load_rulebook([lighter]))
    assert engine.emotion_one("快点儿吧").label == "anxious"
    assert engine.emotion_one("快点儿吧").scores["anxious"] > default.emotion_one("快点儿吧").scores["anxious"]
    broken = tmp_path / "broken.yaml"
    broken.write_text("emotion:\n  negated: {happy: angry}\n  lexicons: {angry: [{file: nope.txt}]}\n", encoding="utf-8")
    with pytest.raises(RulebookError) as info:
        load_rulebook([broken])
    assert "unknown emotion label 'happy'" in str(info.value)


def test_call_and_scorecard_sections_are_validated(tmp_path):
    pytest.importorskip("sdk.audit.config")
    good = tmp_path / "good.yaml"
    good.write_text("call: {hold.duration: {max_seconds: 90}}\n", encoding="utf-8")
    book = load_rulebook([good])
    assert book.call is not None and book.call["hold.duration"].max_seconds == 90
    assert load_rulebook().call is None  # the audit's own defaults apply
    bad = tmp_path / "bad.yaml"
    bad.write_text("call: {hold.duration: {max_seconds: -5}}\n"
                   "scorecard: {name: x, pass_mark: 200, items: [{id: a, name: a, rules: ['nope.*'], points: 1}]}\n",
                   encoding="utf-8")
    with pytest.raises(RulebookError) as info:
        load_rulebook([bad])
    text = str(info.value)
    assert "call" in text and "max_seconds" in text and "scorecard" in text


def test_overlay_rules_bind_unless_they_say_otherwise(tmp_path):
    book = load_rulebook([FIXTURES / "overlay_company.yaml"])
    assert book.rule("custom.required.closing_slogan").binding and book.rule("custom.forbidden.1").binding
    assert not any(r.binding for r in load_rulebook().rules)
    soft = tmp_path / "soft.yaml"
    soft.write_text("required_phrases: [{id: custom.soft, when_cues: [closing], phrases: [再会], binding: false}]\n"
                    "overrides: {ban.slang: {binding: true}}\n", encoding="utf-8")
    book = load_rulebook([soft])
    assert not book.rule("custom.soft").binding and book.rule("ban.slang").binding
