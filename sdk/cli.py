"""Command line: `python -m sdk check|emotion ...` (also installed as `cs-qa`).

Single mode:  cs-qa check "喂，说话呀！" [--context "..."]
Batch mode:   cs-qa check --input calls.jsonl [--output out.jsonl]   (JSONL, CSV, or '-' for stdin)
Batch mode writes exactly one output record per input record; a bad record
gets an error record (with its line number) instead of stopping the run.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional, TextIO

from .formatters import OUTPUT_FORMATS, render, to_json, to_table
from .labels import ENGINES
from .records import INPUT_FORMATS, Record, open_input, read_records, resolve_format, run_records

BATCH_SIZE = 64


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cs-qa", description="Offline Chinese call-center compliance QA (客服质检)")
    sub = p.add_subparsers(dest="command", required=True)
    for name, helptext in (("check", "compliance of agent utterances"), ("emotion", "emotion of customer utterances")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("text", nargs="?", help="one utterance (omit and use --input for batch mode)")
        if name == "check":
            s.add_argument("--context", help="what came just before: the customer's words and/or an event "
                                             "like [客户已等待约2分钟]")
        s.add_argument("--input", "-i", help="batch input file (.jsonl or .csv), or '-' for stdin")
        s.add_argument("--input-format", choices=INPUT_FORMATS, default="auto",
                       help="auto: by file extension (stdin: jsonl); text: one utterance per line")
        s.add_argument("--output", "-o", default="-", help="batch output file (JSONL), default stdout")
        s.add_argument("--format", choices=OUTPUT_FORMATS, default="json", help="output format")
        s.add_argument("--engine", choices=ENGINES, default="auto")
        s.add_argument("--model-dir", help="model directory (default: the embedded model)")
        s.add_argument("--rulebook", action="append", help="YAML rulebook overlay (repeatable)")
        s.add_argument("--threads", type=int, help="inference threads for the model engine")
        s.add_argument("--no-progress", action="store_true", help="no progress bar on batch runs")
    from .audit.cli import add_commands  # cs-qa audit / cs-qa report

    add_commands(sub)
    from .server.run import add_parser as add_serve  # cs-qa serve (registration only: the service is sdk/server)

    add_serve(sub)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("audit", "report"):
        from .audit.cli import run

        return run(args)
    if args.command == "serve":
        return int(args.run(args))
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
        sys.stdout.write((to_table([d], args.command) if args.format == "table" else to_json(d)) + "\n")
        return 0

    fmt = resolve_format(args.input, args.input_format)
    try:
        stream = open_input(args.input)
    except FileNotFoundError as exc:
        print(f"cs-qa: {exc}", file=sys.stderr)
        return 2
    out: TextIO = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
    progress = None
    if not args.no_progress and sys.stderr.isatty():
        from tqdm import tqdm
        progress = tqdm(unit="rec", file=sys.stderr)
    errors = 0
    try:
        chunk: List[Record] = []

        def flush() -> None:
            nonlocal errors
            rows = run_records(checker, args.command, chunk)
            errors += sum("error" in r for r in rows)
            out.write(render(rows, args.format, args.command))
            if progress is not None:
                progress.update(len(rows))
            chunk.clear()

        for rec in read_records(stream, fmt):
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
