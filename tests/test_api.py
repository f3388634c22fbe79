"""The public surface of ../shared/API.md: shapes, bad input, engine choice."""
import json
import subprocess
import sys
import warnings

import pytest

import sdk
from sdk.checker import MAX_CHARS, Checker, customer_words
from sdk.labels import COMPLIANCE_LABELS, EMOTION_LABELS


@pytest.fixture(scope="module")
def rules():
    return Checker(engine="rules")


def test_check_result_shape(rules):
    r = rules.check("喂，说话呀！")
    assert r.label == "non_compliant"
    assert r.engine == "rules"
    assert set(r.scores) == set(COMPLIANCE_LABELS)
    assert abs(sum(r.scores.values()) - 1) < 1e-6
    assert max(r.scores, key=r.scores.get) == r.label
    assert r.emotion is None
    assert r.findings, "a non-compliant verdict must explain itself"
    for f in r.findings:
        if f.start is not None:
            assert r.utterance[f.start:f.end] == f.text
    d = r.to_dict()
    json.dumps(d, ensure_ascii=False)
    assert d["label"] == "non_compliant" and d["engine"] == "rules"
    assert {"rule_id", "label", "start", "end", "text", "source", "message", "suggestion"} <= set(d["findings"][0])


def test_context_changes_the_label(rules):
    r = rules.check("好的，我帮您查一下。", context="[客户已等待约2分钟] 喂？还有人吗？")
    assert r.label == "missing_apology"
    assert r.emotion is not None and r.emotion.label in EMOTION_LABELS
    assert rules.check("对不起，让您久等了，我帮您查一下。", context="[客户已等待约2分钟] 喂？还有人吗？").label == "standard"


def test_emotion_shape(rules):
    e = rules.emotion("什么破公司！我要投诉你们！")
    assert e.label == "angry"
    assert set(e.scores) == set(EMOTION_LABELS)
    assert e.engine == "rules"
    json.dumps(e.to_dict(), ensure_ascii=False)


def test_batch_matches_single_and_keeps_order(rules):
    items = ["您好，请问有什么可以帮您？", ("好的", "我建议你们周末也开门"), {"utterance": "不知道。", "context": None}]
    batch = rules.check_batch(items)
    assert [r.label for r in batch] == [
        rules.check("您好，请问有什么可以帮您？").label,
        rules.check("好的", context="我建议你们周末也开门").label,
        rules.check("不知道。").label,
    ]
    assert batch[1].context == "我建议你们周末也开门"
    assert [e.label for e in rules.emotion_batch(["谢谢你啊", "怎么还没到"])] == \
        [rules.emotion("谢谢你啊").label, rules.emotion("怎么还没到").label]
    assert rules.check_batch([]) == [] and rules.emotion_batch([]) == []


@pytest.mark.parametrize("bad, exc", [
    (None, TypeError), (123, TypeError), (b"\xe4\xbd\xa0\xe5\xa5\xbd", TypeError), (["你好"], TypeError),
    ("", ValueError), ("   \n\t", ValueError), ("\u3000", ValueError),
])
def test_bad_utterance(rules, bad, exc):
    with pytest.raises(exc) as info:
        rules.check(bad)
    assert "utterance" in str(info.value)
    with pytest.raises(exc):
        rules.emotion(bad)


def test_bad_context_and_batch_items(rules):
    with pytest.raises(TypeError, match="context"):
        rules.check("好的", context=5)
    assert rules.check("好的", context="  ").context is None
    with pytest.raises(ValueError, match="item 1"):
        rules.check_batch(["好的", ""])
    with pytest.raises(TypeError, match="item 0"):
        rules.check_batch([42])
    with pytest.raises(TypeError, match="single str"):
        rules.check_batch("好的")
    with pytest.raises(ValueError, match="utterance"):
        rules.check_batch([{"text": "好的"}])


@pytest.mark.parametrize("text", [
    "😀😀 好的，马上帮您处理", "您好\x00\x07请问有什么可以帮您", "OK的，您的order号是A123456，我帮您查",
    "您好，請問有什麼可以幫您？", "ｎｉ好，请问有什么可以帮您", "好" * 50,
])
def test_odd_but_valid_input(rules, text):
    r = rules.check(text)
    assert r.label in COMPLIANCE_LABELS
    for f in r.findings:
        if f.start is not None:
            assert text[f.start:f.end] == f.text


def test_overlong_input_is_truncated_with_warning(rules):
    r = rules.check("您好，请问有什么可以帮您？" * 10000)
    assert r.label in COMPLIANCE_LABELS
    assert any(str(MAX_CHARS) in w for w in r.warnings)
    assert len(r.utterance) == MAX_CHARS


def test_bad_engine_and_threads():
    with pytest.raises(ValueError, match="'auto', 'onnx', 'rules'"):
        Checker(engine="bert")
    with pytest.raises(ValueError, match="threads"):
        Checker(engine="rules", threads=0)


def test_onnx_engine_with_missing_model_raises(tmp_path):
    with pytest.raises(sdk.ModelUnavailable, match=str(tmp_path)):
        Checker(engine="onnx", model_dir=tmp_path / "nope")


def test_auto_falls_back_to_rules_and_says_so(tmp_path):
    with pytest.warns(RuntimeWarning, match="falling back to the rules engine"):
        c = Checker(engine="auto", model_dir=tmp_path / "nope")
    assert c.engine == "rules"
    assert c.check("喂，说话呀！").engine == "rules"


@pytest.mark.parametrize("context, words", [
    (None, None), ("[客户已等待约2分钟]", None), ("[客户已等待约2分钟] 喂？还有人吗？", "喂？还有人吗？"),
    ("【线路忙】你们怎么老占线", "你们怎么老占线"), ("我建议你们周末也开门", "我建议你们周末也开门"),
])
def test_customer_words(context, words):
    assert customer_words(context) == words


def test_import_is_light():
    code = ("import sys, sdk; heavy = [m for m in ('torch', 'onnxruntime', 'transformers', 'tokenizers', 'yaml', "
            "'pydantic') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_module_level_functions_use_one_checker():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = sdk.check("喂，说话呀！")
    assert r.label == "non_compliant"
    assert r.engine in ("onnx", "rules")
    assert sdk.emotion("什么破公司！我要投诉你们！").label == "angry"
    assert len(sdk.check_batch(["您好，请问有什么可以帮您？", ("好的", "我建议你们周末也开门")])) == 2
    assert len(sdk.emotion_batch(["谢谢你啊", "怎么还没到"])) == 2
