"""Input records: validation and coercion into checker inputs, and reading them from files.

Shared by the Checker, the CLI and any service or batch job, so every front end rejects the same
bad input with the same message (naming the bad value and what was expected).
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, TextIO, Tuple, Union

from .bounded_repr import short_repr
from .context import Context, ContextInput, Turn, coerce_turn
from .engines.base import CheckInput

# Longer utterances are truncated (with a warning in the result): a single
# agent turn is never this long, so such input is almost always a whole
# transcript pasted by mistake and should be split into turns instead.
MAX_CHARS = 2000
INPUT_FORMATS = ("auto", "jsonl", "csv", "text")
COMMANDS = ("check", "emotion")
ITEM_KEYS = ("utterance", "context")  # the keys of a dict batch item

CheckItem = Union[str, Tuple[str, ContextInput], List[Any], Mapping[str, Any]]
# (line number, record) from a reader; a record that could not be read is the Exception saying why
Record = Tuple[int, Union[Dict[str, Any], str, Exception, Any]]


def validate_text(value: Any, what: str) -> str:
    """``value`` if it is a non-blank str; TypeError / ValueError naming ``what`` otherwise."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {short_repr(value)}")
    text: str = str.__str__(value)  # a str subclass is read as its characters; none of its methods is called
    if not text.strip():
        raise ValueError(f"{what} must contain text, got an empty or whitespace-only string ({short_repr(text)})")
    return text


def validate_context(value: Any) -> ContextInput:
    """A context as given (str, list of turns, Context) or None for no context; TypeError otherwise.

    The turns themselves are checked when the context is parsed (ValueError naming index and field).
    """
    if value is None or isinstance(value, Context):
        return value
    if isinstance(value, str):
        value = str.__str__(value)
        return value if value.strip() else None
    if isinstance(value, (list, tuple)):
        size = list.__len__(value) if isinstance(value, list) else tuple.__len__(value)
        return value if size else None
    raise TypeError(f"context must be a str, a list of turns or None, got {short_repr(value)}")


def truncate(text: str, what: str, notes: List[str]) -> str:
    if len(text) > MAX_CHARS:
        notes.append(f"{what} has {len(text)} characters; only the first {MAX_CHARS} were checked")
        return text[:MAX_CHARS]
    return text


def check_input(utterance: Any, context: Any = None, where: str = "utterance") -> CheckInput:
    """A validated, length-limited CheckInput (its context parsed once)."""
    notes: List[str] = []
    text = truncate(validate_text(utterance, where), "utterance", notes)
    ctx = validate_context(context)
    if isinstance(ctx, str):
        ctx = truncate(ctx, "context", notes)
    elif isinstance(ctx, (list, tuple)):
        # the list's own iterator, not a subclass's; the first bad turn stops the loop
        turns = list.__iter__(ctx) if isinstance(ctx, list) else tuple.__iter__(ctx)
        ctx = [_truncate_turn(turn, i, notes) for i, turn in enumerate(turns)]
    return CheckInput(text, ctx, tuple(notes))


def coerce_check_item(item: Any, index: Optional[int] = None) -> CheckInput:
    """One batch item — a str, an (utterance, context) pair or a dict with 'utterance' (and 'context')."""
    where = "utterance" if index is None else f"item {index}"
    if isinstance(item, str):
        return check_input(item, None, where)
    if type(item) is tuple and len(item) == 2:  # the common case first: Mapping's isinstance is slow
        return check_input(item[0], item[1], where)
    if isinstance(item, Mapping):
        keys = list(item)
        unknown = [k for k in keys if k not in ITEM_KEYS]
        if unknown or "utterance" not in keys:
            problem = (
                "without an 'utterance' key"
                if "utterance" not in keys
                else f"with unknown key(s) {short_repr(unknown)}"
            )
            raise ValueError(
                f"{where} is a dict {problem}; expected keys 'utterance' and optional 'context', got {short_repr(keys)}"
            )
        return check_input(item["utterance"], item.get("context"), where)
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return check_input(item[0], item[1], where)
    raise TypeError(
        f"{where} must be a str, a (utterance, context) pair or a dict with 'utterance', got {short_repr(item)}"
    )


