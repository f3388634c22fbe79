"""Regressions for the failures a hostile tester found in the public API (issue 14).

Each test names the failure it guards; the model-directory, rulebook and CLI
cases live in test_fault_model.py, test_fault_rulebook.py and test_cli_contract.py.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import warnings

import pytest

import sdk
from sdk.labels import COMPLIANCE_LABELS


@pytest.fixture(scope="module")
def rules():
    return sdk.Checker(engine="rules")


@pytest.fixture(scope="module")
def onnx():
    return sdk.Checker(engine="onnx")


@pytest.fixture(scope="module", params=["rules", "onnx"])
def checker(request, rules, onnx):
    return {"rules": rules, "onnx": onnx}[request.param]


# ---------------------------------------------------------------- lone surrogates
SURROGATE_TEXTS = ["您好\udca7请问有什么可以帮您？", "\udca7", "喂\ud800，说话呀！", "谢谢\udfff"]


@pytest.mark.parametrize("text", SURROGATE_TEXTS)
def test_lone_surrogate_gets_a_result(checker, text):
    r = checker.check(text, context="等了\udca7好久")
    assert r.label in COMPLIANCE_LABELS and r.utterance == text
    assert checker.emotion(text).label
    json.dumps(r.to_dict())  # ASCII-escaped JSON always works


def test_one_surrogate_does_not_sink_a_batch(checker):
    items = ["您好，请问有什么可以帮您？"] * 50 + ["\udca7"] + ["谢谢您的耐心等待"] * 49
    results = checker.check_batch(items)
    assert len(results) == 100 and results[50].utterance == "\udca7"
    assert len(checker.emotion_batch(items)) == 100


# ---------------------------------------------------------------- bounded error messages
class _BadRepr:
    def __repr__(self):
        raise RuntimeError("repr called")


def _nested(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("make", [
    lambda: _nested(100_000),        # RecursionError from repr()
    lambda: [0] * 10_000_000,        # 2 s to build the repr
    lambda: _BadRepr(),              # repr that raises
    lambda: b"\xff" * 10_000_000,
    lambda: 10 ** 5000,              # int too large to convert to str
], ids=["nested", "ten_million", "bad_repr", "big_bytes", "big_int"])
@pytest.mark.parametrize("call", ["check", "context", "emotion", "check_batch", "emotion_batch"])
def test_error_messages_are_bounded(rules, make, call):
    value = make()
    fn = {
        "check": lambda: rules.check(value),
        "context": lambda: rules.check("您好", context=value),
        "emotion": lambda: rules.emotion(value),
        "check_batch": lambda: rules.check_batch(["您好", value]),
        "emotion_batch": lambda: rules.emotion_batch(["您好", value]),
    }[call]
    # a list context is a list of turns: a bad turn is a ValueError naming it
    expected = (TypeError, ValueError) if call == "context" and isinstance(value, list) else TypeError
    start = time.perf_counter()
    with pytest.raises(expected) as info:
        fn()
    assert time.perf_counter() - start < 2.0  # 10 million items took 2 s to build the repr; nesting crashed
    assert len(str(info.value)) < 300


def test_str_subclass_is_read_as_its_characters(rules):
    class Evil(str):
        def strip(self, *args):
            raise RuntimeError("called strip")

        def __len__(self):
            return 0

    assert rules.check(Evil("喂，说话呀！")).label == "non_compliant"
    assert type(rules.check(Evil("喂，说话呀！")).utterance) is str
    assert rules.emotion(Evil("气死我了")).label == "angry"


# ---------------------------------------------------------------- batch input forms
@pytest.mark.parametrize("items", [
    {"您好": "x"}, {"utterance": "您好"}, "您好", b"\xe6\x82\xa8", 42, None,
], ids=["dict", "dict_with_utterance", "str", "bytes", "int", "none"])
def test_check_batch_refuses_a_non_list(rules, items):
    with pytest.raises(TypeError):
        rules.check_batch(items)


@pytest.mark.parametrize("items", [{"a": "您好"}, "您好"], ids=["dict", "str"])
def test_emotion_batch_refuses_a_non_list(rules, items):
    with pytest.raises(TypeError):
        rules.emotion_batch(items)


@pytest.mark.parametrize("item, key", [
    ({"utterance": "好的", "contxt": "我建议你们周末也开门"}, "contxt"),
    ({"utterance": "好的", "context": None, "id": 3}, "id"),
    ({"text": "好的"}, "utterance"),
])
def test_check_batch_refuses_unknown_keys(rules, item, key):
    with pytest.raises(ValueError, match=key):
        rules.check_batch([item])


def test_check_batch_accepts_iterables(rules):
    assert len(rules.check_batch(iter(["您好", ("好的", None)]))) == 2
    assert len(rules.check_batch(("您好",))) == 1


# ---------------------------------------------------------------- batch make-up
def test_batch_results_do_not_depend_on_batch_make_up(onnx):
    import random

    base = ["您好，请问有什么可以帮您？", "喂，说话呀！", "好的，我帮您查一下。", "这个不归我管", "谢谢您的耐心等待",
            "稍等", "您的问题我已经记录下来了，会尽快处理", "不知道。", "你自己去营业厅办吧", "对不起，让您久等了"]
    rng = random.Random(7)
    items = [(rng.choice(base) * rng.randint(1, 6), rng.choice([None, "[客户已等待约2分钟] 喂？", "太慢了吧"]))
             for _ in range(120)]
    batch = onnx.check_batch(items)
    shuffled = list(range(len(items)))
    rng.shuffle(shuffled)
    other = onnx.check_batch([items[i] for i in shuffled])
    for k, i in enumerate(shuffled[:40]):
        single = onnx.check(*items[i])
        for r in (batch[i], other[k]):
            assert r.label == single.label
            for label in COMPLIANCE_LABELS:
                assert abs(r.scores[label] - single.scores[label]) < 1e-5, (items[i], r.scores, single.scores)
    emo = onnx.emotion_batch([u for u, _ in items])
    for i in range(20):
        single = onnx.emotion(items[i][0])
        assert all(abs(emo[i].scores[k] - single.scores[k]) < 1e-5 for k in single.scores)


def _run(code: str, timeout: float = 300):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_big_batch_memory_is_bounded():
    """A batch of 1,500 x 2,000-character items: peak RSS grows by well under 1 KB per input character."""
    out = _run("""
        import resource, warnings, sdk
        warnings.simplefilter("ignore")
        c = sdk.Checker(engine="onnx")
        c.check_batch(["您好"] * 8)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        items = [("请您稍等，我帮您查询一下您的订单情况。" * 106)[:2000]] * 1500
        results = c.check_batch(items)
        assert len(results) == 1500
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
    """)
    assert out.returncode == 0, out.stderr[-2000:]
    grown_mb = int(out.stdout.split()[-1])
    assert grown_mb < 250, f"peak RSS grew {grown_mb} MB"


# ---------------------------------------------------------------- fork during inference
def test_forked_child_gets_fresh_sessions(onnx):
    """A child forked while another thread is inside ONNX Runtime inherits a session whose locks may
    be held forever (5 of 120 forks hung): the child must run on sessions of its own."""
    engine = onnx._engine
    before = {id(s) for s in _sessions(engine)}
    assert before
    onnx.check("您好")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            onnx.check("您好，请问有什么可以帮您？", context="等了好久")
            onnx.emotion("太慢了")
            after = {id(s) for s in _sessions(engine)}
            os.write(write, b"fresh" if after and not (after & before) else b"same")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 16)
    os.waitpid(pid, 0)
    assert answer == b"fresh"


def _sessions(engine):
    """Every ONNX Runtime session reachable from an engine (the attribute layout is not API)."""
    import onnxruntime

    seen, found, stack = set(), [], [engine]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float)) or obj is None:
            continue
        seen.add(id(obj))
        if isinstance(obj, onnxruntime.InferenceSession):
            found.append(obj)
            continue
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set)):
            stack.extend(obj)
        elif hasattr(obj, "__dict__") and type(obj).__module__.startswith("sdk"):
            stack.extend(vars(obj).values())
    return found
@pytest.mark.slow
def test_fork_while_another_thread_is_inside_the_model():
    out = _run("""
        import os, threading, time, warnings, sdk
        warnings.simplefilter("ignore")
        c = sdk.Checker(engine="onnx")
        items = ["您好，请问有什么可以帮您？" * 3] * 64
        stop = False
        def spin():
            while not stop:
                c.check_batch(items); c.emotion_batch(items)
        threading.Thread(target=spin, daemon=True).start()
        hung = 0
        for _ in range(150):
            time.sleep(0.01)
            pid = os.fork()
            if pid == 0:
                os._exit(0 if c.check("喂，说话呀！").label else 3)
            deadline = time.time() + 20
            while not os.waitpid(pid, os.WNOHANG)[0]:
                if time.time() > deadline:
                    hung += 1; os.kill(pid, 9); os.waitpid(pid, 0); break
                time.sleep(0.01)
        stop = True
        print(hung)
    """, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "0", "forked children hung"
