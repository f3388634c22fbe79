"""sdk.spark on local[2]: one output row per input row (bad rows carry an error), results equal the
in-process SDK's, one Checker per Python worker, and the job (python -m sdk.spark, spark-submit)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyspark")
pytest.importorskip("pyarrow")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java (17)", allow_module_level=True)

import sdk.spark  # noqa: E402
from sdk.spark import frames, job  # noqa: E402
from training.dataset import load  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RULES = frames.CheckerSpec(engine="rules")
CALL = {
    "id": "c-1",
    "channel": "phone",
    "turns": [
        {"role": "agent", "text": "您好，星河电力客服中心，工号1023，很高兴为您服务。", "start": 0.4, "end": 4.1},
        {"role": "customer", "text": "我家停电两天了，怎么还没人来修？", "start": 4.6, "end": 8.0},
        {"role": "agent", "text": "对不起，请您稍等片刻，好吗？我帮您查一下。", "start": 8.3, "end": 10.9},
        {"role": "event", "text": "hold", "start": 11.0, "end": 84.0},
        {"role": "agent", "text": "让您久等了，抢修人员预计下午三点前到达。", "start": 84.5, "end": 89.0},
    ],
}


@pytest.fixture(scope="module")
def spark():
    from pyspark import cloudpickle
    from pyspark.sql import SparkSession

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    saved = {k: os.environ.get(k) for k in ("PYSPARK_PYTHON", "PYTHONPATH")}
    os.environ["PYSPARK_PYTHON"] = sys.executable
    # workers import the SDK under test (this checkout), not another installed copy
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), saved["PYTHONPATH"]) if p)
    s = (
        SparkSession.builder.master("local[2]")
        .appName("cs-qa-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def jsonl(path: Path, rows) -> Path:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" if not isinstance(r, str) else r + "\n" for r in rows),
        encoding="utf-8",
    )
    return path


def test_check_one_row_per_input_row_with_errors(spark, tmp_path, rules_checker):
    rows = [
        {"id": 1, "utterance": "喂，说话呀！"},
        {"id": 2, "utterance": "好的，我帮您查一下。", "context": "[客户已等待约2分钟] 喂？还有人吗？"},
        {"id": 3, "utterance": None},
        {"id": 4, "utterance": "   "},
        {"id": 5, "utterance": "好的", "context": "我建议你们周末也开门"},
    ]
    df = spark.read.json(str(jsonl(tmp_path / "in.jsonl", rows))).repartition(3)
    out = {r["id"]: r for r in sdk.spark.check(df, spec=RULES).collect()}
    assert sorted(out) == [1, 2, 3, 4, 5]
    assert "must be a str" in out[3]["error"] and out[3]["label"] is None
    assert "whitespace-only" in out[4]["error"]
    for rid in (1, 2, 5):
        r, row = out[rid], next(x for x in rows if x["id"] == rid)
        want = rules_checker.check(row["utterance"], row.get("context")).to_dict()
        assert r["error"] is None
        assert (r["label"], r["engine"], r["warnings"]) == (want["label"], want["engine"], want["warnings"])
        assert r["scores"] == want["scores"]
        assert json.loads(r["findings"]) == want["findings"]
        assert json.loads(r["decided_by"]) == want["decided_by"]
        assert r["emotion"] == (want["emotion"]["label"] if want["emotion"] else None)


@pytest.mark.parametrize("mixed", [False, True], ids=["array-column", "mixed-string-column"])
def test_check_reads_turn_contexts(spark, tmp_path, rules_checker, mixed):
    """Turns arrive as an array of structs, or (a JSON file mixing string and list contexts) as JSON text."""
    turns = [
        {"role": "agent", "text": "请您稍等"},
        {"role": "event", "text": "hold", "start": 5, "end": 130.5},
        {"role": "customer", "text": "喂？还有人吗？"},
    ]
    rows = [
        {"id": 1, "utterance": "好的，我帮您查一下。", "context": turns},
        {"id": 2, "utterance": "好的", "context": [{"role": "boss", "text": "x"}]},
    ]
    if mixed:
        rows.append({"id": 3, "utterance": "好的，我帮您查一下。", "context": "[客户已等待约2分钟] 喂？还有人吗？"})
    df = spark.read.json(str(jsonl(tmp_path / "turns.jsonl", rows)))
    assert (dict(df.dtypes)["context"] == "string") == mixed
    out = {r["id"]: r for r in sdk.spark.check(df, spec=RULES).collect()}
    want = rules_checker.check("好的，我帮您查一下。", turns).to_dict()
    assert out[1]["label"] == want["label"] and json.loads(out[1]["findings"]) == want["findings"]
    assert out[1]["error"] is None
    assert "'role'" in out[2]["error"] and out[2]["label"] is None
    if mixed:
        assert out[3]["label"] == rules_checker.check(rows[2]["utterance"], rows[2]["context"]).label


def test_emotion_and_a_clashing_column(spark, rules_checker):
    df = spark.createDataFrame(
        [("谢谢你啊", "satisfied"), ("什么破公司！我要投诉你们！", "angry"), (None, "x")], "text string, label string"
    )
    with pytest.raises(ValueError, match="prefix"):
        sdk.spark.emotion(df, spec=RULES)
    rows = sdk.spark.emotion(df, prefix="qa_", spec=RULES).collect()
    assert [r["qa_label"] for r in rows[:2]] == [
        rules_checker.emotion(t).label for t in ("谢谢你啊", "什么破公司！我要投诉你们！")
    ]
    assert rows[2]["qa_error"].startswith("TypeError") and rows[2]["label"] == "x"
    with pytest.raises(ValueError, match="not in the DataFrame"):
        sdk.spark.check(df, utterance_col="utt", spec=RULES)


def test_audit_one_row_per_call(spark, tmp_path, rules_checker):
    bad = {
        "id": "c-2",
        "turns": [{"role": "agent", "text": "a", "start": 5}, {"role": "agent", "text": "b", "start": 1}],
    }
    df = spark.read.json(str(jsonl(tmp_path / "calls.jsonl", [CALL, bad, {"id": "c-3"}])))
    out = {r["id"]: r for r in sdk.spark.audit(df, spec=RULES).collect()}
    want = rules_checker.audit(CALL).to_dict()
    assert out["c-1"]["score"] == want["score"] and out["c-1"]["passed"] == want["passed"]
    assert json.loads(out["c-1"]["findings"]) == want["findings"]
    assert json.loads(out["c-1"]["turn_results"]) == want["turns"]
    assert "time order" in out["c-2"]["error"] and out["c-2"]["score"] is None
    assert "'turns' is null" in out["c-3"]["error"]


def test_one_checker_per_python_worker(spark):
    df = spark.range(0, 64, numPartitions=8).selectExpr(
        "cast(id as string) as id", "'您好，请问有什么可以帮您？' as utterance"
    )
    assert sdk.spark.check(df, spec=RULES).filter("error is null").count() == 64

    def report(batches):
        import pandas as pd

        from sdk.spark import frames as f

        for _ in batches:
            checker = f._CHECKERS.get(RULES)
            yield pd.DataFrame({"pid": [os.getpid()], "checker": [id(checker) if checker is not None else 0]})

    seen = df.mapInPandas(report, "pid long, checker long").collect()
    # each worker process that ran a task already holds the checker from the first job, and only one
    assert all(r["checker"] != 0 for r in seen)
    assert len({(r["pid"], r["checker"]) for r in seen}) == len({r["pid"] for r in seen}) <= 2


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_job_writes_every_row_in_each_format(spark, tmp_path, fmt):
    src = jsonl(
        tmp_path / "in.jsonl",
        [
            {"id": "a", "utterance": "您好，请问有什么可以帮您？"},
            "{not json",
            {"id": "c", "utterance": "好的", "context": "我建议你们周末也开门"},
        ],
    )
    out = tmp_path / "out"
    assert job.main(["check", "--input", str(src), "--output", str(out), "--format", fmt, "--engine", "rules"]) == 0
    back = job.read(spark, str(out), fmt).collect()
    assert len(back) == 3
    errors = [r["error"] for r in back]
    assert sum(e is not None for e in errors) == 1 and any(e and "not valid JSON" in e for e in errors)
    assert {r["label"] for r in back if r["error"] is None} == {"standard", "missing_thanks"}
    assert (
        job.main(["check", "--input", str(src), "--output", str(out), "--engine", "rules", "--strict", "--overwrite"])
        == 1
    )


def test_job_emotion_from_a_text_file_and_audit(spark, tmp_path):
    src = tmp_path / "texts.txt"
    src.write_text("谢谢你啊\n什么破公司！我要投诉你们！\n", encoding="utf-8")
    assert job.main(["emotion", "--input", str(src), "--output", str(tmp_path / "e"), "--engine", "rules"]) == 0
    assert [r["label"] for r in job.read(spark, str(tmp_path / "e"), "jsonl").collect()] == ["satisfied", "angry"]
    calls = jsonl(tmp_path / "calls.jsonl", [CALL])
    assert (
        job.main(
            [
                "audit",
                "--input",
                str(calls),
                "--output",
                str(tmp_path / "a"),
                "--format",
                "parquet",
                "--engine",
                "rules",
            ]
        )
        == 0
    )
    assert job.read(spark, str(tmp_path / "a"), "parquet").collect()[0]["passed"] is not None


def test_job_usage_errors(tmp_path, capsys):
    assert job.main(["check", "--input", str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "o")]) == 2
    assert "missing.jsonl" in capsys.readouterr().err


@pytest.mark.slow
def test_10000_rows_equal_in_process_results(spark, tmp_path):
    """The shipped model through the Spark job equals the in-process Checker row for row, exactly; bad
    rows are kept with an error.

    The int8 model quantises activations with one scale per model batch, so a score moves (by up to ~0.03)
    with the other items in its batch: the in-process reference is therefore computed over the same
    batches Spark forms (the rows of each input partition, in order, CHUNK at a time).
    """
    from pyspark.sql import functions as F

    from sdk import Checker, ModelUnavailable

    try:
        checker = Checker(engine="auto", threads=1)
    except ModelUnavailable:
        pytest.skip("no model")
    rows = bench_rows(10_000)
    src = jsonl(tmp_path / "rows.jsonl", rows)
    out = tmp_path / "out"
    assert job.main(["check", "--input", str(src), "--output", str(out), "--prefix", "qa_", "--format", "parquet"]) == 0
    got = {r["id"]: r for r in job.read(spark, str(out), "parquet").collect()}
    assert len(got) == len(rows)

    placed = job.read(spark, str(src), "jsonl").select("id", F.spark_partition_id().alias("part")).collect()
    assert len({r["part"] for r in placed}) == 2  # both cores had a share
    row_of = {r["id"]: r for r in rows}
    want = {}
    for part in sorted({r["part"] for r in placed}):
        valid = [
            row_of[r["id"]]
            for r in placed
            if r["part"] == part
            and isinstance(row_of[r["id"]]["utterance"], str)
            and row_of[r["id"]]["utterance"].strip()
        ]
        for k in range(0, len(valid), frames.CHUNK):
            chunk = valid[k : k + frames.CHUNK]
            for r, x in zip(chunk, checker.check_batch([(r["utterance"], r.get("context")) for r in chunk])):
                want[r["id"]] = x.to_dict()
    for rid, r in got.items():
        if rid not in want:
            assert r["qa_error"] and r["qa_label"] is None, rid
            continue
        w = want[rid]
        assert r["qa_error"] is None, (rid, r["qa_error"])
        assert (r["qa_label"], r["qa_engine"], list(r["qa_warnings"])) == (w["label"], w["engine"], w["warnings"]), rid
        assert dict(r["qa_scores"]) == w["scores"], rid
        assert json.loads(r["qa_findings"]) == w["findings"], rid
        assert json.loads(r["qa_decided_by"]) == w["decided_by"], rid
        assert r["qa_emotion"] == (w["emotion"]["label"] if w["emotion"] else None), rid
    assert len(got) - len(want) == sum(1 for r in rows if r["id"].startswith("bad-")) == 20


def bench_rows(n: int):
    """``n`` rows: the compliance dev/test splits' utterances and contexts over and over, 1 in 500 bad."""
    src = [r for split in ("dev", "test") for r in load("compliance", split)]
    rows = []
    for i in range(n):
        if i % 500 == 499:
            rows.append({"id": f"bad-{i}", "utterance": ["", "  ", None][i % 3], "label": "standard"})
            continue
        r = src[i % len(src)]
        rows.append({"id": f"r-{i}", "utterance": r["utterance"], "context": r["context"], "label": r["label"]})
    return rows


