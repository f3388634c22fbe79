"""The Spark job: ``python -m sdk.spark {check,emotion,audit} --input PATH --output PATH [--format ...]``.

Runs as it is under ``spark-submit`` (give it the path of ``sdk/spark/__main__.py``); on its own it
starts a local Spark (``--master``, default ``local[*]``). Every input row gives one output row;
rows that cannot be checked carry their reason in ``error``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import TYPE_CHECKING, List, Optional

from ..labels import ENGINES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

FORMATS = ("jsonl", "csv", "parquet")
INPUT_FORMATS = ("auto", "jsonl", "csv", "parquet", "text")
CORRUPT = "_corrupt_record"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sdk.spark",
        description="cs-qa over Spark: one output row per input row, with the result columns and an error column",
    )
    p.add_argument("task", choices=("check", "emotion", "audit"))
    p.add_argument("--input", required=True, help="input file or directory (JSONL, CSV with a header, Parquet, text)")
    p.add_argument("--output", required=True, help="output directory (Spark writes part files)")
    p.add_argument("--format", choices=FORMATS, default="jsonl", help="output format (default jsonl)")
    p.add_argument(
        "--input-format",
        choices=INPUT_FORMATS,
        default="auto",
        help="auto: by extension (.jsonl/.json, .csv, .parquet, .txt); text: one utterance per line",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.add_argument("--utterance-col", help="check: the utterance column (default 'utterance', else 'text')")
    p.add_argument("--context-col", default="context", help="check: the context column, if present")
    p.add_argument("--text-col", help="emotion: the text column (default 'text', else 'utterance')")
    p.add_argument("--turns-col", default="turns", help="audit: the turns column")
    p.add_argument("--prefix", default="", help="prefix for the result columns (when the input has e.g. 'label')")
    p.add_argument("--engine", choices=ENGINES, default="auto")
    p.add_argument("--model-dir", help="model directory, as seen by the executors (default: the embedded model)")
    p.add_argument("--rulebook", action="append", default=[], help="YAML rulebook overlay (repeatable)")
    p.add_argument("--scorecard", help="audit: score card YAML")
    p.add_argument("--threads", type=int, default=1, help="inference threads per Spark task (default 1)")
    p.add_argument("--master", help="Spark master when not run by spark-submit (default local[*])")
    p.add_argument("--strict", action="store_true", help="exit 1 when any row has an error")
    return p


def input_format(path: str, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    name = path.rstrip("/").lower()
    for ext, found in ((".csv", "csv"), (".parquet", "parquet"), (".txt", "text")):
        if name.endswith(ext):
            return found
    if os.path.isdir(path) and any(f.endswith(".parquet") for f in os.listdir(path)):
        return "parquet"
    return "jsonl"


def session(master: Optional[str]) -> "SparkSession":
    """The running SparkSession (spark-submit's), or a local one."""
    from pyspark.sql import SparkSession

    under_submit = "PYSPARK_GATEWAY_PORT" in os.environ
    if not under_submit and (master is None or master.startswith("local")):
        # local workers run this interpreter (its venv has the SDK), not whatever `python3` is on PATH
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("cs-qa")
    if master or not under_submit:
        builder = builder.master(master or "local[*]")
    if not under_submit:
        builder = builder.config("spark.ui.showConsoleProgress", "false")
    return builder.getOrCreate()


def _split_small_input(spark: "SparkSession", path: str) -> None:
    """Spark packs files under 4 MB into one partition: one core. Split small inputs so every core gets
    a share (file splits keep the rows in order), unless the user tuned this."""
    conf = spark.sparkContext.getConf()
    if conf.contains("spark.sql.files.maxPartitionBytes") or not os.path.exists(path):
        return
    files = [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs] if os.path.isdir(path) else [path]
    total = sum(os.path.getsize(f) for f in files)
    share = max(64 * 1024, math.ceil(total / max(1, spark.sparkContext.defaultParallelism)))
    if share < 128 * 1024 * 1024:
        spark.conf.set("spark.sql.files.maxPartitionBytes", str(share))
        spark.conf.set("spark.sql.files.openCostInBytes", str(min(share, 4 * 1024 * 1024)))


def read(spark: "SparkSession", path: str, fmt: str) -> "DataFrame":
    if fmt in ("jsonl", "text"):
        _split_small_input(spark, path)
    if fmt == "jsonl":
        return spark.read.option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", CORRUPT).json(path)
    if fmt == "csv":
        return (
            spark.read.option("header", True)
            .option("multiLine", True)
            .option("escape", '"')
            .option("encoding", "UTF-8")
            .csv(path)
        )
    if fmt == "text":
        return spark.read.text(path)
    return spark.read.parquet(path)


def write(df: "DataFrame", path: str, fmt: str, overwrite: bool) -> None:
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, MapType, StructType

    writer_df = df
    if fmt == "csv":  # CSV holds no maps or arrays: those columns are written as JSON
        complex_types = (ArrayType, MapType, StructType)
        writer_df = df.select(
            *[
                F.to_json(F.col(f.name)).alias(f.name) if isinstance(f.dataType, complex_types) else F.col(f.name)
                for f in df.schema.fields
            ]
        )
    w = writer_df.write.mode("overwrite" if overwrite else "errorifexists")
    if fmt == "jsonl":
        w.option("ignoreNullFields", False).json(path)
    elif fmt == "csv":
        w.option("header", True).option("escape", '"').csv(path)
    else:
        w.parquet(path)


def _column(df: "DataFrame", given: Optional[str], preferred: str, alternative: str) -> str:
    if given:
        return given
    if preferred not in df.columns and alternative in df.columns:
        return alternative
    if preferred not in df.columns and "value" in df.columns and len(df.columns) == 1:
        return "value"  # a text file: one utterance per line
    return preferred


def run(spark: "SparkSession", args: argparse.Namespace) -> "DataFrame":
    """The result DataFrame for ``args`` (lazy; nothing runs until it is written)."""
    from pyspark.sql import functions as F

    from . import frames

    df = read(spark, args.input, input_format(args.input, args.input_format))
    spec = frames.CheckerSpec(
        engine=args.engine,
        model_dir=args.model_dir,
        rulebook=tuple(args.rulebook),
        scorecard=args.scorecard,
        threads=args.threads,
    )
    if args.task == "check":
        out = frames.check(
            df, _column(df, args.utterance_col, "utterance", "text"), args.context_col, prefix=args.prefix, spec=spec
        )
    elif args.task == "emotion":
        out = frames.emotion(df, _column(df, args.text_col, "text", "utterance"), prefix=args.prefix, spec=spec)
    else:
        out = frames.audit(df, args.turns_col, prefix=args.prefix, spec=spec)
    if CORRUPT in df.columns:  # a line that is not JSON: say so, rather than "utterance is None"
        error = args.prefix + "error"
        out = out.withColumn(
            error,
            F.when(
                F.col(CORRUPT).isNotNull(),
                F.concat(F.lit("ValueError: the line is not valid JSON: "), F.substring(F.col(CORRUPT), 1, 80)),
            ).otherwise(F.col(error)),
        ).drop(CORRUPT)  # a column by that name means something else to readers
    return out


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    if not (args.input.startswith(("hdfs:", "s3", "gs:", "abfs", "file:", "dbfs:")) or os.path.exists(args.input)):
        print(f"sdk.spark: input not found: {args.input}", file=sys.stderr)
        return 2
    from pyspark.sql import SparkSession

    ours = SparkSession.getActiveSession() is None
    spark = session(args.master)
    try:
        out = run(spark, args)
        write(out, args.output, args.format, args.overwrite)
        done = read(spark, args.output, "jsonl" if args.format == "jsonl" else args.format)
        error = args.prefix + "error"
        rows = done.count()
        errors = done.filter(done[error].isNotNull()).count()
    except ValueError as exc:  # a missing column, a clashing column name
        print(f"sdk.spark: {exc}", file=sys.stderr)
        return 2
    finally:
        if ours:
            spark.stop()
    print(f"sdk.spark {args.task}: {rows} rows written to {args.output}, {errors} with an error", file=sys.stderr)
    return 1 if errors and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
