"""Call-level checks, table-driven: clean calls pass with no finding; each planted fault is
found by its check on the right turn(s). Rules engine, so the per-turn part is deterministic."""
import pytest
from audit_calls import CLEAN_CHAT, CLEAN_PHONE, CLEAN_SILENT, variant

import sdk


@pytest.fixture(scope="module")
def checker():
    return sdk.Checker(engine="rules")


@pytest.mark.parametrize("call", [CLEAN_PHONE, CLEAN_CHAT, CLEAN_SILENT], ids=lambda c: c["id"])
def test_clean_calls_pass_without_findings(checker, call):
    a = checker.audit(call)
    assert a.findings == [], [(f.check_id, f.turns, f.message) for f in a.findings]
    assert a.passed and a.score == 100
    assert all(r.label == "standard" for r in a.turns if isinstance(r, sdk.CheckResult))


def _hold(start, end):
    return {"role": "event", "text": "hold", "start": start, "end": end}


FAULTS = [
    # (name, call, check id, turns that must be named)
    ("greeting missing", variant(CLEAN_PHONE, {0: {"text": "星河电力客服中心，请讲。"}}), "greeting.content", {0}),
    ("greeting late", variant(CLEAN_PHONE, {0: {"start": 3.5}}), "greeting.timing", {0}),
    ("late answer no apology", variant(CLEAN_PHONE, ring_seconds=24.0), "answer.rings", {0}),
    ("hold without consent", variant(CLEAN_PHONE, {4: {"text": "谢谢您，我需要帮您查询一下。"}}), "hold.consent", {4, 6}),
    ("customer refused hold", variant(CLEAN_PHONE, {5: {"text": "不行，我没时间等。"}}), "hold.consent", {5}),
    ("hold too long", variant(CLEAN_PHONE, {6: {"end": 95.0}, 7: {"start": 95.5, "end": 102.0},
                                            8: {"start": 102.5, "end": 104.0}, 9: {"start": 104.3, "end": 106.0},
                                            10: {"start": 106.5, "end": 108.0}, 11: {"start": 108.3, "end": 111.0},
                                            12: {"start": 112.0}, 13: {"start": 113.0}}), "hold.duration", {6}),
    ("no apology after hold", variant(CLEAN_PHONE, {7: {"text": "您所在的区域正在检修线路，预计下午三点前恢复供电。"}}),
     "hold.return", {7}),
    ("mute without apology", variant(CLEAN_PHONE, {6: {"text": "mute"},
                                                   7: {"text": "您所在的区域正在检修线路，预计下午三点前恢复供电。"}}),
     "hold.return", {7}),
    ("announced wait without event, no apology",
     variant(CLEAN_PHONE, {7: {"text": "您所在的区域正在检修线路，预计下午三点前恢复供电。"}}, delete=[6]), "hold.return", {6}),
    ("dead air", variant(CLEAN_PHONE, {4: {"text": "谢谢您，我查询一下。"}, 7: {"text": "您所在的区域正在检修线路，预计下午三点前恢复供电。"}},
                         delete=[6]), "silence.dead_air", {5, 6}),
    ("interruption", variant(CLEAN_PHONE, {2: {"start": 7.0, "end": 9.2}}), "interruption", {1, 2}),
    ("too fast", variant(CLEAN_PHONE, {7: {"end": 53.0}}), "speech_rate", {7}),
    ("too slow", variant(CLEAN_PHONE, {0: {"end": 30.0}}), "speech_rate", {0}),
    ("no ask-more", variant(CLEAN_PHONE, {8: {"text": "好的，我知道了，谢谢。"}}, delete=[9, 10]), "closing.ask_more", {9}),
    ("goodbye without thanks", variant(CLEAN_PHONE, {11: {"text": "好的，再见！"}}), "closing.thanks", {11}),
    ("agent hangs up first", variant(CLEAN_PHONE, {12: {"text": "agent_hangup"}, 13: {"text": "customer_hangup"}}),
     "closing.hangup", {12}),
    ("escalation after a rude turn",
     variant(CLEAN_PHONE, {7: {"text": "检修呢，我也没办法，你等着吧。"}, 8: {"text": "你这什么态度！我要投诉你！"}}),
     "emotion.escalation", {7, 8}),
    ("per-turn forbidden wording", variant(CLEAN_PHONE, {2: {"text": "这不归我管，你找别人吧。"}}), "turn.non_compliant", {2}),
    ("chat slow reply", variant(CLEAN_CHAT, {4: {"start": 150.0}, 5: {"start": 160.0}, 6: {"start": 170.0},
                                             7: {"start": 180.0}, 8: {"start": 190.0}}), "chat.reply_time", {3, 4}),
    ("chat slow first reply", variant(CLEAN_CHAT, {1: {"start": 35.0}}), "greeting.timing", {1}),
    ("chat customer has last word", variant(CLEAN_CHAT, insert=[(9, {"role": "customer", "text": "好的", "start": 160.0})]),
     "chat.closing_by_agent", {9}),
    ("chat one-character reply", variant(CLEAN_CHAT, {6: {"text": "嗯"}}), "chat.single_char", {6}),
    ("chat no greeting", variant(CLEAN_CHAT, {1: {"text": "订单号多少？"}}), "greeting.content", {1}),
    ("chat no thanks at close", variant(CLEAN_CHAT, {8: {"text": "好的。"}}), "closing.thanks", {8}),
    ("silent caller hung up on", variant(CLEAN_SILENT, delete=[1, 2]), "silent_call.procedure", {1}),
    ("silent caller: no pause", variant(CLEAN_SILENT, {1: {"start": 4.0, "end": 6.0}}), "silent_call.procedure", {0, 1}),
    ("silent caller: hang-up too soon", variant(CLEAN_SILENT, {3: {"start": 22.0}}), "silent_call.procedure", {3}),
]


