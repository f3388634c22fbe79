"""The manifest that travels with a model directory, and where to find the default one.

A model directory holds one int8 ONNX file per task, ``tokenizer.json`` and
``manifest.json``. The manifest records the label order of every head, the
tokenizer's max_len, the export settings and the sha256 of every file, so a
model cannot be read with the wrong labels and a corrupted or swapped file is
refused before it is used. Only inert formats are allowed: nothing that could
run code when loaded (pickle, torch checkpoints).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from .bounded_repr import short_repr
from .engines.base import ModelUnavailable
from .tasks import TASK_LABELS, TASKS

MANIFEST_NAME = "manifest.json"
FORMAT = "cs-qa-model/1"
SEAL_FIELD = "manifest_sha256"  # sha256 of the rest of the manifest (manifest_seal)
MAX_MANIFEST_BYTES = 5 * 1024 * 1024
# What each task's model reads: a (context, utterance) pair or one text (the task table's `inputs`).
TASK_INPUTS = {name: task.inputs for name, task in TASKS.items()}

ALLOWED_SUFFIXES = (".onnx", ".json", ".txt", ".md", ".png", ".f16")
# Documentation beside the model (the model card, its plots): shipped, but not part of what the SDK
# loads, so not hashed — editing the card must not make the model "tampered" (and auto fall back).
DOC_SUFFIXES = (".md", ".png")
# Raw little-endian float16 arrays (the n-gram ensemble member): read with numpy.fromfile, never
# unpickled, and arbitrary bytes, so the pickle magic-byte test would only give false alarms.
RAW_ARRAY_SUFFIXES = (".f16",)
# Formats that execute code on load; their presence anywhere in a model dir is refused.
PICKLE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib", ".npy", ".npz")


class ManifestError(ModelUnavailable):
    """The manifest is missing, malformed, or does not match the files beside it."""


@dataclass(frozen=True)
class TaskSpec:
    task: str
    file: str
    labels: Tuple[str, ...]
    max_len: int
    inputs: str  # "pair" or "single"


@dataclass(frozen=True)
class Manifest:
    model_dir: Path
    data: Dict[str, Any]

    @property
    def tasks(self) -> Dict[str, TaskSpec]:
        return {name: _task_spec(name, spec) for name, spec in self.data["tasks"].items()}

    @property
    def tokenizer_path(self) -> Path:
        return self.model_dir / str(self.data["tokenizer"])

    @property
    def version(self) -> str:
        return str(self.data.get("version", ""))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(model_dir: Union[str, "os.PathLike[str]"], verify: bool = True) -> Manifest:
    """Read ``model_dir/manifest.json``; with ``verify`` check every file's sha256,
    the label names and that no pickle-like file is present."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelUnavailable(f"model directory not found: {model_dir}")
    path = model_dir / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"no {MANIFEST_NAME} in model directory {model_dir} (looked for {path})")
    data = _read_json(path)
    _check_structure(data, path)
    _check_sealed(data, path)
    manifest = Manifest(model_dir, data)
    if verify:
        verify_files(manifest)
    return manifest


def verify_files(manifest: Manifest) -> None:
    model_dir = manifest.model_dir
    for name, expected in manifest.data["files"].items():
        if is_doc(name):
            continue  # older manifests hashed the model card too
        path = model_dir / name
        if not path.is_file():
            raise ManifestError(f"model file listed in {MANIFEST_NAME} is missing: {path}")
        actual = sha256_file(path)
        if actual != expected:
            raise ManifestError(
                f"sha256 mismatch for model file {path}: manifest says {expected}, "
                f"file has {actual}; the file was changed or corrupted after export"
            )
    for path in sorted(model_dir.rglob("*")):
        if path.is_file() and _looks_like_pickle(path):
            raise ManifestError(
                f"refusing model directory {model_dir}: {path.name} is a pickle/torch "
                "checkpoint, which can run code when loaded; ship ONNX and JSON only"
            )