def batch_items(items: Any, what: str, single: str) -> List[Any]:
    """The items of a batch as a list; TypeError for a single value (a str, bytes or a dict) or a non-iterable.

    A dict is refused rather than iterated: checking its keys is never what the caller meant."""
    if isinstance(items, (str, bytes, bytearray, memoryview, Mapping)):
        raise TypeError(
            f"{what} takes a list, got a single {short_repr(items)}; use {single}() for one, or wrap it in a list"
        )
    try:
        iterator = iter(items)
    except TypeError:
        raise TypeError(f"{what} takes a list (any iterable), got {short_repr(items)}") from None
    return list(iterator)


def emotion_input(text: Any, where: str = "text") -> Tuple[str, List[str]]:
    """A validated, length-limited customer text and the notes about it."""
    notes: List[str] = []
    return truncate(validate_text(text, where), "text", notes), notes


def _truncate_turn(turn: Any, index: int, notes: List[str]) -> Any:
    """The turn as given, or with its text cut to MAX_CHARS; a malformed turn raises ValueError
    naming its index and field here, before any later turn is looked at."""
    parsed = coerce_turn(turn, index)
    if len(parsed.text) <= MAX_CHARS:
        return turn
    return Turn(parsed.role, truncate(parsed.text, f"context turn {index}", notes), parsed.start, parsed.end)


# ---------------------------------------------------------------- records from files


def record_item(record: Any, command: str) -> Any:
    """The checker input of one input record, or raise a specific error.

    check: a JSON object with 'utterance' (or 'text') and optional 'context' (a string or a list of
    turns), or a bare string; emotion: an object with 'text' (or 'utterance'), or a bare string.
    """
    if isinstance(record, Exception):
        raise record
    if isinstance(record, str):
        return record if command == "emotion" else (record, None)
    if not isinstance(record, Mapping):
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


def validate_item(item: Any, command: str) -> None:
    """Raise the error the checker would raise for this item, without checking it."""
    if command == "emotion":
        validate_text(item, "text")
    else:
        coerce_check_item(item, None)


def resolve_format(path: str, fmt: str) -> str:
    if fmt not in INPUT_FORMATS:
        raise ValueError(f"input format must be one of {', '.join(INPUT_FORMATS)}, got {fmt!r}")
    if fmt == "auto":
        return "csv" if path.lower().endswith(".csv") else "jsonl"
    return fmt


# A CSV field may be this long (the csv module's default, 131,072, ended runs with a traceback);
# the checker reads at most MAX_CHARS of it anyway.
MAX_CSV_FIELD = 1 << 26
_UNDECODED = re.compile("[\udc80-\udcff]")  # bytes the input encoding could not decode (surrogateescape)


def read_records(stream: TextIO, fmt: str, fields: Optional[Mapping[str, str]] = None) -> Iterator[Record]:
    """(line number, record or the Exception saying why it could not be read) for every input record.

    Whatever the bytes: a line that is not valid in the input encoding, not JSON (or JSON nested too
    deep, or with an integer too long to read), or a CSV row the csv module refuses, becomes one
    ValueError record for that line; the lines around it are read as usual. ``fields`` maps the SDK's
    field names ("utterance", "context", "id") to the input's own (``{"utterance": "坐席"}``)."""
    if fmt == "csv":
        yield from _csv_records(stream, fields)
        return
    for n, line in enumerate(stream, 1):
        if not line.strip():
            continue
        bad = _undecoded(line)
        if bad is not None:
            yield n, bad
            continue
        if fmt == "text":
            yield n, {"text": line.rstrip("\r\n")}
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield n, ValueError(f"line is not valid JSON: {exc.msg} at column {exc.colno}")
            continue
        except (ValueError, RecursionError) as exc:  # an integer of 5,000 digits; nesting 100,000 deep
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
            yield n, ValueError(f"line cannot be read as JSON: {reason}")
            continue
        yield n, _renamed(record, fields)


