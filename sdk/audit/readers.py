"""Calls from the files QA teams actually have.

* ``jsonl``: one call per line, the shape of ../shared/API.md (``json``: a list of them).
* ``text``: a plain transcript, one turn per line: ``客服：…`` / ``客户：…`` (also 坐席/座席/客户代表,
  顾客/用户/来电人, ``A:``/``B:``, ``agent:``/``customer:``), optionally with a time in front or after
  the speaker: ``[01:02]``, ``[00:01:02]``, ``[01:02-01:05]``. ``事件：保持`` (or hold / mute / 转接 /
  客户挂机 / 坐席挂机) lines are events. A line without a speaker continues the turn above. Lines
  ``# key: value`` set call fields (id, channel, ring_seconds, agent_id); ``=== id ===`` starts a new call.
* ``jddc``: JDDC-style chat logs, tab-separated ``session id, [user id,] role flag, [...,] text``
  (JDDC 2019: 7 columns, ``waiter_send`` 1 = agent); consecutive rows of a session form one chat.
* ``csv``: one row per turn; columns call id, role, text, start, end (names mapped with
  ``columns={"call_id": "会话ID", ...}``; role values mapped with ``roles``).

Files are decoded as UTF-8, else by charset detection (GBK/GB18030 exports are common), unless an
``encoding`` is given. Every call comes back as a :class:`CallRecord`: either the call dict or an
error naming the file, the line and the call, so one bad call never stops a batch.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union

FORMATS = ("auto", "jsonl", "json", "text", "jddc", "csv")
_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "jddc",
    ".txt": "text",
    ".text": "text",
    ".log": "text",
}

AGENT_NAMES = (
    "客服",
    "坐席",
    "座席",
    "客服代表",
    "客服人员",
    "话务员",
    "人工客服",
    "agent",
    "a",
    "staff",
    "waiter",
    "helpdesk",
    "sys",
    "system_agent",
    "1",
)
CUSTOMER_NAMES = ("客户", "顾客", "用户", "来电人", "来电者", "买家", "customer", "b", "user", "usr", "caller", "0")
EVENT_NAMES = ("事件", "event", "系统", "system")
EVENT_ALIASES = {
    "hold": "hold",
    "保持": "hold",
    "通话保持": "hold",
    "等待": "hold",
    "mute": "mute",
    "静音": "mute",
    "transfer": "transfer",
    "转接": "transfer",
    "转人工": "transfer",
    "agent_hangup": "agent_hangup",
    "坐席挂机": "agent_hangup",
    "客服挂机": "agent_hangup",
    "座席挂机": "agent_hangup",
    "customer_hangup": "customer_hangup",
    "客户挂机": "customer_hangup",
    "顾客挂机": "customer_hangup",
}
CSV_FIELDS = ("call_id", "role", "text", "start", "end")
CSV_DEFAULTS = {
    "call_id": ("call_id", "id", "session_id", "会话id", "通话id", "会话编号", "通话编号", "session"),
    "role": ("role", "speaker", "角色", "说话人", "发言人", "身份"),
    "text": ("text", "content", "utterance", "内容", "文本", "话术", "发言内容"),
    "start": ("start", "begin", "开始", "开始时间", "起始时间"),
    "end": ("end", "stop", "结束", "结束时间"),
}


@dataclass(frozen=True)
class CallRecord:
    """One call read from a file, or why it could not be read."""

    source: str  # "file.txt", "file.jsonl:12", "file.csv: call c-7"
    call: Optional[Dict[str, Any]] = None
    error: Optional[str] = None

    @property
    def id(self) -> Optional[str]:
        cid = self.call.get("id") if self.call else None
        return None if cid is None else str(cid)


class ReaderError(ValueError):
    """A file cannot be read at all (unknown format, undecodable bytes, bad column mapping)."""


# --------------------------------------------------------------------------- decoding
def decode(data: bytes, encoding: Optional[str] = None, name: str = "input") -> str:
    """Text of ``data``: the given encoding, else UTF-8 (with or without BOM), else a detected one."""
    if encoding:
        try:
            return data.decode(encoding)
        except (LookupError, UnicodeDecodeError) as exc:
            raise ReaderError(f"{name}: cannot decode as {encoding}: {exc}") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise ReaderError(f"{name}: not UTF-8 and no encoding could be detected; pass --encoding (e.g. gb18030)")
    enc = best.encoding
    # GBK/GB2312 guesses are read as GB18030, their superset (rare characters decode too).
    if enc.lower().replace("-", "") in ("gbk", "gb2312", "cp936", "hz"):
        enc = "gb18030"
    return data.decode(enc, errors="strict")


# --------------------------------------------------------------------------- dispatch
def read_calls(
    path: Union[str, "os.PathLike[str]"],
    fmt: str = "auto",
    encoding: Optional[str] = None,
    channel: Optional[str] = None,
    columns: Optional[Mapping[str, str]] = None,
    roles: Optional[Mapping[str, Sequence[str]]] = None,
) -> Iterator[CallRecord]:
    """Every call in ``path`` (a file, or a folder of files), in order."""
    if fmt not in FORMATS:
        raise ReaderError(f"unknown input format {fmt!r}; expected one of {', '.join(FORMATS)}")
    p = Path(path)
    if p.is_dir():
        for child in sorted(q for q in p.iterdir() if q.is_file() and not q.name.startswith(".")):
            yield from read_calls(child, fmt, encoding, channel, columns, roles)
        return
    if not p.is_file():
        raise FileNotFoundError(f"input not found: {p}")
    text = decode(p.read_bytes(), encoding, str(p))
    yield from parse_calls(text, resolve(p.name, text, fmt), p.name, channel, columns, roles)


def resolve(name: str, text: str, fmt: str = "auto") -> str:
    if fmt != "auto":
        return fmt
    ext = os.path.splitext(name.lower())[1]
    found = _EXTENSIONS.get(ext)
    if found == "text" or found is None:
        return "jddc" if _looks_like_jddc(text) else "text"
    return found


def parse_calls(
    text: str,
    fmt: str,
    name: str = "input",
    channel: Optional[str] = None,
    columns: Optional[Mapping[str, str]] = None,
    roles: Optional[Mapping[str, Sequence[str]]] = None,
) -> Iterator[CallRecord]:
    role_of = _role_map(roles)
    if fmt == "jsonl":
        yield from _jsonl(text, name, channel)
    elif fmt == "json":
        yield from _json(text, name, channel)
    elif fmt == "text":
        yield from _text(text, name, channel, role_of)
    elif fmt == "jddc":
        yield from _jddc(text, name, channel)
    elif fmt == "csv":
        yield from _csv(text, name, channel, columns, role_of)
    else:
        raise ReaderError(f"unknown input format {fmt!r}; expected one of {', '.join(FORMATS[1:])}")


def _with_channel(call: Dict[str, Any], channel: Optional[str]) -> Dict[str, Any]:
    if channel and "channel" not in call:
        call["channel"] = channel
    return call


# --------------------------------------------------------------------------- JSON
def _jsonl(text: str, name: str, channel: Optional[str]) -> Iterator[CallRecord]:
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{name}:{n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield CallRecord(where, error=f"line {n} is not valid JSON: {exc.msg} at column {exc.colno}")
            continue
        yield _json_call(obj, where, channel)


def _json(text: str, name: str, channel: Optional[str]) -> Iterator[CallRecord]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        yield CallRecord(name, error=f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
        return
    calls = data if isinstance(data, list) else [data]
    for i, obj in enumerate(calls):
        yield _json_call(obj, f"{name}[{i}]", channel)


def _json_call(obj: Any, where: str, channel: Optional[str]) -> CallRecord:
    if isinstance(obj, list):
        obj = {"turns": obj}
    if not isinstance(obj, dict):
        return CallRecord(where, error=f"a call must be a JSON object with 'turns', got {type(obj).__name__}")
    return CallRecord(where, _with_channel(obj, channel))


# --------------------------------------------------------------------------- plain transcripts
_TIME = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?"


def _stamp(a: str, b: str) -> str:
    return rf"[\[【(（]?\s*(?P<{a}>{_TIME})(?:\s*(?:-->|-|–|~|至|到)\s*(?P<{b}>{_TIME}))?\s*[\]】)）]?"


_LINE = re.compile(
    r"^\s*(?:" + _stamp("t1", "t2") + r"\s*)?"
    r"(?P<who>[^\s:：\[\]【】()（）]{1,8}?)\s*"
    r"(?:" + _stamp("t3", "t4") + r"\s*)?"
    r"[:：]\s*(?P<text>.*)$"
)
_HEADER = re.compile(r"^\s*#\s*(?P<key>[A-Za-z_\u4e00-\u9fff]+)\s*[:：=]\s*(?P<value>.+?)\s*$")
_SPLIT = re.compile(r"^\s*(?:={3,}|#{3,})\s*(?P<id>.*?)\s*(?:={3,}|#{3,})?\s*$")
_HEADER_KEYS = {
    "id": "id",
    "call_id": "id",
    "通话编号": "id",
    "会话编号": "id",
    "channel": "channel",
    "渠道": "channel",
    "ring_seconds": "ring_seconds",
    "振铃": "ring_seconds",
    "振铃秒数": "ring_seconds",
    "rings": "rings",
    "agent_id": "agent_id",
    "坐席工号": "agent_id",
    "工号": "agent_id",
}


def seconds(value: str) -> float:
    """'01:02' -> 62.0, '1:00:02.5' -> 3602.5, '12.5' -> 12.5."""
    value = value.strip().replace(",", ".")
    if ":" not in value:
        return float(value)
    parts = [float(x) for x in value.split(":")]
    total = 0.0
    for x in parts:
        total = total * 60 + x
    return total


def _role_map(roles: Optional[Mapping[str, Sequence[str]]]) -> Dict[str, str]:
    out = {n.lower(): "agent" for n in AGENT_NAMES}
    out.update({n.lower(): "customer" for n in CUSTOMER_NAMES})
    out.update({n.lower(): "event" for n in EVENT_NAMES})
    for role, names in (roles or {}).items():
        if role not in ("agent", "customer", "event"):
            raise ReaderError(f"roles: unknown role {role!r}; expected agent, customer or event")
        for n in [names] if isinstance(names, str) else names:
            out[str(n).strip().lower()] = role
    return out


def _event_name(text: str) -> str:
    key = text.strip().strip("[]【】()（）").strip()
    return EVENT_ALIASES.get(key.lower(), EVENT_ALIASES.get(key, key))


def _text(text: str, name: str, channel: Optional[str], role_of: Dict[str, str]) -> Iterator[CallRecord]:
    call: Dict[str, Any] = {}
    turns: List[Dict[str, Any]] = []
    error: Optional[str] = None
    count = 0

    def flush() -> Optional[CallRecord]:
        nonlocal call, turns, error, count
        if not turns and error is None and not call:
            return None
        count += 1
        call.setdefault("id", Path(name).stem if count == 1 else f"{Path(name).stem}#{count}")
        rec = (
            CallRecord(f"{name}: call {call['id']}", error=error)
            if error
            else CallRecord(f"{name}: call {call['id']}", _with_channel({**call, "turns": turns}, channel))
        )
        call, turns, error = {}, [], None
        return rec

    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        split = _SPLIT.match(line)
        if split:
            rec = flush()
            if rec:
                yield rec
            if split.group("id"):
                call["id"] = split.group("id")
            continue
        header = _HEADER.match(line)
        if header and header.group("key").lower() in _HEADER_KEYS:
            key = _HEADER_KEYS[header.group("key").lower()]
            value: Any = header.group("value")
            if key == "ring_seconds":
                try:
                    value = seconds(value.rstrip("秒s "))
                except ValueError:
                    error = error or f"line {n}: ring_seconds {value!r} is not a number of seconds"
            elif key == "rings":
                value = int(value) if value.isdigit() else value
            call[key] = value
            continue
        m = _LINE.match(line)
        role = role_of.get(m.group("who").strip().lower()) if m else None
        if m is None or role is None:
            if turns:  # a wrapped line continues the turn above
                turns[-1]["text"] += line.strip()
                continue
            error = error or (
                f"line {n}: no speaker; expected a line like '客服：…' or '[00:12] 客户：…', got {line.strip()[:40]!r}"
            )
            continue
        turn: Dict[str, Any] = {"role": role, "text": m.group("text").strip()}
        t1, t2 = m.group("t1") or m.group("t3"), m.group("t2") or m.group("t4")
        if t1:
            turn["start"] = seconds(t1)
        if t2:
            turn["end"] = seconds(t2)
        if role == "event":
            turn["text"] = _event_name(turn["text"])
        turns.append(turn)
    rec = flush()
    if rec:
        yield rec


# --------------------------------------------------------------------------- JDDC chat logs
def _looks_like_jddc(text: str) -> bool:
    lines = [ln for ln in text.splitlines()[:20] if ln.strip()]
    if not lines:
        return False
    rows = [ln.split("\t") for ln in lines]
    return all(len(r) >= 3 for r in rows) and all(_flag_column(r) is not None for r in rows)


def _flag_column(row: Sequence[str]) -> Optional[int]:
    # JDDC 2019: session, user, waiter_send, is_transfer, is_repeat, sku, content; short form: session, flag, text.
    if len(row) >= 7 and row[2].strip() in ("0", "1"):
        return 2
    if len(row) == 3 and row[1].strip() in ("0", "1"):
        return 1
    return None


def _jddc(text: str, name: str, channel: Optional[str]) -> Iterator[CallRecord]:
    current: Optional[str] = None
    turns: List[Dict[str, Any]] = []
    error: Optional[str] = None

    def flush() -> Optional[CallRecord]:
        if current is None:
            return None
        where = f"{name}: call {current}"
        if error:
            return CallRecord(where, error=error)
        if not turns:
            return CallRecord(where, error=f"session {current} has no text")
        return CallRecord(where, {"id": current, "channel": channel or "chat", "turns": list(turns)})

    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        row = line.rstrip("\r\n").split("\t")
        col = _flag_column(row)
        session = row[0].strip()
        if session != current:
            rec = flush()
            if rec:
                yield rec
            current, turns, error = session, [], None
        if col is None:
            error = error or (
                f"line {n}: expected tab-separated 'session id, role flag (0/1), text' "
                f"(or the 7 JDDC 2019 columns), got {len(row)} column(s)"
            )
            continue
        role = "agent" if row[col].strip() == "1" else "customer"
        content = "\t".join(row[6:]) if col == 2 else row[2]
        for part in content.split("!@@@!"):  # an agent may send several messages at once
            part = part.strip()
            if part and part.upper() not in ("NULL", "NAN"):
                turns.append({"role": role, "text": part})
    rec = flush()
    if rec:
        yield rec


# --------------------------------------------------------------------------- CSV
def _csv(
    text: str, name: str, channel: Optional[str], columns: Optional[Mapping[str, str]], role_of: Dict[str, str]
) -> Iterator[CallRecord]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise ReaderError(f"{name}: empty CSV (no header row)")
    mapping = _csv_columns(header, columns, name)
    calls: Dict[str, Dict[str, Any]] = {}
    errors: Dict[str, str] = {}
    order: List[str] = []
    for row in reader:
        row = {(k or "").strip(): v for k, v in row.items()}
        n = reader.line_num
        cid = (row.get(mapping["call_id"]) or "").strip() if mapping.get("call_id") else "1"
        if not cid:
            order.append(f"#line{n}")
            errors[f"#line{n}"] = f"line {n}: empty call id in column {mapping['call_id']!r}"
            continue
        if cid not in calls:
            order.append(cid)
            calls[cid] = {"id": cid, "turns": []}
            if channel:
                calls[cid]["channel"] = channel
        raw_role = (row.get(mapping["role"]) or "").strip()
        role = role_of.get(raw_role.lower())
        if role is None:
            errors.setdefault(
                cid,
                f"line {n}: unknown role {raw_role!r} in column {mapping['role']!r}; "
                f"map it with roles (e.g. --roles agent={raw_role or 'X'})",
            )
            continue
        turn: Dict[str, Any] = {"role": role, "text": row.get(mapping["text"]) or ""}
        if role == "event":
            turn["text"] = _event_name(turn["text"])
        for fld in ("start", "end"):
            col = mapping.get(fld)
            value = (row.get(col) or "").strip() if col else ""
            if value:
                try:
                    turn[fld] = seconds(value)
                except ValueError:
                    errors.setdefault(
                        cid, f"line {n}: column {col!r} value {value!r} is not a time (seconds, mm:ss or hh:mm:ss)"
                    )
        calls[cid]["turns"].append(turn)
    for cid in order:
        where = f"{name}: call {cid}"
        if cid in errors:
            yield CallRecord(where, error=errors[cid])
        else:
            yield CallRecord(where, calls[cid])


def _csv_columns(header: List[str], columns: Optional[Mapping[str, str]], name: str) -> Dict[str, Optional[str]]:
    columns = dict(columns or {})
    unknown = sorted(set(columns) - set(CSV_FIELDS))
    if unknown:
        raise ReaderError(f"columns: unknown field(s) {unknown}; expected any of {', '.join(CSV_FIELDS)}")
    lower = {h.lower(): h for h in header}
    out: Dict[str, Optional[str]] = {}
    for fld in CSV_FIELDS:
        if fld in columns:
            if columns[fld] not in header:
                raise ReaderError(f"{name}: column {columns[fld]!r} (for {fld}) is not in the header {header}")
            out[fld] = columns[fld]
            continue
        out[fld] = next((lower[c] for c in CSV_DEFAULTS[fld] if c in lower), None)
    for fld in ("role", "text"):
        if out[fld] is None:
            raise ReaderError(
                f"{name}: no {fld} column; header is {header}; map one with "
                f"columns (e.g. --columns {fld}=<header name>)"
            )
    return out


def parse_mapping(spec: Optional[str], what: str) -> Dict[str, str]:
    """'a=x,b=y' -> {'a': 'x', 'b': 'y'} (for --columns)."""
    out: Dict[str, str] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ReaderError(f"{what}: expected key=value pairs separated by commas, got {part!r}")
        k, v = part.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def parse_roles(spec: Optional[str]) -> Dict[str, List[str]]:
    """'agent=坐席|A,customer=B' -> {'agent': ['坐席', 'A'], 'customer': ['B']} (for --roles)."""
    return {k: [x for x in v.split("|") if x] for k, v in parse_mapping(spec, "--roles").items()}


__all__ = [
    "CallRecord",
    "ReaderError",
    "FORMATS",
    "read_calls",
    "parse_calls",
    "decode",
    "seconds",
    "resolve",
    "parse_mapping",
    "parse_roles",
]