@pytest.mark.slow
def test_spark_submit_runs_the_job_unchanged_with_a_shipped_model(tmp_path):
    """The job file under spark-submit, the model directory shipped to executors as an archive."""
    import tarfile

    submit = Path(sys.executable).parent / "spark-submit"
    model = REPO / "models" / "default"
    if not submit.exists() or not (model / "manifest.json").is_file():
        pytest.skip("needs spark-submit next to this Python and the shipped model")
    pytest.importorskip("onnxruntime")
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for f in model.iterdir():
            tar.add(f, arcname=f.name)
    src = jsonl(tmp_path / "in.jsonl", [{"id": "a", "utterance": "喂，说话呀！"}, {"id": "b", "utterance": ""}])
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    p = subprocess.run(
        [
            str(submit),
            "--master",
            "local[2]",
            "--conf",
            "spark.ui.enabled=false",
            "--archives",
            f"{archive}#shipped_model",
            str(REPO / "sdk" / "spark" / "__main__.py"),
            "check",
            "--input",
            str(src),
            "--output",
            str(tmp_path / "out"),
            "--engine",
            "onnx",
            "--model-dir",
            "shipped_model",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    # spark-submit hands the driver's stderr to its own stdout
    summary = [line for line in (p.stdout + p.stderr).splitlines() if line.startswith("sdk.spark check:")]
    assert summary and "2 rows written" in summary[0] and "1 with an error" in summary[0], p.stderr[-3000:]
    rows = [
        json.loads(line)
        for f in sorted((tmp_path / "out").glob("part-*.json"))
        for line in f.read_text(encoding="utf-8").splitlines()
    ]
    assert [(r["id"], r["engine"], r["label"]) for r in rows] == [("a", "onnx", "non_compliant"), ("b", None, None)]