def _csv_records(stream: TextIO, fields: Optional[Mapping[str, str]]) -> Iterator[Record]:
    csv.field_size_limit(MAX_CSV_FIELD)
    reader = csv.DictReader(stream)
    line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = reader.line_num
            yield line, ValueError(f"CSV row cannot be read: {str(exc)[:200]}")
            continue
        line = reader.line_num
        values = [v for v in row.values() if isinstance(v, str)] + [k for k in row if isinstance(k, str)]
        bad = next((b for b in map(_undecoded, values) if b is not None), None)
        yield line, bad if bad is not None else _renamed(row, fields)


def _undecoded(text: str) -> Optional[ValueError]:
    match = _UNDECODED.search(text)
    if match is None:
        return None
    byte = ord(match.group()) - 0xDC00
    return ValueError(
        f"line is not valid in the input encoding (byte 0x{byte:02x}); save it as UTF-8 or pass --encoding (e.g. gbk)"
    )


def _renamed(record: Any, fields: Optional[Mapping[str, str]]) -> Any:
    """A record with the input's own field names mapped onto the SDK's."""
    if not fields or not isinstance(record, Mapping):
        return record
    out = {k: v for k, v in record.items() if k not in fields.values()}
    for ours, theirs in fields.items():
        if theirs in record:
            out[ours] = record[theirs]
    return out


def open_input(path: str, encoding: str = "utf-8") -> TextIO:
    """A text stream for ``path`` ('-' is stdin); UTF-8 (a BOM allowed) unless ``encoding`` says otherwise.
    Bytes the encoding cannot decode are kept as lone surrogates, so ``read_records`` can turn just
    their line into an error record."""
    import codecs

    codecs.lookup(encoding)  # LookupError for an unknown encoding
    enc = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding=enc, errors="surrogateescape", newline="")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"input file not found: {p}")
    return p.open(encoding=enc, errors="surrogateescape", newline="")


def json_safe_id(value: Any) -> Any:
    """A record's id as JSON can carry it: NaN, infinity, bytes or objects become a short string."""
    if value is None or isinstance(value, (str, bool)) or (isinstance(value, int) and abs(value) < 1 << 63):
        return value
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return value
    try:
        json.dumps(value, allow_nan=False)
        return value if len(json.dumps(value)) <= 200 else short_repr(value)
    except (TypeError, ValueError, RecursionError):
        return short_repr(value) if not isinstance(value, float) else repr(value)


def run_records(checker: Any, command: str, records: List[Record]) -> List[Dict[str, Any]]:
    """One output dict per record, in order: the result's ``to_dict()`` with its ``line`` (and ``id``),
    or an error record ``{"line", "id", "error"}``; one bad record never sinks the others."""
    if command not in COMMANDS:
        raise ValueError(f"command must be one of {', '.join(COMMANDS)}, got {command!r}")
    out: List[Optional[Dict[str, Any]]] = [None] * len(records)
    valid, items = [], []
    for k, (n, record) in enumerate(records):
        rid = json_safe_id(record.get("id")) if isinstance(record, Mapping) else None
        try:
            item = record_item(record, command)
            validate_item(item, command)  # alone, so one bad record cannot sink its whole batch
        except (TypeError, ValueError) as exc:
            out[k] = {"line": n, "id": rid, "error": f"{type(exc).__name__}: {exc}"}
            continue
        valid.append((k, n, rid))
        items.append(item)
    if items:
        run = checker.emotion_batch if command == "emotion" else checker.check_batch
        try:
            results = run(items)
        except Exception:  # never expected; still, one item must not cost the others their results
            results = [_one(run, item) for item in items]
        for (k, n, rid), result in zip(valid, results):
            if isinstance(result, Exception):
                out[k] = {"line": n, "id": rid, "error": f"internal error: {type(result).__name__}: {result}"}
                continue
            d = result.to_dict()
            out[k] = {"line": n, "id": rid, **d} if rid is not None else {"line": n, **d}
    return [row for row in out if row is not None]


def _one(run: Any, item: Any) -> Any:
    try:
        return run([item])[0]
    except Exception as exc:
        return exc
