"""Fault injection for model directories: every corruption, truncation, deletion or manifest edit either
loads with identical predictions or fails at load with ModelUnavailable, and engine="auto" then falls back
to the rules (and says so)."""
from __future__ import annotations

import json
import os
import shutil
import warnings

import pytest

import sdk
from sdk.model_manifest import MANIFEST_NAME, SEAL_FIELD, default_model_dir, manifest_seal

pytest.importorskip("onnxruntime")
SRC = default_model_dir()
if SRC is None:  # pragma: no cover - the repo ships one
    pytest.skip("no shipped default model", allow_module_level=True)
PROBES = [("喂，说话呀！", None), ("好的，我帮您查一下。", "[客户已等待约2分钟] 喂？还有人吗？"), ("谢谢您的耐心等待", "太慢了吧")]


def _files():
    return sorted(json.loads((SRC / MANIFEST_NAME).read_text(encoding="utf-8"))["files"])


@pytest.fixture(scope="module")
def reference():
    checker = sdk.Checker(engine="onnx", model_dir=SRC)
    return _predict(checker)


def _predict(checker):
    return ([(r.label, [round(v, 6) for v in r.scores.values()]) for r in checker.check_batch(PROBES)],
            [(e.label, [round(v, 6) for v in e.scores.values()]) for e in checker.emotion_batch(["气死我了", "谢谢你"])])


def _copy(tmp_path):
    d = tmp_path / "model"
    shutil.copytree(SRC, d, copy_function=os.link)  # hard links: cheap; every edit below replaces a file
    return d


def _rewrite(path, data: bytes):
    path.unlink()
    path.write_bytes(data)


def _manifest(d):
    return json.loads((d / MANIFEST_NAME).read_text(encoding="utf-8"))


def _write_manifest(d, data, reseal=False):
    if reseal:
        data[SEAL_FIELD] = manifest_seal(data)
    _rewrite(d / MANIFEST_NAME, json.dumps(data, ensure_ascii=False).encode("utf-8"))


