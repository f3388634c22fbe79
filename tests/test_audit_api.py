"""sdk.audit / sdk.audit_batch / Checker.audit as ../shared/API.md says; bad input fails clearly."""
import pytest
from audit_calls import CLEAN_CHAT, CLEAN_PHONE, variant

import sdk
from sdk.audit.auditor import AuditError


def test_module_functions_exist_and_stay_functions_after_submodule_imports():
    import sdk.audit.readers  # noqa: F401  (a submodule import must not replace the function)
    from sdk.audit import config  # noqa: F401

    assert callable(sdk.audit) and callable(sdk.audit_batch)
    assert sdk.audit.__module__ == "sdk.checker"


def test_audit_accepts_a_list_of_turns_and_a_channel(rules_checker):
    a = rules_checker.audit(CLEAN_CHAT["turns"], channel="chat")
    assert a.channel == "chat" and a.id is None and a.passed
    assert isinstance(a.turns[0], sdk.EmotionResult) and isinstance(a.turns[1], sdk.CheckResult)


def test_turn_results_are_judged_with_the_turns_before_them(rules_checker):
    a = rules_checker.audit(CLEAN_PHONE)
    back = a.turns[7]  # the agent's first words after the hold
    assert isinstance(back, sdk.CheckResult) and back.label == "standard"
    assert any(t.get("role") == "event" for t in back.context)
    assert a.turns[6] is None  # the hold event itself
    # without the apology the same turn is missing_apology: the hold, two turns back, is its context
    a2 = rules_checker.audit(variant(CLEAN_PHONE, {7: {"text": "您所在的区域正在检修线路，预计下午三点前恢复供电。"}}))
    assert a2.turns[7].label == "missing_apology"


def test_emotion_over_the_call(rules_checker):
    a = rules_checker.audit(variant(CLEAN_PHONE, {8: {"text": "你们这效率也太慢了吧，每次都说马上。"}}))
    e = a.emotion
    assert [p["turn"] for p in e.per_turn] == [1, 3, 5, 8, 10]
    assert e.first == e.per_turn[0]["label"] and e.last == e.per_turn[-1]["label"]
    assert e.worst == "dissatisfied" and e.worst_turn == 8


def test_audit_batch_one_result_per_call_in_order(rules_checker):
    out = rules_checker.audit_batch([CLEAN_PHONE, CLEAN_CHAT, CLEAN_PHONE])
    assert [a.id for a in out] == ["phone-clean", "chat-clean", "phone-clean"]
    # batching gives the same results as one call at a time
    assert out[0].to_dict() == rules_checker.audit(CLEAN_PHONE).to_dict()


def test_audit_batch_error_records_name_the_call_and_turn(rules_checker):
    bad = {"id": "c-9", "turns": [{"role": "agent", "text": "您好"}, {"text": "在吗"}]}
    out = rules_checker.audit_batch([CLEAN_CHAT, bad, CLEAN_PHONE], errors="return")
    assert isinstance(out[1], AuditError) and out[1].id == "c-9"
    assert "turn 1 field 'role' is missing" in out[1].error
    assert out[0].passed and out[2].passed
    with pytest.raises(ValueError, match="call 1: call 'c-9': turn 1 field 'role'"):
        rules_checker.audit_batch([CLEAN_CHAT, bad])


@pytest.mark.parametrize("turns, message", [
    ([{"text": "您好"}], "turn 0 field 'role' is missing"),
    ([{"role": "robot", "text": "您好"}], "turn 0 field 'role' must be one of agent, customer, event, got 'robot'"),
    ([{"role": "agent"}], "turn 0 field 'text' is missing"),
    ([{"role": "agent", "text": 5}], "turn 0 field 'text' must be a str"),
    ([{"role": "agent", "text": "  "}], "turn 0 field 'text' is empty"),
    ([{"role": "agent", "text": "您好", "start": -1}], "turn 0 field 'start' must be a finite, non-negative"),
    ([{"role": "agent", "text": "您好", "start": "0:01"}], "turn 0 field 'start' must be a number of seconds"),
    ([{"role": "agent", "text": "您好", "start": 5, "end": 2}], "turn 0 field 'end' (2.0) is before its 'start'"),
    ([{"role": "agent", "text": "您好", "start": 5}, {"role": "customer", "text": "在吗", "start": 3}],
     "turn 1 field 'start' (3.0) is before the start of turn 0"),
    ([], "field 'turns' is empty"),
    ("客服：您好", "read transcripts with sdk.audit.readers"),
])
def test_malformed_calls_raise_naming_index_and_field(rules_checker, turns, message):
    with pytest.raises((ValueError, TypeError)) as err:
        rules_checker.audit(turns)
    assert message in str(err.value)


@pytest.mark.parametrize("call, message", [
    ({"turns": CLEAN_CHAT["turns"], "channel": "fax"}, "field 'channel' must be one of phone, chat"),
    ({"id": "x"}, "call 'x': field 'turns' is missing"),
    ({"turns": CLEAN_PHONE["turns"], "ring_seconds": -3}, "field 'ring_seconds'"),
    ({"turns": CLEAN_PHONE["turns"], "rings": 2.5}, "field 'rings'"),
])
def test_malformed_call_fields(rules_checker, call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        rules_checker.audit(call)


def test_a_silent_customer_turn_may_be_empty(rules_checker):
    a = rules_checker.audit([{"role": "agent", "text": "您好，请问有什么可以帮您？"}, {"role": "customer", "text": ""}])
    assert a.turns[1] is None


def test_unknown_event_is_kept_with_a_warning(rules_checker):
    a = rules_checker.audit(CLEAN_PHONE["turns"][:2] + [{"role": "event", "text": "录音中断"}])
    assert any("unknown event '录音中断'" in w for w in a.warnings)


def test_ten_thousand_turns(rules_checker):
    turns = []
    for k in range(5000):
        turns.append({"role": "customer", "text": f"我的订单号是{100000 + k}", "start": 10.0 * k, "end": 10.0 * k + 3})
        turns.append({"role": "agent", "text": "好的，谢谢您，我帮您登记。", "start": 10.0 * k + 4, "end": 10.0 * k + 7})
    a = rules_checker.audit({"id": "long", "channel": "phone", "turns": turns})
    assert len(a.turns) == 10_000 and all(r is not None for r in a.turns)
    # the context of a turn is bounded, so memory and time stay linear
    assert len(a.turns[-1].context) <= 12


def test_module_level_audit_uses_the_default_checker():
    a = sdk.audit(CLEAN_CHAT)
    assert a.engine in ("onnx", "rules") and a.to_dict()["engine"] == a.engine


def test_a_batch_of_calls_costs_one_verdict_pass_and_one_emotion_pass():
    from conftest import FixedEngine, make_emotion, make_verdict

    engine = FixedEngine("onnx", make_verdict("standard", "onnx"), make_emotion("neutral", "onnx"))
    checker = sdk.Checker(engine="rules")
    checker._engine = engine
    out = checker.audit_batch([CLEAN_PHONE, CLEAN_CHAT, CLEAN_PHONE])
    assert len(out) == 3 and out[0].engine == "onnx"
    assert engine.calls == ["emotion_batch", "verdict_batch"]


def test_submodules_import_every_way_while_sdk_audit_stays_the_function():
    import subprocess
    import sys

    code = ("import sdk.audit.readers as r; from sdk.audit import report; import sdk; "
            "assert callable(sdk.audit) and r.read_calls and report.write_report; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr
