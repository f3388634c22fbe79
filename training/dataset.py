"""Load a split of labelled data for training, refusing data that breaks the schema.

    from training.dataset import load
    train = load("compliance", "train")                       # list of record dicts
    train = load("compliance", "train", permissive_only=True)  # drop research-only / NC sources
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

from training import schema
from training.validate import DATA_DIR, DataError, stored, validate_files

SPLITS = ("train", "dev", "test")


def split_path(task: str, split: str, data_dir: Optional[Path] = None) -> Path:
    if task not in schema.TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(schema.TASKS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    # training.split writes the large train and dev splits compressed
    return stored(Path(data_dir or DATA_DIR) / "splits" / f"{task}_{split}.jsonl")


def is_permissive(rec: dict) -> bool:
    return rec.get("license") in schema.PERMISSIVE_LICENSES


BLIND = "blind"


def blind_paths(task: str, data_dir: Optional[Path] = None) -> List[Path]:
    """The blind held-out set (data/heldout/): written by a separate writer who saw neither the
    other data nor the rules; never used for training, tuning or model selection."""
    split_path(task, "test", data_dir)  # validates the task name
    return sorted((Path(data_dir or DATA_DIR) / "heldout").glob(f"{task}_*.jsonl"))


REAL_BLIND = "real_blind"


def real_blind_path(task: str, data_dir: Optional[Path] = None) -> Path:
    """The real blind set (data/real_conv/<task>_blind.jsonl, stored as .jsonl.xz): turns of real
    conversations no choice ever saw (training.real_labels keeps >= 20 % of the conversations out), for
    the final measurement."""
    split_path(task, "test", data_dir)  # validates the task name
    return stored(Path(data_dir or DATA_DIR) / "real_conv" / f"{task}_blind.jsonl")


def load(task: str, split: str, permissive_only: bool = False, data_dir: Optional[Path] = None) -> List[dict]:
    """Records of data/splits/<task>_<split>.jsonl (for split "blind": data/heldout/; for
    "real_blind": data/real_conv/<task>_blind.jsonl), validated first.

    Raises FileNotFoundError if the split has not been written (run `python -m training.split`)
    and DataError listing every problem if the file breaks data/SCHEMA.md.
    """
    if split == REAL_BLIND:
        path = real_blind_path(task, data_dir)
        if not path.exists():
            raise FileNotFoundError(f"real blind set {path} not found; run `python -m training.real_labels import`")
        problems, loaded = validate_files([path])
        if problems:
            raise DataError(problems)
        return [r for r in loaded[path] if is_permissive(r)] if permissive_only else loaded[path]
    if split == BLIND:
        paths = blind_paths(task, data_dir)
        if not paths:
            raise FileNotFoundError(f"no blind held-out files data/heldout/{task}_*.jsonl")
        problems, loaded = validate_files(paths)
        if problems:
            raise DataError(problems)
        records = [r for p in paths for r in loaded[p]]
        return [r for r in records if is_permissive(r)] if permissive_only else records
    path = split_path(task, split, data_dir)
    if not path.exists():
        raise FileNotFoundError(f"split file {path} not found; run `python -m training.split` first")
    problems, loaded = validate_files([path])
    if problems:
        raise DataError(problems)
    records = loaded[path]
    if permissive_only:
        records = [r for r in records if is_permissive(r)]
    return records


def model_input(task: str, rec: dict) -> str:
    """The text a classifier sees: context [SEP] utterance for compliance, text for emotion."""
    if task == "compliance":
        return f"{rec.get('context') or ''} [SEP] {rec['utterance']}"
    return rec["text"]


def texts_and_labels(task: str, records: List[dict]) -> Tuple[List[str], List[str]]:
    return [model_input(task, r) for r in records], [r["label"] for r in records]