@pytest.mark.parametrize("name, call, check_id, turns", FAULTS, ids=[f[0] for f in FAULTS])
def test_each_planted_fault_is_found_on_its_turns(checker, name, call, check_id, turns):
    a = checker.audit(call)
    hits = [f for f in a.findings if f.check_id == check_id]
    assert hits, f"{check_id} not found; got {[(f.check_id, f.turns) for f in a.findings]}"
    assert any(turns <= set(f.turns) for f in hits), [(f.check_id, f.turns) for f in hits]
    f = hits[0]
    assert f.message and f.source and f.severity in ("low", "medium", "high")
    assert f.points > 0


def test_untimed_call_skips_time_checks_with_reasons(checker):
    call = {"channel": "phone", "turns": [{k: v for k, v in t.items() if k not in ("start", "end")}
                                          for t in CLEAN_PHONE["turns"]]}
    a = checker.audit(call)
    skipped = {s.check_id: s.reason for s in a.skipped}
    for cid in ("greeting.timing", "answer.rings", "hold.duration", "silence.dead_air", "interruption",
                "speech_rate"):
        assert cid in skipped and skipped[cid], cid
    assert a.findings == [] and a.passed


def test_untimed_chat_skips_reply_time(checker):
    call = variant(CLEAN_CHAT)
    for t in call["turns"]:
        del t["start"]
    a = checker.audit(call)
    assert {"chat.reply_time", "greeting.timing"} <= {s.check_id for s in a.skipped}


def test_finding_carries_seconds_points_and_standard_wording(checker):
    a = checker.audit(variant(CLEAN_PHONE, {7: {"text": "您所在的区域正在检修线路，预计下午三点前恢复供电。"}}))
    f = next(f for f in a.findings if f.check_id == "hold.return")
    assert (f.start, f.end) == (50.5, 57.0)
    assert f.suggestion == "对不起，让您久等了。"
    assert "000 四.8" in f.source
    # the per-turn verdict of the same turn is not counted twice
    assert not any(g.check_id == "turn.missing_apology" and 7 in g.turns for g in a.findings)
    assert a.score == 95 and a.passed


def test_critical_item_fails_the_call_whatever_the_score(checker):
    a = checker.audit(variant(CLEAN_PHONE, {2: {"text": "你是白痴吗？户号都不知道。"}}))
    assert "abuse" in a.critical and not a.passed


def test_to_dict_is_json_ready(checker):
    import json

    d = checker.audit(CLEAN_PHONE).to_dict()
    json.dumps(d, ensure_ascii=False)
    assert d["id"] == "phone-clean" and d["agent_id"] == "A1023" and len(d["turns"]) == len(CLEAN_PHONE["turns"])
    assert d["emotion"]["first"] is not None


def test_company_overlay_changes_a_threshold(tmp_path):
    # the rulebook overlay carries the call: section, merged field by field into the defaults
    path = tmp_path / "co.yaml"
    path.write_text("company_name: 星河电力\ncall:\n  hold.duration: {max_seconds: 20}\n", encoding="utf-8")
    a = sdk.Checker(engine="rules", rulebook=path).audit(CLEAN_PHONE)
    assert [f.check_id for f in a.findings] == ["hold.duration"]
    assert "超过20秒" in a.findings[0].message


