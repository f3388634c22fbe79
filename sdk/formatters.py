"""Writing results: JSON (one object, or one line per record) and a human-readable table.

Input rows are the dicts that batch runs produce: a result's ``to_dict()`` plus its input ``line``
and ``id``, or an error record ``{"line", "id", "error"}``.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Mapping

OUTPUT_FORMATS = ("json", "table")


def to_json(row: Mapping[str, Any], indent: bool = True) -> str:
    return json.dumps(row, ensure_ascii=False, indent=2 if indent else None)


def to_jsonl(rows: Iterable[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def to_table(rows: Iterable[Mapping[str, Any]], command: str) -> str:
    """One line per result (label, top score, engine, utterance), its findings indented below."""
    lines: List[str] = []
    for r in rows:
        if "error" in r:
            lines.append(f"{r.get('line', '-')!s:>5}  ERROR  {r['error']}")
            continue
        text = r.get("utterance") if command == "check" else None
        top = max(r["scores"].values())
        head = f"{r.get('line', '-')!s:>5}  {r['label']:<16} {top:.2f}  [{r['engine']}]"
        if text is not None:
            head += f"  {text}"
        lines.append(head)
        for f in r.get("findings", []):
            lines.append(_finding_line(f))
        emo = r.get("emotion") if command == "check" else None
        if emo:
            lines.append(f"{'':>7}customer emotion: {emo['label']}")
    return "\n".join(lines)


def _finding_line(f: Dict[str, Any]) -> str:
    span = f"{f['start']}-{f['end']}" if f["start"] is not None else "missing"
    sug = f"  建议：{f['suggestion']}" if f.get("suggestion") else ""
    return f"{'':>7}- {f['rule_id']} ({f['label']}, {span}) {f['message']}{sug}"


def render(rows: List[Dict[str, Any]], fmt: str, command: str) -> str:
    """Batch output in ``fmt``: JSON lines or the table (ends with a newline)."""
    if fmt == "table":
        return to_table(rows, command) + "\n"
    return to_jsonl(rows)
