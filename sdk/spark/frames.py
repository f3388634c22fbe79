"""``check`` / ``emotion`` / ``audit`` over Spark DataFrames.

Each returns the input DataFrame with result columns added, one output row per input row: a row
that cannot be checked (null or blank text, a malformed turn) gets its reason in ``error`` and
nulls in the result columns; nothing is dropped. Rows travel to Python as Arrow batches
(``mapInPandas``); each executor's Python worker builds one ``Checker`` on its first batch and
reuses it for every later batch and task (Spark reuses Python workers), so the model loads once
per worker process, not once per row or task.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from ..records import check_input, emotion_input

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

    from ..checker import Checker

# What mapInPandas runs: pandas batches in, the same batches with the result columns out.
PartitionFn = Callable[[Iterator[Any]], Iterator[Any]]

# Items per check_batch call inside one Arrow batch: big enough for length bucketing, small
# enough that one bad surprise (retried row by row) stays cheap.
CHUNK = 512

CHECK_COLUMNS: Tuple[Tuple[str, str], ...] = (
    ("label", "string"),
    ("scores", "map<string,double>"),
    ("findings", "string"),
    ("emotion", "string"),
    ("engine", "string"),
    ("decided_by", "string"),
    ("warnings", "array<string>"),
    ("needs_review", "boolean"),
    ("error", "string"),
)
AUDIT_COLUMNS: Tuple[Tuple[str, str], ...] = (
    ("score", "double"),
    ("passed", "boolean"),
    ("critical", "array<string>"),
    ("findings", "string"),
    ("skipped", "string"),
    ("emotion", "string"),
    ("turn_results", "string"),
    ("engine", "string"),
    ("warnings", "array<string>"),
    ("error", "string"),
)
# Calls per audit_batch call: a call holds many turns.
AUDIT_CHUNK = 64
EMOTION_COLUMNS: Tuple[Tuple[str, str], ...] = (
    ("label", "string"),
    ("scores", "map<string,double>"),
    ("cues", "string"),
    ("engine", "string"),
    ("warnings", "array<string>"),
    ("needs_review", "boolean"),
    ("error", "string"),
)


@dataclass(frozen=True)
class CheckerSpec:
    """How executors build their Checker (as ``sdk.Checker``); paths must exist on every executor.

    threads: inference threads per Python worker; 1 suits Spark, which runs one task per core.
    """

    engine: str = "auto"
    model_dir: Optional[str] = None
    rulebook: Tuple[str, ...] = ()
    scorecard: Optional[str] = None
    threads: int = 1

    def build(self) -> "Checker":
        from ..checker import Checker

        kwargs: Dict[str, Any] = {
            "engine": self.engine,
            "model_dir": shipped(self.model_dir),
            "rulebook": [shipped(p) for p in self.rulebook] or None,
            "threads": self.threads,
        }
        if self.scorecard is not None:
            kwargs["scorecard"] = shipped(self.scorecard)
        return Checker(**kwargs)


def shipped(path: Optional[str]) -> Optional[str]:
    """``path`` as this executor sees it: as given where it exists, else the file or archive that
    spark-submit shipped under that name (``--files rules.yaml``, ``--archives model.tar.gz#model``)."""
    if path is None or os.path.exists(path):
        return path
    try:
        from pyspark import SparkFiles

        local = SparkFiles.get(path)
    except Exception:  # noqa: BLE001 - not inside Spark, or nothing shipped: the Checker names the missing path
        return path
    return local if os.path.exists(local) else path


_CHECKERS: Dict[CheckerSpec, "Checker"] = {}


def executor_checker(spec: CheckerSpec) -> "Checker":
    """This process's Checker for ``spec``, built on first use (one per Python worker process)."""
    checker = _CHECKERS.get(spec)
    if checker is None:
        checker = _CHECKERS[spec] = spec.build()
    return checker


# ---------------------------------------------------------------- values from Arrow/pandas


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def plain(value: Any) -> Any:
    """A Spark cell as plain Python: NaN/None -> None, arrays -> lists, structs/Rows -> dicts."""
    if _missing(value):
        return None
    if hasattr(value, "asDict"):  # pyspark Row
        value = value.asDict()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if not _missing(v)}
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy arrays and scalars
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def context_value(value: Any) -> Any:
    """A context cell: a string, turns (an array of structs), or turns written as JSON text.

    A Spark column has one type: where some rows of a JSON file have a string context and others a
    list of turns, Spark reads the column as strings and keeps each list as its JSON text; CSV can
    only hold text. A string that is a JSON list of objects with a "role" is read back as turns
    (an event string such as "[客户已等待约2分钟] 喂？" is not JSON and stays a string).
    """
    value = plain(value)
    if isinstance(value, str) and value.lstrip().startswith("[{"):
        try:
            turns = json.loads(value)
        except ValueError:
            return value
        if isinstance(turns, list) and turns and all(isinstance(t, dict) and "role" in t for t in turns):
            return turns
    return value


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def run_rows(
    items: Sequence[Any],
    validate: Callable[[Any], Any],
    run: Callable[[List[Any]], List[Any]],
    to_columns: Callable[[Any], Dict[str, Any]],
    columns: Sequence[str],
    chunk_size: int = CHUNK,
) -> Dict[str, List[Any]]:
    """Result columns for ``items``, one value per item: bad items get ``error``, the rest are run in
    chunks; a chunk that fails as a whole (never for bad input) is retried row by row."""
    out: Dict[str, List[Any]] = {name: [None] * len(items) for name in columns}
    good: List[Tuple[int, Any]] = []
    for i, item in enumerate(items):
        try:
            validate(item)
        except (TypeError, ValueError) as exc:
            out["error"][i] = _error(exc)
            continue
        good.append((i, item))

    def fill(rows: List[Tuple[int, Any]], results: List[Any]) -> None:
        for (i, _), result in zip(rows, results):
            for name, value in to_columns(result).items():
                out[name][i] = value

    for start in range(0, len(good), chunk_size):
        chunk = good[start : start + chunk_size]
        try:
            fill(chunk, run([item for _, item in chunk]))
        except Exception:  # noqa: BLE001 - isolate the row that broke it; every other row still gets its result
            for row in chunk:
                try:
                    fill([row], run([row[1]]))
                except Exception as exc:  # noqa: BLE001
                    out["error"][row[0]] = _error(exc)
    return out


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def check_columns(result: Any) -> Dict[str, Any]:
    d = result.to_dict()
    return {
        "label": d["label"],
        "scores": d["scores"],
        "findings": _dumps(d["findings"]),
        "emotion": d["emotion"]["label"] if d["emotion"] else None,
        "engine": d["engine"],
        "decided_by": _dumps(d["decided_by"]),
        "warnings": d["warnings"],
        "needs_review": getattr(result, "needs_review", None),
    }


