"""Model manifest: hashes, label names, no pickle, and where the default model is found.

These need no onnxruntime: the "model" files are plain bytes.
"""
import json
import pickle
from pathlib import Path

import pytest

from sdk.engines.base import ModelUnavailable
from sdk.labels import COMPLIANCE_LABELS, EMOTION_LABELS
from sdk.model_manifest import ManifestError, default_model_dir, load_manifest, sha256_file, write_manifest


def make_dir(root: Path, **task_overrides) -> Path:
    d = root / "model"
    d.mkdir()
    (d / "compliance.int8.onnx").write_bytes(b"onnx-compliance" * 10)
    (d / "emotion.int8.onnx").write_bytes(b"onnx-emotion" * 10)
    (d / "tokenizer.json").write_text('{"model": "wordpiece"}', encoding="utf-8")
    tasks = {"compliance": {"file": "compliance.int8.onnx", "labels": list(COMPLIANCE_LABELS), "max_len": 128},
             "emotion": {"file": "emotion.int8.onnx", "labels": list(EMOTION_LABELS), "max_len": 64}}
    for task, override in task_overrides.items():
        tasks[task].update(override)
    write_manifest(d, {"version": "1", "tokenizer": "tokenizer.json", "opset": 17, "tasks": tasks})
    return d


def test_round_trip(tmp_path):
    d = make_dir(tmp_path)
    m = load_manifest(d)
    assert m.tasks["emotion"].labels == EMOTION_LABELS and m.tasks["compliance"].max_len == 128
    assert m.tasks["compliance"].inputs == "pair" and m.tasks["emotion"].inputs == "single"
    files = json.loads((d / "manifest.json").read_text(encoding="utf-8"))["files"]
    assert files == {name: sha256_file(d / name) for name in
                     ("compliance.int8.onnx", "emotion.int8.onnx", "tokenizer.json")}


@pytest.mark.parametrize("name", ["compliance.int8.onnx", "emotion.int8.onnx", "tokenizer.json"])
def test_changed_byte_names_the_file(tmp_path, name):
    d = make_dir(tmp_path)
    data = bytearray((d / name).read_bytes())
    data[3] ^= 0x20
    (d / name).write_bytes(bytes(data))
    with pytest.raises(ManifestError, match=f"sha256 mismatch for model file .*{name.replace('.', '[.]')}"):
        load_manifest(d)
    load_manifest(d, verify=False)  # structure alone is still readable


def test_manifest_error_is_model_unavailable():
    assert issubclass(ManifestError, ModelUnavailable)


def test_missing_file_names_the_path(tmp_path):
    d = make_dir(tmp_path)
    (d / "tokenizer.json").unlink()
    with pytest.raises(ModelUnavailable, match=f"missing: {d / 'tokenizer.json'}"):
        load_manifest(d)


def test_missing_dir_and_manifest(tmp_path):
    with pytest.raises(ModelUnavailable, match=f"model directory not found: {tmp_path / 'x'}"):
        load_manifest(tmp_path / "x")
    with pytest.raises(ManifestError, match=f"looked for {tmp_path / 'manifest.json'}"):
        load_manifest(tmp_path)


def test_pickle_is_refused_anywhere(tmp_path):
    d = make_dir(tmp_path)
    (d / "sub").mkdir()
    (d / "sub" / "weights.dat").write_bytes(pickle.dumps({"a": 1}, protocol=4))
    with pytest.raises(ManifestError, match="weights.dat is a pickle"):
        load_manifest(d)


def test_write_refuses_pickle_and_unknown_types(tmp_path):
    d = make_dir(tmp_path)
    (d / "model.pt").write_bytes(b"\x80\x04stuff")
    manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    with pytest.raises(ManifestError, match="model.pt may not be shipped"):
        write_manifest(d, manifest)


@pytest.mark.parametrize("override,message", [
    ({"labels": ["standard", "rude", "missing_apology", "missing_thanks"]}, "do not match the SDK's compliance labels"),
    ({"labels": ["standard", "standard", "missing_apology", "missing_thanks"]}, "do not match"),
    ({"max_len": 2}, "max_len must be an int in 8..4096"),
    ({"inputs": "single"}, "inputs must be 'pair'"),
    ({"file": "other.onnx"}, "has no sha256 entry"),
])
def test_bad_task_entries(tmp_path, override, message):
    with pytest.raises(ManifestError, match=message):
        make_dir(tmp_path, compliance=override)


def test_bad_json_and_format(tmp_path):
    d = make_dir(tmp_path)
    (d / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ManifestError, match="not valid UTF-8 JSON"):
        load_manifest(d)
    (d / "manifest.json").write_text(json.dumps({"format": "other/9"}), encoding="utf-8")
    with pytest.raises(ManifestError, match="this SDK reads 'cs-qa-model/1'"):
        load_manifest(d)


def test_unknown_task(tmp_path):
    d = make_dir(tmp_path)
    data = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    data["tasks"]["sentiment"] = dict(data["tasks"]["emotion"])
    (d / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ManifestError, match="unknown task 'sentiment'"):
        load_manifest(d)


def test_default_model_dir_is_none_or_verified():
    found = default_model_dir()
    if found is not None:
        assert (found / "manifest.json").is_file()
        load_manifest(found)  # whatever is shipped must verify


def test_editing_the_model_card_keeps_the_model_valid(tmp_path):
    """Only model files are hashed: a QA lead fixing a typo in README.md must not break the model."""
    from sdk.model_manifest import is_doc

    d = tmp_path / "m"
    d.mkdir()
    (d / "tokenizer.json").write_text("{}", encoding="utf-8")
    (d / "emotion.int8.onnx").write_bytes(b"onnx-bytes")
    (d / "README.md").write_text("# card\n", encoding="utf-8")
    write_manifest(d, {"tokenizer": "tokenizer.json", "tasks": {"emotion": {
        "file": "emotion.int8.onnx", "labels": list(EMOTION_LABELS), "max_len": 32}}})
    assert "README.md" not in load_manifest(d).data["files"] and is_doc("README.md")
    (d / "README.md").write_text("# card, edited\n", encoding="utf-8")
    load_manifest(d)  # still verifies
    (d / "emotion.int8.onnx").write_bytes(b"onnx-bytes, edited")
    with pytest.raises(ManifestError, match="sha256 mismatch"):
        load_manifest(d)


def test_shipped_manifest_verifies_even_if_it_lists_the_card(tmp_path):
    import shutil

    src = default_model_dir()
    if src is None:
        pytest.skip("no shipped default model")
    d = tmp_path / "default"
    shutil.copytree(src, d)
    data = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    data["files"]["README.md"] = "0" * 64  # an old-style manifest that hashed the card
    from sdk.model_manifest import SEAL_FIELD, manifest_seal

    data[SEAL_FIELD] = manifest_seal(data)  # written (and sealed) that way, not hand-edited
    (d / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
    (d / "README.md").write_text("edited\n", encoding="utf-8")
    load_manifest(d)
