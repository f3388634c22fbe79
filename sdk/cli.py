"""Command line: `python -m sdk check|emotion ...` (also installed as `cs-qa`).

Single mode:  cs-qa check "喂，说话呀！" [--context "..."]
Batch mode:   cs-qa check --input calls.jsonl [--output out.jsonl]   (JSONL, CSV, or '-' for stdin)
Batch mode writes exactly one output record per input record; a bad record
gets an error record (with its line number) instead of stopping the run.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Iterator, List, Optional, TextIO, Tuple

from .labels import ENGINES

BATCH_SIZE = 64
INPUT_FORMATS = ("auto", "jsonl", "csv", "text")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cs-qa", description="Offline Chinese call-center compliance QA (客服质检)")
    sub = p.add_subparsers(dest="command", required=True)
    for name, helptext in (("check", "compliance of agent utterances"), ("emotion", "emotion of customer utterances")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("text", nargs="?", help="one utterance (omit and use --input for batch mode)")
        if name == "check":
            s.add_argument("--context", help="what came just before: the customer's words and/or an event like [客户已等待约2分钟]")
        s.add_argument("--input", "-i", help="batch input file (.jsonl or .csv), or '-' for stdin")
        s.add_argument("--input-format", choices=INPUT_FORMATS, default="auto",
                       help="auto: by file extension (stdin: jsonl); text: one utterance per line")
        s.add_argument("--output", "-o", default="-", help="batch output file (JSONL), default stdout")
        s.add_argument("--format", choices=("json", "table"), default="json", help="output format")
        s.add_argument("--engine", choices=ENGINES, default="auto")
        s.add_argument("--model-dir", help="model directory (default: the embedded model)")
        s.add_argument("--rulebook", action="append", help="YAML rulebook overlay (repeatable)")
        s.add_argument("--threads", type=int, help="inference threads for the model engine")
        s.add_argument("--no-progress", action="store_true", help="no progress bar on batch runs")
    return p


def _records(stream: TextIO, fmt: str) -> Iterator[Tuple[int, object]]:
    """(line number, record or Exception) for every input record."""
    if fmt == "csv":
        reader = csv.DictReader(stream)
        for row in reader:
            yield reader.line_num, row
        return
    for n, line in enumerate(stream, 1):
        if not line.strip():
            continue
        if fmt == "text":
            yield n, {"text": line.rstrip("\r\n")}
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as exc:
            yield n, ValueError(f"line is not valid JSON: {exc.msg} at column {exc.colno}")


def _item(record, command: str):
    """The checker input of one record, or raise a specific error."""
    if isinstance(record, Exception):
        raise record
    if isinstance(record, str):
        return record if command == "emotion" else (record, None)
    if not isinstance(record, dict):
        raise TypeError(f"record must be a JSON object or string, got {type(record).__name__}")
    keys = ("text", "utterance") if command == "emotion" else ("utterance", "text")
    for key in keys:
        if key in record:
            text = record[key]
            break
    else:
        raise ValueError(f"record has no {' or '.join(repr(k) for k in keys)} field; found {sorted(record)}")
    if command == "emotion":
        return text
    context = record.get("context")
    return (text, context if context != "" else None)


def _run_batch(checker, command: str, records: List[Tuple[int, object]]) -> List[dict]:
    """One output dict per record; invalid records become error records."""
    out: List[Optional[dict]] = [None] * len(records)
    valid, items = [], []
    for k, (n, record) in enumerate(records):
        rid = record.get("id") if isinstance(record, dict) else None
        try:
            item = _item(record, command)
            # Validate alone so one bad record cannot sink its whole batch.
            if command == "emotion":
                from .checker import _validate_text
                _validate_text(item, "text")
            else:
                from .checker import _coerce_item
                _coerce_item(item, None)
        except (TypeError, ValueError) as exc:
            out[k] = {"line": n, "id": rid, "error": f"{type(exc).__name__}: {exc}"}
            continue
        valid.append((k, n, rid))
        items.append(item)
    if items:
        run = checker.emotion_batch if command == "emotion" else checker.check_batch
        results = run(items)
        for (k, n, rid), result in zip(valid, results):
            d = result.to_dict()
            out[k] = {"line": n, "id": rid, **d} if rid is not None else {"line": n, **d}
    return out  # type: ignore[return-value]


def _table(rows: List[dict], command: str) -> str:
    lines = []
    for r in rows:
        if "error" in r:
            lines.append(f"{r.get('line', '-')!s:>5}  ERROR  {r['error']}")
            continue
        text = r.get("utterance") if command == "check" else None
        top = sorted(r["scores"].items(), key=lambda kv: -kv[1])[0][1]
        head = f"{r.get('line', '-')!s:>5}  {r['label']:<16} {top:.2f}  [{r['engine']}]"
        if text is not None:
            head += f"  {text}"
        lines.append(head)
        for f in r.get("findings", []):
            span = f"{f['start']}-{f['end']}" if f["start"] is not None else "missing"
            sug = f"  建议：{f['suggestion']}" if f.get("suggestion") else ""
            lines.append(f"{'':>7}- {f['rule_id']} ({f['label']}, {span}) {f['message']}{sug}")
        emo = r.get("emotion") if command == "check" else None
        if emo:
            lines.append(f"{'':>7}customer emotion: {emo['label']}")
    return "\n".join(lines)


def _open_input(path: str) -> TextIO:
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"input file not found: {p}")
    return p.open(encoding="utf-8-sig", newline="")


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    if (args.text is None) == (args.input is None):
        print(f"cs-qa {args.command}: give either one utterance or --input FILE, not both or neither", file=sys.stderr)
        return 2
    from . import Checker, ModelUnavailable

    try:
        checker = Checker(engine=args.engine, model_dir=args.model_dir, rulebook=args.rulebook, threads=args.threads)
    except (ModelUnavailable, ValueError, FileNotFoundError) as exc:
        print(f"cs-qa: {exc}", file=sys.stderr)
        return 2

    if args.text is not None:
        try:
            result = (checker.emotion(args.text) if args.command == "emotion"
                      else checker.check(args.text, context=args.context))
        except (TypeError, ValueError) as exc:
            print(f"cs-qa: {exc}", file=sys.stderr)
            return 2
        d = result.to_dict()
        text = _table([d], args.command) if args.format == "table" else json.dumps(d, ensure_ascii=False, indent=2)
        sys.stdout.write(text + "\n")
        return 0

    fmt = args.input_format
    if fmt == "auto":
        fmt = "csv" if args.input.lower().endswith(".csv") else "jsonl"
    try:
        stream = _open_input(args.input)
    except FileNotFoundError as exc:
        print(f"cs-qa: {exc}", file=sys.stderr)
        return 2
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
    progress = None
    if not args.no_progress and sys.stderr.isatty():
        from tqdm import tqdm
        progress = tqdm(unit="rec", file=sys.stderr)
    errors = 0
    try:
        chunk: List[Tuple[int, object]] = []

        def flush():
            nonlocal errors
            rows = _run_batch(checker, args.command, chunk)
            errors += sum("error" in r for r in rows)
            if args.format == "table":
                out.write(_table(rows, args.command) + "\n")
            else:
                out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            if progress is not None:
                progress.update(len(rows))
            chunk.clear()

        for rec in _records(stream, fmt):
            chunk.append(rec)
            if len(chunk) >= BATCH_SIZE:
                flush()
        if chunk:
            flush()
    finally:
        if progress is not None:
            progress.close()
        if out is not sys.stdout:
            out.close()
        stream.close()
    if errors:
        print(f"cs-qa: {errors} record(s) could not be checked; see their error records", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