def emotion_columns(result: Any) -> Dict[str, Any]:
    d = result.to_dict()
    return {
        "label": d["label"],
        "scores": d["scores"],
        "cues": _dumps(d["cues"]),
        "engine": d["engine"],
        "warnings": d["warnings"],
        "needs_review": getattr(result, "needs_review", None),
    }


def audit_columns(result: Any) -> Dict[str, Any]:
    d = result.to_dict()
    return {
        "score": float(d["score"]),
        "passed": bool(d["passed"]),
        "critical": d["critical"],
        "findings": _dumps(d["findings"]),
        "skipped": _dumps(d["skipped"]),
        "emotion": _dumps(d["emotion"]),
        "turn_results": _dumps(d["turns"]),
        "engine": d["engine"],
        "warnings": d["warnings"],
    }


def call_of_row(turns: Any, fields: Dict[str, Any]) -> Dict[str, Any]:
    """A call dict from a row: its turns (an array of structs, or JSON text as CSV holds it) and the
    call-level fields that are not null."""
    if isinstance(turns, str):
        try:
            turns = json.loads(turns)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"field 'turns' is a string but not a JSON list of turns ({exc.msg} at character {exc.pos})"
            ) from None
    if turns is None:
        raise ValueError("field 'turns' is null; a call needs at least one turn")
    return {"turns": turns, **{k: v for k, v in fields.items() if v is not None}}


# ---------------------------------------------------------------- the per-partition functions (executors)


def _check_partition(spec: CheckerSpec, utterance_col: str, context_col: Optional[str], prefix: str) -> PartitionFn:
    def run(batches: Iterator[Any]) -> Iterator[Any]:
        checker = executor_checker(spec)
        for pdf in batches:
            utterances = [plain(v) for v in pdf[utterance_col]]
            contexts = [context_value(v) for v in pdf[context_col]] if context_col else [None] * len(pdf)
            cols = run_rows(
                list(zip(utterances, contexts)),
                lambda item: check_input(*item),
                checker.check_batch,
                check_columns,
                [n for n, _ in CHECK_COLUMNS],
            )
            yield pdf.assign(**{prefix + name: values for name, values in cols.items()})

    return run


def _emotion_partition(spec: CheckerSpec, text_col: str, prefix: str) -> PartitionFn:
    def run(batches: Iterator[Any]) -> Iterator[Any]:
        checker = executor_checker(spec)
        for pdf in batches:
            cols = run_rows(
                [plain(v) for v in pdf[text_col]],
                emotion_input,
                checker.emotion_batch,
                emotion_columns,
                [n for n, _ in EMOTION_COLUMNS],
            )
            yield pdf.assign(**{prefix + name: values for name, values in cols.items()})

    return run


def _audit_partition(spec: CheckerSpec, turns_col: str, field_cols: Dict[str, str], prefix: str) -> PartitionFn:
    def run(batches: Iterator[Any]) -> Iterator[Any]:
        from ..audit.model import parse_call

        checker = executor_checker(spec)
        for pdf in batches:
            fields = {name: [plain(v) for v in pdf[col]] for name, col in field_cols.items()}
            calls: List[Any] = []
            for i, turns in enumerate(pdf[turns_col]):
                try:
                    calls.append(call_of_row(plain(turns), {name: values[i] for name, values in fields.items()}))
                except ValueError as exc:
                    calls.append(exc)  # reported in this row's error

            def validate(call: Any) -> None:
                if isinstance(call, Exception):
                    raise call
                parse_call(call)

            cols = run_rows(
                calls, validate, checker.audit_batch, audit_columns, [n for n, _ in AUDIT_COLUMNS], AUDIT_CHUNK
            )
            yield pdf.assign(**{prefix + name: values for name, values in cols.items()})

    return run


