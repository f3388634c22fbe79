"""Command line: `python -m sdk check|emotion ...` (also installed as `cs-qa`).

Single mode:  cs-qa check "喂，说话呀！" [--context "..."]
Batch mode:   cs-qa check --input calls.jsonl [--output out.jsonl]   (JSONL, CSV, or '-' for stdin)
Batch mode writes exactly one output record per input record; a bad record
gets an error record (with its line number) instead of stopping the run.

Exit codes: 0 every record checked; 1 some records are error records; 2 usage or
configuration error (bad arguments, unreadable input, unwritable output, a broken
rulebook, --engine onnx without a loadable model); 3 an internal error (a bug);
130 interrupted (Ctrl-C / SIGTERM: the records written so far are complete);
141 the reader of the output went away (``cs-qa ... | head``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from typing import Any, BinaryIO, Dict, List, Optional

from .formatters import OUTPUT_FORMATS, render, to_json, to_table
from .labels import ENGINES
from .records import INPUT_FORMATS, Record, open_input, read_records, resolve_format, run_records

BATCH_SIZE = 64
EXIT_OK, EXIT_RECORD_ERRORS, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 3, 130, 141


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(
        prog="cs-qa",
        description="Offline Chinese call-center compliance QA (客服质检)",
        epilog="exit codes: 0 ok; 1 some records are error records; 2 usage/configuration error; "
        "3 internal error; 130 interrupted; 141 output pipe closed. CS_QA_MODEL_DIR: default model directory.",
    )
    p.add_argument("--version", action="version", version=f"cs-qa {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name, helptext in (("check", "compliance of agent utterances"), ("emotion", "emotion of customer utterances")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("text", nargs="?", help="one utterance (omit and use --input for batch mode)")
        if name == "check":
            s.add_argument(
                "--context", help="what came just before: the customer's words and/or an event like [客户已等待约2分钟]"
            )
        s.add_argument("--input", "-i", help="batch input file (.jsonl or .csv), or '-' for stdin")
        s.add_argument(
            "--input-format",
            choices=INPUT_FORMATS,
            default="auto",
            help="auto: by file extension (stdin: jsonl); text: one utterance per line",
        )
        s.add_argument("--output", "-o", default="-", help="batch output file (JSONL), default stdout")
        s.add_argument("--format", choices=OUTPUT_FORMATS, default="json", help="output format")
        s.add_argument("--engine", choices=ENGINES, default="auto")
        s.add_argument("--model-dir", help="model directory (default: the embedded model)")
        s.add_argument("--rulebook", action="append", help="YAML rulebook overlay (repeatable)")
        s.add_argument("--threads", type=int, help="inference threads for the model engine")
        s.add_argument("--no-progress", action="store_true", help="no progress bar on batch runs")
        s.add_argument("--encoding", default="utf-8", help="encoding of the input file (default utf-8; e.g. gbk)")
        s.add_argument(
            "--utterance-field",
            metavar="NAME",
            help="the input's column/key holding the utterance (CSV header or JSON key, e.g. 坐席)",
        )
        if name == "check":
            s.add_argument("--context-field", metavar="NAME", help="the input's column/key holding the context")
        s.add_argument("--id-field", metavar="NAME", help="the input's column/key holding the record id")
    from .audit.cli import add_commands  # cs-qa audit / cs-qa report

    add_commands(sub)
    from .server.run import add_parser as add_serve  # cs-qa serve (registration only: the service is sdk/server)

    add_serve(sub)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _main(args)
    except KeyboardInterrupt:
        print("cs-qa: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # a bug: say so, with the traceback, and a code of its own
        traceback.print_exc(file=sys.stderr)
        print(f"cs-qa: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL


def _main(args: argparse.Namespace) -> int:
    if args.command in ("audit", "report"):
        from .audit.cli import run

        return run(args)
    if args.command == "serve":
        return int(args.run(args))
    if (args.text is None) == (args.input is None):
        print(f"cs-qa {args.command}: give either one utterance or --input FILE, not both or neither", file=sys.stderr)
        return EXIT_USAGE
    problem = _output_problem(args)
    if problem:
        print(f"cs-qa: {problem}", file=sys.stderr)
        return EXIT_USAGE
    from . import Checker, ModelUnavailable, RulebookError

    try:
        checker = Checker(engine=args.engine, model_dir=args.model_dir, rulebook=args.rulebook, threads=args.threads)
    except (ModelUnavailable, RulebookError, ValueError, TypeError, OSError) as exc:
        print(f"cs-qa: {exc}", file=sys.stderr)
        return EXIT_USAGE

    if args.text is not None:
        try:
            result = (
                checker.emotion(args.text)
                if args.command == "emotion"
                else checker.check(args.text, context=args.context)
            )
        except (TypeError, ValueError) as exc:
            print(f"cs-qa: {exc}", file=sys.stderr)
            return EXIT_USAGE
        d = result.to_dict()
        text = (to_table([d], args.command) if args.format == "table" else to_json(d)) + "\n"
        sys.stdout.buffer.write(text.encode("utf-8", "backslashreplace"))
        sys.stdout.flush()
        return EXIT_OK
    return _batch(args, checker)


def _output_problem(args: argparse.Namespace) -> Optional[str]:
    """Why the batch output cannot be written where asked (None: it can)."""
    if args.input is None or args.output == "-":
        return None
    if args.input != "-" and os.path.exists(args.output) and os.path.exists(args.input):
        if os.path.samefile(args.input, args.output):
            return f"--output {args.output} is the input file: writing it would erase the input"
    if os.path.isdir(args.output):
        return f"--output {args.output} is a directory"
    return None


def _fields(args: argparse.Namespace) -> Dict[str, str]:
    names = {"utterance": args.utterance_field, "context": getattr(args, "context_field", None), "id": args.id_field}
    return {ours: theirs for ours, theirs in names.items() if theirs}


class _Stop:
    """SIGINT/SIGTERM during a batch: finish the records in hand, write them whole, then stop."""

    def __init__(self) -> None:
        self.requested = False
        self._old: Dict[int, Any] = {}

    def __enter__(self) -> "_Stop":
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except (ValueError, OSError):  # not the main thread: default handling
                pass
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def _batch(args: argparse.Namespace, checker: Any) -> int:
    fmt = resolve_format(args.input, args.input_format)
    try:
        stream = open_input(args.input, args.encoding)
    except (FileNotFoundError, LookupError, OSError) as exc:
        print(f"cs-qa: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        out: BinaryIO = sys.stdout.buffer if args.output == "-" else open(args.output, "wb")
    except OSError as exc:
        stream.close()
        print(f"cs-qa: cannot write --output {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    progress = None
    if not args.no_progress and sys.stderr.isatty():
        from tqdm import tqdm

        progress = tqdm(unit="rec", file=sys.stderr)
    errors = 0
    stopped = False
    try:
        with _Stop() as stop:
            chunk: List[Record] = []

            def flush() -> None:
                nonlocal errors
                rows = run_records(checker, args.command, chunk)
                errors += sum("error" in r for r in rows)
                # one write per chunk of whole records; lone surrogates as JSON escapes
                out.write(render(rows, args.format, args.command).encode("utf-8", "backslashreplace"))
                out.flush()
                if progress is not None:
                    progress.update(len(rows))
                chunk.clear()

            for rec in read_records(stream, fmt, _fields(args)):
                chunk.append(rec)
                if len(chunk) >= BATCH_SIZE:
                    flush()
                if stop.requested:
                    break
            if chunk:
                flush()
            stopped = stop.requested
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            raise
        print(f"cs-qa: cannot write --output {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if progress is not None:
            progress.close()
        if out is not sys.stdout.buffer:
            out.close()
        stream.close()
    if stopped:
        print("cs-qa: interrupted; the records written are complete", file=sys.stderr)
        return EXIT_INTERRUPTED
    if errors:
        print(f"cs-qa: {errors} record(s) could not be checked; see their error records", file=sys.stderr)
    return EXIT_RECORD_ERRORS if errors else EXIT_OK


def _quiet_stdout() -> None:
    """After the reader of stdout went away: no second BrokenPipeError when Python flushes at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    raise SystemExit(main())