def test_overlay_scorecard_section_and_company_name_in_wording(tmp_path):
    path = tmp_path / "co.yaml"
    path.write_text("company_name: 星河电力\nscorecard:\n  name: 公司评分表\n  pass_mark: 90\n  items:\n"
                    "    - {id: open, name: 开头, checks: ['greeting.*'], points: 15}\n", encoding="utf-8")
    a = sdk.Checker(engine="rules", rulebook=path).audit(variant(CLEAN_PHONE, {0: {"text": "电力客服，请讲。"}}))
    assert a.scorecard == "公司评分表" and a.score == 85 and not a.passed
    assert "星河电力" in a.findings[0].suggestion


def test_broken_call_section_in_an_overlay_fails_at_load(tmp_path):
    from sdk.rulebook import RulebookError

    path = tmp_path / "co.yaml"
    path.write_text("call:\n  hold.duration: {max_seconds: -5}\n  speech_rate: {min_cps: 9}\n", encoding="utf-8")
    with pytest.raises(RulebookError) as err:
        sdk.Checker(engine="rules", rulebook=path)
    assert "hold.duration" in str(err.value) and "speech_rate" in str(err.value)


def test_custom_scorecard(tmp_path):
    path = tmp_path / "card.yaml"
    path.write_text("scorecard:\n  name: 严格\n  pass_mark: 99\n  items:\n"
                    "    - {id: closing, name: 结束语, checks: ['closing.*'], points: 2}\n", encoding="utf-8")
    checker = sdk.Checker(engine="rules", scorecard=path)
    a = checker.audit(variant(CLEAN_PHONE, {11: {"text": "好的，再见！"}}))
    assert a.scorecard == "严格" and a.score == 98 and not a.passed


def test_broken_scorecard_fails_when_the_checker_is_built(tmp_path):
    from sdk.audit.config import AuditConfigError

    path = tmp_path / "card.yaml"
    path.write_text("scorecard: {name: x, pass_mark: 50, items: [{id: a, name: A, checks: [nope], points: 1}]}\n",
                    encoding="utf-8")
    with pytest.raises(AuditConfigError, match="item 'a' field 'checks'"):
        sdk.Checker(engine="rules", scorecard=path)


def test_wait_presuming_rule_needs_a_wait_in_the_call(checker):
    # The agent asked for the account number "to verify" and the customer gave it: no one waited.
    call = variant(CLEAN_PHONE, {2: {"text": "请您提供一下户号，我帮您核实一下，好吗？"},
                                 4: {"text": "谢谢您，您所在的区域正在检修线路，预计下午三点前恢复供电。"}},
                   delete=[5, 6, 7, 8])
    assert not any(f.check_id == "turn.missing_apology" for f in checker.audit(call).findings)
    # The same words after a real hold do owe the apology.
    held = variant(call, insert=[(4, {"role": "event", "text": "hold", "start": 15.0, "end": 40.0})])
    held["turns"][5].update(start=40.5, end=45.0)
    hits = [f for f in checker.audit(held).findings if f.label == "missing_apology"]
    assert hits and 5 in hits[0].turns


@pytest.mark.parametrize("confidence, rolled_up", [(0.55, False), (0.9, True)])
def test_model_only_turn_faults_need_confidence_to_count(confidence, rolled_up):
    from sdk.engines.base import Verdict
    from sdk.results import Finding

    rest = (1 - confidence) / 3
    scores = {"standard": rest, "non_compliant": rest, "missing_apology": rest, "missing_thanks": confidence}
    model_finding = Finding("model.missing_thanks", "missing_thanks", None, None, None, "onnx", "模型判定")

    class Fixed:
        name = "onnx"

        def verdict_batch(self, items):
            return [Verdict("missing_thanks", dict(scores), "onnx", [model_finding]) for _ in items]

        def emotion_batch(self, texts):
            return sdk.Checker(engine="rules")._engine.emotion_batch(texts)

    checker = sdk.Checker(engine="rules")
    checker._engine = Fixed()
    a = checker.audit(CLEAN_CHAT)
    found = [f for f in a.findings if f.check_id == "turn.missing_thanks"]
    assert bool(found) == rolled_up
    assert all(r.label == "missing_thanks" for r in a.turns if isinstance(r, sdk.CheckResult))  # kept per turn


def test_marked_silence_event_is_measured(checker):
    call = variant(CLEAN_PHONE, {4: {"text": "谢谢您，我查询一下。"}, 6: {"text": "silence", "start": 21.0, "end": 45.0},
                                 7: {"text": "您所在的区域正在检修线路，预计下午三点前恢复供电。", "start": 45.5}})
    hits = [f for f in checker.audit(call).findings if f.check_id == "silence.dead_air"]
    assert hits and 6 in hits[0].turns and hits[0].start == 21.0
    short = variant(CLEAN_PHONE, {6: {"text": "silence", "start": 21.0, "end": 25.0}, 7: {"start": 25.5, "end": 32.0}})
    assert not any(f.check_id == "silence.dead_air" for f in checker.audit(short).findings)