# ---------------------------------------------------------------- the edits
def _file_edit(name, how):
    def edit(d):
        path = d / name
        data = path.read_bytes()
        if how == "delete":
            path.unlink()
        elif how == "truncate_half":
            _rewrite(path, data[: len(data) // 2])
        elif how == "empty":
            _rewrite(path, b"")
        elif how == "flip_byte":
            i = len(data) // 2
            _rewrite(path, data[:i] + bytes([data[i] ^ 0x55]) + data[i + 1:])
        elif how == "append":
            _rewrite(path, data + b"\x00")
    return edit


def _manifest_bytes(data: bytes):
    return lambda d: _rewrite(d / MANIFEST_NAME, data)


def _field_edit(change, reseal=False):
    def edit(d):
        data = _manifest(d)
        change(data)
        _write_manifest(d, data, reseal)
    return edit


def _swap_labels(data):
    labels = data["tasks"]["compliance"]["labels"]
    labels[0], labels[1] = labels[1], labels[0]


def _set(path, value):
    def change(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


def _drop(path):
    def change(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        node.pop(path[-1], None)
    return change


def _wrong_f16_size(d):
    """The n-gram member's weights cut short, with the manifest re-hashed and re-sealed to match."""
    from sdk.model_manifest import sha256_file

    data = _manifest(d)
    name = next(n for n in data["files"] if n.endswith(".f16"))
    blob = (d / name).read_bytes()
    _rewrite(d / name, blob[: len(blob) - 6])
    data["files"][name] = sha256_file(d / name)
    _write_manifest(d, data, reseal=True)


def _extra_pickle(d):
    (d / "evil.pkl").write_bytes(b"\x80\x04K\x01.")


def _extra_harmless(d):
    (d / "notes.txt").write_text("not listed in the manifest\n", encoding="utf-8")


def _nested(depth):
    return ("[" * depth + "]" * depth).encode()


EDITS = [(f"{how}:{name}", _file_edit(name, how)) for name in _files()
         for how in ("delete", "truncate_half", "empty", "flip_byte", "append")]
EDITS += [
    ("delete:manifest", lambda d: (d / MANIFEST_NAME).unlink()),
    ("manifest:not_json", _manifest_bytes(b"{not json")),
    ("manifest:empty", _manifest_bytes(b"")),
    ("manifest:truncated", lambda d: _rewrite(d / MANIFEST_NAME, (SRC / MANIFEST_NAME).read_bytes()[:500])),
    ("manifest:gbk", _manifest_bytes('{"format": "模型"}'.encode("gbk"))),
    ("manifest:array", _manifest_bytes(b"[1, 2, 3]")),
    ("manifest:nested_100000", _manifest_bytes(_nested(100_000))),
    ("manifest:nested_in_field", _field_edit(_set(["metrics"], json.loads(_nested(500))))),
    ("manifest:huge", _manifest_bytes(b'{"pad": "' + b"x" * (6 << 20) + b'"}')),
    ("manifest:duplicate_key", lambda d: _rewrite(
        d / MANIFEST_NAME, (SRC / MANIFEST_NAME).read_bytes().replace(b'{\n', b'{\n  "format": "x",\n', 1))),
    ("manifest:nan", lambda d: _rewrite(
        d / MANIFEST_NAME, (SRC / MANIFEST_NAME).read_bytes().replace(b'{\n', b'{\n  "nan_field": NaN,\n', 1))),
    # hand edits (the seal is not updated): refused whatever they change
    ("edit:swap_labels", _field_edit(_swap_labels)),
    ("edit:drop_ensemble", _field_edit(_drop(["ensemble"]))),
    ("edit:ensemble_weight", _field_edit(_set(["ensemble", "compliance", "weight"], 0.3))),
    ("edit:policy_bogus", _field_edit(_set(["combine_policy"], "bogus"))),
    ("edit:policy_other", _field_edit(_set(["combine_policy"], "model"))),
    ("edit:max_len_4096", _field_edit(_set(["tasks", "compliance", "max_len"], 4096))),
    ("edit:file_other_task", _field_edit(_set(["tasks", "compliance", "file"], "emotion.int8.onnx"))),
    ("edit:version", _field_edit(_set(["version"], "9.9.9"))),
    ("edit:drop_seal", _field_edit(_drop([SEAL_FIELD]))),
    ("edit:seal_garbage", _field_edit(_set([SEAL_FIELD], "0" * 64))),
    ("edit:format", _field_edit(_set(["format"], "cs-qa-model/9"))),
    ("edit:labels_list_of_lists", _field_edit(_set(["tasks", "compliance", "labels"], [["a"], ["b"]]))),
    ("edit:path_traversal", _field_edit(_set(["tokenizer"], "../tokenizer.json"))),
    # re-sealed edits (a broken export, or someone who re-sealed without checking): validated at load
    ("resealed:policy_bogus", _field_edit(_set(["combine_policy"], "bogus"), reseal=True)),
    ("resealed:max_len_4096", _field_edit(_set(["tasks", "compliance", "max_len"], 4096), reseal=True)),
    ("resealed:max_len_str", _field_edit(_set(["tasks", "compliance", "max_len"], "128"), reseal=True)),
    ("resealed:file_other_task", _field_edit(_set(["tasks", "compliance", "file"], "emotion.int8.onnx"), reseal=True)),
    ("resealed:ensemble_weight_2", _field_edit(_set(["ensemble", "compliance", "weight"], 2), reseal=True)),
    ("resealed:ensemble_weight_str", _field_edit(_set(["ensemble", "compliance", "weight"], "0.5"), reseal=True)),
    ("resealed:ensemble_list", _field_edit(_set(["ensemble"], ["compliance"]), reseal=True)),
    ("resealed:emotion_weight_2", _field_edit(_set(["emotion_model_weight"], 2), reseal=True)),
    ("resealed:emotion_weight_str", _field_edit(_set(["emotion_model_weight"], "0.8"), reseal=True)),
    ("resealed:emotion_weight_bool", _field_edit(_set(["emotion_model_weight"], True), reseal=True)),
    ("resealed:ensemble_other_member", _field_edit(
        _set(["ensemble", "compliance", "member"], "ngram_emotion"), reseal=True)),
    ("resealed:inputs_single", _field_edit(_set(["tasks", "compliance", "inputs"], "single"), reseal=True)),
    ("resealed:unknown_task", _field_edit(lambda data: data["tasks"].update(sentiment={}), reseal=True)),
    ("resealed:wrong_f16_size", _wrong_f16_size),
    ("extra:pickle", _extra_pickle),
    # harmless: loads, same predictions
    ("extra:unlisted_file", _extra_harmless),
    ("card:edited", lambda d: _rewrite(d / "README.md", b"# edited card\n")),
]


@pytest.mark.parametrize("name, edit", EDITS, ids=[e[0] for e in EDITS])
def test_model_dir_edit_loads_identically_or_is_unavailable(tmp_path, reference, name, edit):
    d = _copy(tmp_path)
    edit(d)
    try:
        checker = sdk.Checker(engine="onnx", model_dir=d)
    except sdk.ModelUnavailable as exc:
        assert str(exc) and len(str(exc)) < 2000
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            auto = sdk.Checker(engine="auto", model_dir=d)
        assert auto.engine == "rules" and auto.fell_back
        assert any("falling back" in str(w.message) for w in caught)
        result = auto.check("喂，说话呀！")
        assert result.engine == "rules" and result.decided_by.fell_back
        return
    assert _predict(checker) == reference, f"{name}: loaded but predicts differently"


def test_missing_and_odd_model_dirs(tmp_path):
    (tmp_path / "a_file").write_text("x", encoding="utf-8")
    for bad in (tmp_path / "nope", tmp_path / "a_file", tmp_path):
        with pytest.raises(sdk.ModelUnavailable):
            sdk.Checker(engine="onnx", model_dir=bad)
