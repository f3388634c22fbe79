"""``cs-qa audit`` and ``cs-qa report`` (registered by sdk/cli.py).

    cs-qa audit INPUT [-o audits.jsonl] [--scorecard my.yaml] [--report report.html]
    cs-qa report audits.jsonl -o report.html

``audit`` writes one JSON line per call: the audit, or ``{"source", "id", "error"}`` for a call that
could not be read or audited (the rest go on; the exit code is then 1). A summary goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any, Dict, Iterable, List, TextIO

from ..labels import ENGINES
from .readers import FORMATS

BATCH_CALLS = 32


def add_commands(sub: Any) -> None:
    a = sub.add_parser(
        "audit",
        help="audit whole calls / chat sessions (score card, call-level checks)",
        description="Audit whole calls: JSONL of calls, plain transcripts (客服：/客户：, A:/B:, "
        "[mm:ss] times), JDDC chat logs, or CSV (one row per turn); a folder of them.",
    )
    a.add_argument("input", help="file or folder of calls; '-' reads JSONL (or --format) from stdin")
    a.add_argument("--output", "-o", default="-", help="audits as JSONL (default stdout)")
    a.add_argument("--scorecard", help="your score card YAML (default: the built-in one)")
    a.add_argument("--report", help="also write the HTML report here")
    a.add_argument("--format", choices=FORMATS, default="auto", help="input format (auto: by extension and content)")
    a.add_argument("--encoding", help="input encoding (default: UTF-8, else detected; e.g. gb18030)")
    a.add_argument("--channel", choices=("phone", "chat"), help="channel of calls that do not say")
    a.add_argument("--columns", help="CSV column mapping, e.g. call_id=会话ID,role=角色,text=内容,start=开始,end=结束")
    a.add_argument("--roles", help="speaker names per role, e.g. agent=坐席|A,customer=来电|B")
    a.add_argument("--engine", choices=ENGINES, default="auto")
    a.add_argument("--model-dir", help="model directory (default: the embedded model)")
    a.add_argument("--rulebook", action="append", help="YAML rulebook overlay, may carry a call: section (repeatable)")
    a.add_argument("--threads", type=int, help="inference threads for the model engine")
    a.add_argument("--no-progress", action="store_true", help="no progress bar")
    r = sub.add_parser("report", help="HTML report of an audits JSONL (one self-contained file)")
    r.add_argument("input", help="audits JSONL written by cs-qa audit")
    r.add_argument("--output", "-o", required=True, help="HTML file to write")
    r.add_argument("--title", default="通话质检报告", help="report title")


def run(args: argparse.Namespace) -> int:
    return _report(args) if args.command == "report" else _audit(args)


def _err(msg: str) -> None:
    print(f"cs-qa {msg}", file=sys.stderr)


def _audit(args: argparse.Namespace) -> int:
    from .. import Checker, ModelUnavailable
    from .config import AuditConfigError
    from .readers import CallRecord, ReaderError, decode, parse_calls, parse_mapping, parse_roles, read_calls

    try:
        columns = parse_mapping(args.columns, "--columns")
        roles = parse_roles(args.roles)
        if args.input == "-":
            text = decode(sys.stdin.buffer.read(), args.encoding, "stdin")
            fmt = "jsonl" if args.format == "auto" else args.format
            records: List[CallRecord] = list(parse_calls(text, fmt, "stdin", args.channel, columns, roles))
        else:
            records = list(read_calls(args.input, args.format, args.encoding, args.channel, columns, roles))
    except (ReaderError, FileNotFoundError) as exc:
        _err(f"audit: {exc}")
        return 2
    try:
        checker = Checker(
            engine=args.engine,
            model_dir=args.model_dir,
            rulebook=args.rulebook,
            threads=args.threads,
            scorecard=args.scorecard,
        )
        checker._call_auditor()  # a broken call: section fails here, before any output
    except (ModelUnavailable, AuditConfigError, ValueError, FileNotFoundError) as exc:
        _err(f"audit: {exc}")
        return 2

    out: TextIO = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
    progress = None
    if not args.no_progress and sys.stderr.isatty():
        from tqdm import tqdm

        progress = tqdm(total=len(records), unit="call", file=sys.stderr)
    rows: List[Dict[str, Any]] = []
    try:
        for k in range(0, len(records), BATCH_CALLS):
            chunk = records[k : k + BATCH_CALLS]
            for row in _audit_chunk(checker, chunk):
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                rows.append(row)
            if progress is not None:
                progress.update(len(chunk))
    finally:
        if progress is not None:
            progress.close()
        if out is not sys.stdout:
            out.close()
    print(summary(rows), file=sys.stderr)
    if args.report:
        from .report import write_report

        write_report(rows, args.report, engine=checker.engine)
        print(f"report: {args.report}", file=sys.stderr)
    return 1 if any("error" in r for r in rows) else 0


def _audit_chunk(checker: Any, chunk: List[Any]) -> List[Dict[str, Any]]:
    good = [r for r in chunk if r.error is None]
    results = iter(checker.audit_batch([r.call for r in good], errors="return")) if good else iter(())
    rows = []
    for rec in chunk:
        if rec.error is not None:
            rows.append({"source": rec.source, "id": rec.id, "error": rec.error})
            continue
        res = next(results)
        if hasattr(res, "error") and not hasattr(res, "score"):
            rows.append({"source": rec.source, "id": res.id if res.id is not None else rec.id, "error": res.error})
        else:
            rows.append({"source": rec.source, **res.to_dict()})
    return rows


def summary(rows: Iterable[Dict[str, Any]]) -> str:
    rows = list(rows)
    ok = [r for r in rows if "error" not in r]
    errors = len(rows) - len(ok)
    if not ok:
        return f"audited 0 calls; {errors} could not be audited (see their error records)"
    passed = sum(1 for r in ok if r["passed"])
    mean = sum(r["score"] for r in ok) / len(ok)
    top = Counter(f["check_id"] for r in ok for f in r["findings"]).most_common(5)
    tops = ", ".join(f"{cid} ×{n}" for cid, n in top) or "none"
    line = (
        f"audited {len(ok)} call(s): pass rate {passed / len(ok):.0%} ({passed}/{len(ok)}), "
        f"mean score {mean:.1f}; top findings: {tops}"
    )
    if errors:
        line += f"; {errors} could not be audited (see their error records)"
    return line


def _report(args: argparse.Namespace) -> int:
    from .report import read_audits, write_report

    try:
        rows, bad = read_audits(args.input)
    except FileNotFoundError as exc:
        _err(f"report: {exc}")
        return 2
    write_report(rows, args.output, title=args.title)
    for n, why in bad:
        _err(f"report: {args.input}:{n}: skipped, {why}")
    print(f"report: {args.output} ({sum('error' not in r for r in rows)} calls)", file=sys.stderr)
    return 1 if bad else 0