def write_manifest(model_dir: Union[str, "os.PathLike[str]"], data: Dict[str, Any]) -> Path:
    """Write ``manifest.json`` with the sha256 of every model file in ``model_dir`` (not its docs)."""
    model_dir = Path(model_dir)
    files = {}
    for path in sorted(p for p in model_dir.iterdir() if p.is_file() and p.name != MANIFEST_NAME):
        if path.suffix not in ALLOWED_SUFFIXES or _looks_like_pickle(path):
            raise ManifestError(
                f"{path} may not be shipped in a model directory; allowed file types: {', '.join(ALLOWED_SUFFIXES)}"
            )
        if not is_doc(path.name):
            files[path.name] = sha256_file(path)
    data = dict(data, format=FORMAT, files=files)
    data.pop(SEAL_FIELD, None)
    data[SEAL_FIELD] = manifest_seal(data)
    _check_structure(data, model_dir / MANIFEST_NAME)
    out = model_dir / MANIFEST_NAME
    out.write_text(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return out


def is_doc(name: str) -> bool:
    """A documentation file (model card, plots), shipped beside the model but not loaded by it."""
    return Path(name).suffix.lower() in DOC_SUFFIXES


MODEL_DIR_ENV = "CS_QA_MODEL_DIR"


def default_model_dir() -> Optional[Path]:
    """The default model: ``$CS_QA_MODEL_DIR`` when set (even if it holds no model: loading it then
    says why, rather than silently using another), else the installed one inside the package
    (``sdk/bundled_models``), else the source checkout's ``models/default``; None when there is none."""
    env = os.environ.get(MODEL_DIR_ENV, "").strip()
    if env:
        return Path(env)
    package = Path(__file__).resolve().parent
    candidates = [
        package / "bundled_models" / "default",
        package / "bundled_models",
        package.parent / "models" / "default",
    ]
    for candidate in candidates:
        if (candidate / MANIFEST_NAME).is_file():
            return candidate
    return None


def manifest_seal(data: Dict[str, Any]) -> str:
    """sha256 of the manifest's canonical JSON without the seal itself: any edit of any field (a
    label order, the ensemble, a weight, the policy) breaks it. It detects edits and corruption, not
    a forger who recomputes it; for that, compare the seal with the one you were given out of band."""
    body = {k: v for k, v in data.items() if k != SEAL_FIELD}
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _read_json(path: Path) -> Any:
    """The manifest's JSON: UTF-8, at most MAX_MANIFEST_BYTES, no duplicate keys, nesting bounded."""
    size = path.stat().st_size
    if size > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{path} has {size:,} bytes; a manifest is at most {MAX_MANIFEST_BYTES:,}")

    def no_duplicates(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise ManifestError(f"{path} has the key {key[:60]!r} twice in one object")
            out[key] = value
        return out

    try:
        return json.loads(path.read_bytes().decode("utf-8"), object_pairs_hook=no_duplicates)
    except ManifestError:
        raise
    except RecursionError:
        raise ManifestError(f"{path} is nested too deeply to be a manifest") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ManifestError(f"{path} is not valid UTF-8 JSON: {str(exc)[:200]}") from None


def _check_sealed(data: Dict[str, Any], path: Path) -> None:
    seal = data.get(SEAL_FIELD)
    if not isinstance(seal, str):
        raise ManifestError(
            f"{path} has no {SEAL_FIELD!r}; write manifests with sdk.model_manifest.write_manifest "
            "(python -m sdk.model_manifest --seal DIR re-seals a directory you have checked)"
        )
    try:
        actual = manifest_seal(data)
    except ValueError as exc:  # NaN or infinity somewhere in it
        raise ManifestError(f"{path} holds a value JSON cannot carry: {exc}") from None
    if actual != seal:
        raise ManifestError(
            f"{path} was changed after it was written: its {SEAL_FIELD} is {seal[:16]}…, its content hashes "
            f"to {actual[:16]}…; a hand-edited manifest (labels, ensemble, weights, policy) would silently "
            "change predictions, so it is refused"
        )
    policy = data.get("combine_policy")
    if policy is not None:
        from .engines.hybrid import POLICIES

        if policy not in POLICIES:
            raise ManifestError(f"{path}: combine_policy {short_repr(policy)} is not one of {', '.join(POLICIES)}")
    weight = data.get("emotion_model_weight")
    numeric = isinstance(weight, (int, float)) and not isinstance(weight, bool)
    if weight is not None and not (numeric and 0 <= weight <= 1):
        raise ManifestError(f"{path}: emotion_model_weight must be a number in [0, 1], got {short_repr(weight)}")
    ensemble = data.get("ensemble")
    if ensemble is not None and not isinstance(ensemble, dict):
        raise ManifestError(f"{path}: ensemble must be an object of task: member, got {short_repr(ensemble)}")


def _check_structure(data: Any, path: Path) -> None:
    if not isinstance(data, dict):
        raise ManifestError(f"{path} must hold a JSON object, got {type(data).__name__}")
    if data.get("format") != FORMAT:
        raise ManifestError(f"{path} has format {short_repr(data.get('format'))}; this SDK reads {FORMAT!r}")
    for key, kind in (("tasks", dict), ("files", dict), ("tokenizer", str)):
        if not isinstance(data.get(key), kind):
            raise ManifestError(f"{path} needs a {kind.__name__} field {key!r}, got {short_repr(data.get(key))}")
    if not data["tasks"]:
        raise ManifestError(f"{path} lists no tasks; expected some of {', '.join(TASK_LABELS)}")
    for name, spec in data["tasks"].items():
        _task_spec(name, spec)
        if spec["file"] not in data["files"]:
            raise ManifestError(f"{path}: task {name!r} model file {spec['file']!r} has no sha256 entry in 'files'")
    if data["tokenizer"] not in data["files"]:
        raise ManifestError(f"{path}: tokenizer file {data['tokenizer']!r} has no sha256 entry in 'files'")
    for name in data["files"]:
        if "/" in name or "\\" in name or name.startswith("."):
            raise ManifestError(f"{path}: file name {name!r} must be a plain name inside the model directory")


def _task_spec(name: str, spec: Any) -> TaskSpec:
    if name not in TASK_LABELS:
        raise ManifestError(f"unknown task {name!r} in manifest; expected one of {', '.join(TASK_LABELS)}")
    if not isinstance(spec, dict):
        raise ManifestError(f"manifest task {name!r} must be an object, got {type(spec).__name__}")
    labels = spec.get("labels")
    expected = TASK_LABELS[name]
    if (
        not isinstance(labels, list)
        or not all(isinstance(x, str) for x in labels)
        or len(labels) != len(set(labels))
        or set(labels) != set(expected)
    ):
        raise ManifestError(
            f"manifest task {name!r} labels {short_repr(labels)} do not match the SDK's {name} labels {list(expected)}"
        )
    max_len = spec.get("max_len")
    if not isinstance(max_len, int) or not 8 <= max_len <= 4096:
        raise ManifestError(f"manifest task {name!r} max_len must be an int in 8..4096, got {max_len!r}")
    inputs = spec.get("inputs", TASK_INPUTS[name])
    if inputs != TASK_INPUTS[name]:
        raise ManifestError(f"manifest task {name!r} inputs must be {TASK_INPUTS[name]!r}, got {inputs!r}")
    if not isinstance(spec.get("file"), str):
        raise ManifestError(f"manifest task {name!r} needs a 'file' name, got {spec.get('file')!r}")
    return TaskSpec(name, spec["file"], tuple(labels), max_len, inputs)


def _looks_like_pickle(path: Path) -> bool:
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return True
    if path.suffix.lower() in RAW_ARRAY_SUFFIXES:
        return False
    with open(path, "rb") as handle:
        head = handle.read(4)
    # Pickle protocol 2+ starts with 0x80 <proto>; torch.save writes a zip holding a pickle.
    return (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5) or head == b"PK\x03\x04"


def describe(manifest: Manifest) -> List[str]:
    """One line per task, for CLIs and logs."""
    return [
        f"{spec.task}: {spec.file} labels={list(spec.labels)} max_len={spec.max_len}"
        for spec in manifest.tasks.values()
    ]


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m sdk.model_manifest --seal DIR``: re-hash the files of a model directory you have
    checked and re-seal its manifest (after a deliberate edit); ``--check DIR`` verifies it."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sdk.model_manifest")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--seal", metavar="DIR", help="re-hash the files and re-seal DIR/manifest.json")
    group.add_argument("--check", metavar="DIR", help="verify DIR against its manifest")
    args = parser.parse_args(argv)
    if args.seal:
        path = Path(args.seal) / MANIFEST_NAME
        data = _read_json(path)
        if not isinstance(data, dict):
            raise ManifestError(f"{path} must hold a JSON object")
        print(write_manifest(args.seal, data))
        return 0
    manifest = load_manifest(args.check)
    print(f"{manifest.model_dir}: verified, {SEAL_FIELD} {manifest.data[SEAL_FIELD]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