# ---------------------------------------------------------------- the public functions (driver)


def _output_schema(df: "DataFrame", columns: Sequence[Tuple[str, str]], prefix: str) -> "StructType":
    from pyspark.sql.types import StructType, _parse_datatype_string

    taken = [prefix + name for name, _ in columns if prefix + name in df.columns]
    if taken:
        raise ValueError(
            f"the DataFrame already has column(s) {taken}; pass prefix= (e.g. prefix='qa_') so the "
            f"result columns get other names"
        )
    fields = list(df.schema.fields)
    extra = StructType.fromJson(
        {
            "type": "struct",
            "fields": [
                {
                    "name": prefix + name,
                    "type": _parse_datatype_string(ddl).jsonValue(),
                    "nullable": True,
                    "metadata": {},
                }
                for name, ddl in columns
            ],
        }
    )
    return StructType(fields + list(extra.fields))


def _need(df: "DataFrame", column: str, what: str) -> None:
    if column not in df.columns:
        raise ValueError(f"{what} column {column!r} is not in the DataFrame; its columns are {df.columns}")


def _spec(spec: Optional[CheckerSpec], kwargs: Dict[str, Any]) -> CheckerSpec:
    if spec is not None and kwargs:
        raise TypeError("pass either spec= or the Checker settings (engine=, model_dir=, ...), not both")
    if spec is not None:
        return spec
    if "rulebook" in kwargs:
        rb = kwargs["rulebook"]
        kwargs["rulebook"] = (
            ()
            if rb is None
            else (str(rb),)
            if isinstance(rb, (str, bytes)) or hasattr(rb, "__fspath__")
            else tuple(str(p) for p in rb)
        )
    for key in ("model_dir", "scorecard"):
        if kwargs.get(key) is not None:
            kwargs[key] = str(kwargs[key])
    return CheckerSpec(**kwargs)


def check(
    df: "DataFrame",
    utterance_col: str = "utterance",
    context_col: Optional[str] = "context",
    *,
    prefix: str = "",
    spec: Optional[CheckerSpec] = None,
    **checker_settings: Any,
) -> "DataFrame":
    """``df`` with CHECK_COLUMNS added (prefixed with ``prefix``): label, scores, findings (JSON),
    emotion (of the context's customer words), engine, decided_by (JSON), warnings, needs_review, error.

    ``context_col``: a string column or an array of turns (struct role/text/start/end); when the
    default "context" is not in ``df``, rows are checked without context. ``checker_settings``:
    engine, model_dir, rulebook, threads as for ``sdk.Checker`` (or ``spec=CheckerSpec(...)``).
    """
    _need(df, utterance_col, "utterance")
    if context_col is not None and context_col not in df.columns:
        if context_col != "context":
            _need(df, context_col, "context")
        context_col = None
    schema = _output_schema(df, CHECK_COLUMNS, prefix)
    return df.mapInPandas(_check_partition(_spec(spec, checker_settings), utterance_col, context_col, prefix), schema)


def emotion(
    df: "DataFrame",
    text_col: str = "text",
    *,
    prefix: str = "",
    spec: Optional[CheckerSpec] = None,
    **checker_settings: Any,
) -> "DataFrame":
    """``df`` with EMOTION_COLUMNS added: label, scores, cues (JSON), engine, warnings, needs_review, error."""
    _need(df, text_col, "text")
    schema = _output_schema(df, EMOTION_COLUMNS, prefix)
    return df.mapInPandas(_emotion_partition(_spec(spec, checker_settings), text_col, prefix), schema)


def audit(
    df: "DataFrame",
    turns_col: str = "turns",
    *,
    id_col: Optional[str] = "id",
    channel_col: Optional[str] = "channel",
    ring_col: Optional[str] = "ring_seconds",
    prefix: str = "",
    spec: Optional[CheckerSpec] = None,
    **checker_settings: Any,
) -> "DataFrame":
    """One audited call per row: ``df`` with AUDIT_COLUMNS added (score, passed, critical, findings,
    skipped, emotion, turn_results as JSON, engine, warnings, error).

    ``turns_col``: an array of turns (struct role/text/start/end), or JSON text of one. The id,
    channel and ring_seconds columns are read where present. ``checker_settings`` as for
    ``sdk.Checker`` (``scorecard=`` a QA team's score card, a path every executor can read).
    """
    _need(df, turns_col, "turns")
    field_cols = {
        name: col
        for name, col in (("id", id_col), ("channel", channel_col), ("ring_seconds", ring_col))
        if col is not None and col in df.columns
    }
    schema = _output_schema(df, AUDIT_COLUMNS, prefix)
    return df.mapInPandas(_audit_partition(_spec(spec, checker_settings), turns_col, field_cols, prefix), schema)
