"""The Spark job's rows/s on local[1] and local[2] against the in-process Checker, and row-for-row
equality of its output with in-process results, in one run.

    python benchmarks/bench_spark.py                 # 10,000 rows (1 in 500 bad), 2 Spark runs per master
    python benchmarks/bench_spark.py --rows 20000 --engine rules

Steps (each bounded; Spark runs as child processes, one per master, since a JVM keeps its master):
1. in-process ``Checker(threads=1)`` and ``Checker(threads=2)``: ``check_batch`` over the valid rows, rows/s;
2. for local[1] and local[2]: ``sdk.spark.check`` over the same rows read from JSONL, written as Parquet,
   twice: the first run includes each Python worker loading its model, the second reuses them (warm);
3. equality: the local[2] output against the in-process results, row by row (labels, engines, finding
   rule ids exactly; scores within 0.03, since the int8 model's scores move with batch make-up), and
   every bad row present with an error.
Rows are the compliance dev+test splits' utterances and contexts, repeated; Spark session start-up is
timed apart. The machine is shared: the load average is printed with each step.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.dataset import load  # noqa: E402


def bench_rows(n: int) -> List[Dict[str, Any]]:
    """``n`` rows from the compliance dev/test splits, repeated; every 500th row is bad (blank or null)."""
    src = [r for split in ("dev", "test") for r in load("compliance", split)]
    rows = []
    for i in range(n):
        if i % 500 == 499:
            rows.append({"id": f"bad-{i}", "utterance": ["", "  ", None][i % 3]})
            continue
        r = src[i % len(src)]
        rows.append({"id": f"r-{i}", "utterance": r["utterance"], "context": r["context"]})
    return rows


def load() -> str:
    return "load %.2f %.2f %.2f" % os.getloadavg()


def spark_child(args: argparse.Namespace) -> None:
    """Run in a child process: time sdk.spark.check on one master, print one JSON line."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    t0 = time.perf_counter()
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    import sdk.spark
    from sdk.spark import job

    spark = (
        SparkSession.builder.master(args.child)
        .appName("bench-spark")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    startup = time.perf_counter() - t0
    runs = []
    for k in range(2):
        out = os.path.join(args.workdir, f"out-{args.child.replace('local[', '').rstrip(']')}-{k}")
        t = time.perf_counter()
        df = job.read(spark, args.input, "jsonl").withColumn("part", F.spark_partition_id())
        sdk.spark.check(df, engine=args.engine, threads=1).write.mode("overwrite").parquet(out)
        runs.append(time.perf_counter() - t)
    partitions = job.read(spark, args.input, "jsonl").rdd.getNumPartitions()
    spark.stop()
    print("RESULT " + json.dumps({"startup_s": startup, "runs_s": runs, "out": out, "partitions": partitions}))


def run_child(master: str, src: Path, workdir: str, engine: str) -> Dict[str, Any]:
    p = subprocess.run(
        [sys.executable, __file__, "--child", master, "--input", str(src), "--workdir", workdir, "--engine", engine],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"spark child {master} failed:\n{p.stderr[-3000:]}")
    return dict(json.loads(line[len("RESULT ") :]))


def same_batches(checker: Any, got: Dict[str, Dict[str, Any]], rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    """In-process results over the batches Spark formed: each partition's valid rows, in order, CHUNK at a time."""
    from sdk.spark.frames import CHUNK

    out: Dict[str, Any] = {}
    for part in sorted({r["part"] for r in got.values()}):
        valid = [
            r
            for r in rows
            if got[r["id"]]["part"] == part
            and r["id"] in got
            and isinstance(r["utterance"], str)
            and r["utterance"].strip()
        ]
        for k in range(0, len(valid), CHUNK):
            chunk = valid[k : k + CHUNK]
            out.update(
                (r["id"], x.to_dict())
                for r, x in zip(chunk, checker.check_batch([(r["utterance"], r["context"]) for r in chunk]))
            )
    return out


def compare(
    got: Dict[str, Dict[str, Any]], rows: List[Dict[str, Any]], want: Dict[str, Dict[str, Any]]
) -> Dict[str, Any]:
    """Row-by-row agreement of the Spark output with ``want``: counts of equal fields, largest score gap."""
    equal = {"label": 0, "engine": 0, "scores": 0, "findings": 0, "decided_by": 0}
    max_diff = 0.0
    bad_kept = sum(1 for rid, r in got.items() if rid not in want and r["error"] and r["label"] is None)
    for rid, w in want.items():
        r = got[rid]
        scores = dict(r["scores"])
        equal["label"] += r["label"] == w["label"]
        equal["engine"] += r["engine"] == w["engine"]
        equal["scores"] += scores == w["scores"]
        equal["findings"] += json.loads(r["findings"]) == w["findings"]
        equal["decided_by"] += json.loads(r["decided_by"]) == w["decided_by"]
        max_diff = max(max_diff, max(abs(scores[k] - v) for k, v in w["scores"].items()))
    return {
        "rows_in": len(rows),
        "rows_out": len(got),
        "checked": len(want),
        "equal": equal,
        "max_score_diff": round(max_diff, 6),
        "bad_rows": len(rows) - len(want),
        "bad_rows_with_error": bad_kept,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--engine", choices=("auto", "rules", "onnx"), default="auto")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--input", help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        spark_child(args)
        return
    import warnings

    from sdk import Checker

    rows = bench_rows(args.rows)
    good = [r for r in rows if isinstance(r["utterance"], str) and r["utterance"].strip()]
    items = [(r["utterance"], r["context"]) for r in good]
    print(f"# bench_spark: {len(rows):,} rows ({len(rows) - len(good)} bad), engine {args.engine}; {load()}")
    rates, want = {}, {}
    for threads in (1, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            checker = Checker(engine=args.engine, threads=threads)
        checker.check_batch(items[:64])
        t = time.perf_counter()
        results = checker.check_batch(items)
        rates[threads] = len(items) / (time.perf_counter() - t)
        if threads == 1:
            want = {r["id"]: x.to_dict() for r, x in zip(good, results)}
        print(f"in-process check_batch, threads={threads}: {rates[threads]:,.0f} rows/s; {load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as workdir:
        src = Path(workdir) / "rows.jsonl"
        src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        spark_rates = {}
        for cores, master in ((1, "local[1]"), (2, "local[2]")):
            r = run_child(master, src, workdir, args.engine)
            cold, warm = r["runs_s"]
            spark_rates[cores] = len(rows) / warm
            print(
                f"spark {master}: start-up {r['startup_s']:.1f} s, {r['partitions']} input partitions; "
                f"run 1 (loads the model per worker) {len(rows) / cold:,.0f} rows/s, run 2 (warm) "
                f"{len(rows) / warm:,.0f} rows/s = {spark_rates[cores] / rates[cores]:.2f} x in-process "
                f"threads={cores}; {load()}",
                flush=True,
            )
            last = r["out"]
        print(
            f"scaling local[1] -> local[2]: {spark_rates[2] / spark_rates[1]:.2f} x "
            f"(in-process threads 1 -> 2: {rates[2] / rates[1]:.2f} x)"
        )
        import pyarrow.parquet as pq

        got = {r["id"]: r for r in pq.read_table(last).to_pylist()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = Checker(engine=args.engine, threads=1)
    print(
        "equality, local[2] vs in-process over the same batches: "
        + json.dumps(compare(got, rows, same_batches(reference, got, rows)))
    )
    print("          local[2] vs in-process check_batch of all rows at once: " + json.dumps(compare(got, rows, want)))


if __name__ == "__main__":
    main()
