"""Check labelled JSONL files against data/SCHEMA.md.

    python -m training.validate [paths...]     # default: data/handwritten, data/real, data/augmented

Every problem is reported as ``file:line: what is wrong, what was expected``; the exit code is 1
when there is any. data/splits is derived and not checked by default (its ids repeat the
sources' ids); pass its files explicitly to check them as a set of their own.
"""
from __future__ import annotations

import argparse
import gzip
import json
import lzma
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Dict, Iterable, List, Optional, Sequence, Tuple

from training import schema

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
SOURCE_DIRS = ("handwritten", "real", "augmented")


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class DataError(ValueError):
    """Raised when labelled data breaks the schema; carries every problem found."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        shown = "\n".join(str(p) for p in self.problems[:20])
        more = f"\n... and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__(f"{len(self.problems)} data problem(s); fix them or run "
                         f"`python -m training.validate`:\n{shown}{more}")


def stored(plain: Path) -> Path:
    """Where a JSONL file lives: its xz-compressed twin (``name.jsonl.xz``) if there is one, else ``plain``."""
    packed = plain.with_name(plain.name + ".xz")
    return packed if packed.exists() else plain


def open_text(path: Path) -> IO[str]:
    """A UTF-8 text file, read through xz or gzip when its name ends in .xz or .gz (the large train
    splits are stored xz-compressed to keep the tracked tree small)."""
    opener = {".xz": lzma.open, ".gz": gzip.open}.get(Path(path).suffix)
    return opener(path, "rt", encoding="utf-8") if opener else open(path, encoding="utf-8")


def default_paths(data_dir: Path = DATA_DIR) -> List[Path]:
    files: List[Path] = []
    for sub in SOURCE_DIRS:
        files.extend(sorted((data_dir / sub).glob("*.jsonl")))
    return files


def expand(paths: Iterable[Path]) -> List[Path]:
    """Directories become the *.jsonl files below them, in a stable order."""
    out: List[Path] = []
    for p in paths:
        p = Path(p)
        out.extend(sorted(p.rglob("*.jsonl")) if p.is_dir() else [p])
    return out


def _is_text(value) -> bool:
    return isinstance(value, str) and value.strip() != ""


def check_record(rec: dict, task: str) -> List[str]:
    """Problems of one parsed record (no cross-record checks)."""
    msgs: List[str] = []
    required = schema.REQUIRED_FIELDS[task]
    allowed = set(required) | set(schema.OPTIONAL_FIELDS)
    for f in required:
        if f not in rec:
            msgs.append(f"missing field {f!r}, expected all of {', '.join(required)}")
    for f in sorted(set(rec) - allowed):
        msgs.append(f"unknown field {f!r}, expected only {', '.join(sorted(allowed))}")

    if "id" in rec and not _is_text(rec["id"]):
        msgs.append(f"id {rec['id']!r} is not a non-empty string, expected e.g. \"hw-telecom-0001\"")
    text_field = schema.TEXT_FIELD[task]
    if text_field in rec and not _is_text(rec[text_field]):
        msgs.append(f"{text_field} is empty or not a string ({rec[text_field]!r}), expected non-empty text")
    if "context" in rec:
        msgs.extend(_context_problems(rec["context"]))

    labels = schema.LABELS[task]
    if "label" in rec and rec["label"] not in labels:
        msgs.append(f"unknown {task} label {rec['label']!r}, expected one of {', '.join(labels)}")
    if task == "compliance" and "scenario" in rec and rec["scenario"] not in schema.SCENARIOS:
        msgs.append(f"unknown scenario {rec['scenario']!r}, expected one of the ids in data/SCHEMA.md")

    source = rec.get("source")
    kind = schema.source_kind(source) if isinstance(source, str) else None
    if "source" in rec:
        want = schema.expected_license(source) if isinstance(source, str) else None
        if want is None:
            msgs.append(f"unknown source {source!r}, expected 'handwritten', "
                        f"'real:<{'|'.join(schema.REAL_DATASETS)}>' or "
                        f"'augmented:<{'|'.join(schema.AUGMENT_METHODS)}>'")
        elif "license" in rec and rec["license"] != want:
            msgs.append(f"license {rec['license']!r} does not match source {source!r}, expected {want!r}")
    if "license" in rec and rec["license"] not in schema.LICENSES:
        msgs.append(f"unknown license {rec['license']!r}, expected one of {', '.join(schema.LICENSES)}")

    if kind in ("handwritten", "augmented"):
        for f in schema.WRITTEN_FIELDS if task == "compliance" else ("group", "domain"):
            if f not in rec:
                msgs.append(f"missing field {f!r}, required for {kind} records")
    if "group" in rec and not _is_text(rec["group"]):
        msgs.append(f"group {rec['group']!r} is not a non-empty string, expected e.g. \"hw-telecom-g012\"")
    if "domain" in rec and rec["domain"] not in schema.DOMAINS:
        msgs.append(f"unknown domain {rec['domain']!r}, expected one of {', '.join(schema.DOMAINS)}")
    return msgs


def _context_problems(ctx) -> List[str]:
    """A context is null, a non-empty string, or a non-empty list of {"role", "text"} turns."""
    if ctx is None:
        return []
    if isinstance(ctx, str):
        return ["context is an empty string, expected null when there is no context"] if not ctx.strip() else []
    if not isinstance(ctx, list):
        return [f"context is {type(ctx).__name__}, expected a string, a list of turns or null"]
    if not ctx:
        return ["context is an empty list, expected null when there is no context"]
    msgs = []
    for i, turn in enumerate(ctx):
        if not isinstance(turn, dict) or set(turn) - {"role", "text"}:
            msgs.append(f"context turn {i} is {turn!r:.60}, expected an object with only 'role' and 'text'")
        elif turn.get("role") not in schema.TURN_ROLES:
            msgs.append(f"context turn {i} role {turn.get('role')!r}, expected one of {', '.join(schema.TURN_ROLES)}")
        elif not _is_text(turn.get("text")):
            msgs.append(f"context turn {i} text {turn.get('text')!r:.60} is empty or not a string, expected text")
    return msgs


def _context_key(ctx) -> str:
    return ctx if isinstance(ctx, str) else json.dumps(ctx, ensure_ascii=False, sort_keys=True) if ctx else ""


def _task_of_record(rec: dict) -> Optional[str]:
    if "utterance" in rec or "scenario" in rec:
        return "compliance"
    if "text" in rec:
        return "emotion"
    return None


def validate_files(paths: Sequence[Path]) -> Tuple[List[Problem], Dict[Path, List[dict]]]:
    """Validate files as one set (ids must be unique across all of them).

    Returns (problems, records per file); records that failed to parse are left out.
    """
    problems: List[Problem] = []
    loaded: Dict[Path, List[dict]] = {}
    first_seen: Dict[str, str] = {}  # id -> "file:line"
    inputs: Dict[Tuple[str, str, str], Tuple[str, str]] = {}  # (task, context, text) -> (label, where)
    for path in paths:
        path = Path(path)
        shown = _shown(path)
        loaded[path] = []
        if not path.exists():
            problems.append(Problem(shown, 0, "file does not exist, expected a JSONL file"))
            continue
        file_task = schema.task_of_path(path.name)
        with open_text(path) as fh:
            lines = fh.read().split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the final newline
        if not lines:
            problems.append(Problem(shown, 0, "file is empty, expected one JSON object per line"))
        for n, raw in enumerate(lines, start=1):
            def bad(msg: str) -> None:
                problems.append(Problem(shown, n, msg))
            if raw.strip() == "":
                bad("blank line, expected one JSON object per line")
                continue
            try:
                rec = json.loads(raw)
            except json.JSONDecodeError as e:
                bad(f"bad JSON ({e.msg} at column {e.colno}), expected one JSON object per line")
                continue
            if not isinstance(rec, dict):
                bad(f"line is a JSON {type(rec).__name__}, expected a JSON object")
                continue
            rec_task = _task_of_record(rec)
            task = file_task or rec_task
            if task is None:
                bad("cannot tell the task: no 'utterance' (compliance) or 'text' (emotion) field, "
                    "and the file name does not start with compliance_ or emotion_")
                continue
            if file_task and rec_task and rec_task != file_task:
                bad(f"a {rec_task} record in a {file_task} file, expected only {file_task} records")
                continue
            for msg in check_record(rec, task):
                bad(msg)
            rid = rec.get("id")
            if isinstance(rid, str):
                here = f"{shown}:{n}"
                if rid in first_seen:
                    bad(f"duplicate id {rid!r} (first at {first_seen[rid]}), expected ids unique across all files")
                else:
                    first_seen[rid] = here
            text = rec.get(schema.TEXT_FIELD[task])
            if isinstance(text, str) and rec.get("label") in schema.LABELS[task]:
                key = (task, _context_key(rec.get("context")), text.strip())
                prev = inputs.get(key)
                if prev and prev[0] != rec["label"]:
                    bad(f"same input as {prev[1]} but label {rec['label']!r} there {prev[0]!r}, "
                        "expected one label per (context, text)")
                elif not prev:
                    inputs[key] = (rec["label"], f"{shown}:{n}")
            loaded[path].append(rec)
    return problems, loaded


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="*", type=Path, help="files or directories (default: data sources)")
    args = ap.parse_args(argv)
    files = expand(args.paths) if args.paths else default_paths()
    problems, loaded = validate_files(files)
    for p in problems:
        print(p)
    n = sum(len(v) for v in loaded.values())
    print(f"{len(files)} file(s), {n} record(s) read, {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
