"""The CLI contract (issue 14): one output record per input record, or an error record, whatever the
bytes; exit codes 0 / 1 / 2 / 3 / 130 / 141; interrupted runs leave only complete records; the input is
never overwritten; --version; CS_QA_MODEL_DIR; column mapping."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def cli(args, stdin=None, env=None, timeout=300):
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "sdk", *args], input=stdin, capture_output=True, timeout=timeout,
                          env=full_env, cwd=str(ROOT))


def rows_of(data: bytes):
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


GOOD = json.dumps({"id": "g", "utterance": "您好，请问有什么可以帮您？"}, ensure_ascii=False).encode() + b"\n"


@pytest.mark.parametrize("bad_line, why", [
    (b'{"id": "x", "utterance": "\xff\xfe bad"}\n', "encoding"),
    ('{"id": "x", "utterance": "没办法"}\n'.encode("gbk"), "encoding"),
    (b'{"id": 1' + b"1" * 5000 + b', "utterance": "hi"}\n', "JSON"),
    (b"[" * 100_000 + b"]" * 100_000 + b"\n", "JSON"),
    (b'{"id": NaN, "utterance": ""}\n', "must contain text"),
    (b"{not json\n", "JSON"),
    (b'"just a string"\n', None),
    (b"12345\n", "record must be"),
])
def test_jsonl_every_line_gets_a_record(tmp_path, bad_line, why):
    src = tmp_path / "in.jsonl"
    src.write_bytes(GOOD * 3 + bad_line + GOOD * 2)
    out = cli(["check", "--input", str(src), "--engine", "rules", "--no-progress"])
    assert b"Traceback" not in out.stderr, out.stderr.decode()[-2000:]
    rows = rows_of(out.stdout)
    assert [r["line"] for r in rows] == [1, 2, 3, 4, 5, 6]
    if why is None:
        assert out.returncode == 0 and "error" not in rows[3]
    else:
        assert out.returncode == 1 and why in rows[3]["error"]
        assert all("error" not in r for i, r in enumerate(rows) if i != 3)


def test_nan_id_writes_valid_json(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"id": NaN, "utterance": "\xe6\x82\xa8\xe5\xa5\xbd"}\n{"id": Infinity, "utterance": "hi"}\n')
    out = cli(["check", "--input", str(src), "--engine", "rules"])
    for line in out.stdout.decode().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"invalid JSON constant {c}"))
    assert out.returncode == 0


def test_bad_byte_at_line_501_loses_nothing(tmp_path):
    lines = [json.dumps({"id": i, "utterance": f"好的，第{i}条"}, ensure_ascii=False).encode() for i in range(600)]
    lines[500] = b'{"id": 500, "utterance": "\xc3\x28"}'
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    out = cli(["check", "--input", str(src), "--engine", "rules"])
    rows = rows_of(out.stdout)
    assert len(rows) == 600 and out.returncode == 1
    assert [i for i, r in enumerate(rows) if "error" in r] == [500]


def test_gbk_csv_is_read_with_encoding_and_never_crashes(tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes("utterance,context\n好的我帮您查一下,等了好久\n喂，说话呀！,\n".encode("gbk"))
    plain = cli(["check", "--input", str(src), "--engine", "rules"])
    assert b"Traceback" not in plain.stderr and len(rows_of(plain.stdout)) == 2 and plain.returncode == 1
    gbk = cli(["check", "--input", str(src), "--engine", "rules", "--encoding", "gbk"])
    rows = rows_of(gbk.stdout)
    assert gbk.returncode == 0 and rows[1]["label"] == "non_compliant"


def test_csv_field_over_131072_characters(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("utterance,context\n" + "好" * 200_000 + ",\n您好,\n", encoding="utf-8")
    out = cli(["check", "--input", str(src), "--engine", "rules"])
    rows = rows_of(out.stdout)
    assert out.returncode == 0 and len(rows) == 2 and rows[0]["warnings"]


def test_csv_column_mapping(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("编号,坐席,客户\nc1,好的,我建议你们周末也开门\nc2,喂，说话呀！,\n", encoding="utf-8")
    out = cli(["check", "--input", str(src), "--engine", "rules", "--utterance-field", "坐席",
               "--context-field", "客户", "--id-field", "编号"])
    rows = rows_of(out.stdout)
    assert out.returncode == 0, out.stderr.decode()
    assert [r["id"] for r in rows] == ["c1", "c2"] and rows[0]["context"] == "我建议你们周末也开门"
    assert rows[1]["label"] == "non_compliant"


def test_output_equal_to_input_is_refused(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(GOOD)
    for output in (str(src), str(tmp_path / "." / "in.jsonl")):
        out = cli(["check", "--input", str(src), "--output", output, "--engine", "rules"])
        assert out.returncode == 2 and b"erase the input" in out.stderr
        assert src.read_bytes() == GOOD


@pytest.mark.parametrize("output", ["/nonexistent-dir/out.jsonl", "DIR"])
def test_unwritable_output_is_a_usage_error(tmp_path, output):
    src = tmp_path / "in.jsonl"
    src.write_bytes(GOOD)
    out = cli(["check", "--input", str(src), "--output", str(tmp_path) if output == "DIR" else output,
               "--engine", "rules"])
    assert out.returncode == 2 and b"Traceback" not in out.stderr


def test_exit_codes(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(GOOD)
    assert cli(["check", "--input", str(src), "--engine", "rules"]).returncode == 0
    assert cli(["check", "--input", str(tmp_path / "missing.jsonl"), "--engine", "rules"]).returncode == 2
    assert cli(["check", "您好", "--engine", "onnx", "--model-dir", str(tmp_path)]).returncode == 2
    broken = tmp_path / "broken.yaml"
    broken.write_text("forbidden_words: 没辙\n", encoding="utf-8")
    out = cli(["check", "您好", "--engine", "rules", "--rulebook", str(broken)])
    assert out.returncode == 2 and b"forbidden_words" in out.stderr and b"Traceback" not in out.stderr


def test_version():
    import sdk

    out = cli(["--version"])
    assert out.returncode == 0 and sdk.__version__ in out.stdout.decode()


def test_model_dir_environment_variable(tmp_path):
    out = cli(["check", "您好", "--engine", "onnx"], env={"CS_QA_MODEL_DIR": str(tmp_path / "nowhere")})
    assert out.returncode == 2 and b"nowhere" in out.stderr
    auto = cli(["check", "您好"], env={"CS_QA_MODEL_DIR": str(tmp_path / "nowhere")})
    assert auto.returncode == 0 and json.loads(auto.stdout)["engine"] == "rules"


def test_broken_pipe_is_quiet(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(GOOD * 3000)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "sdk", "check", "--input", str(src), "--engine", "rules"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(ROOT))
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    _, err = proc.communicate(timeout=300)
    assert b"Traceback" not in err and b"BrokenPipe" not in err
    assert proc.returncode == 141


def test_interrupted_run_leaves_only_complete_records(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(GOOD * 20_000)
    dst = tmp_path / "out.jsonl"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "sdk", "check", "--input", str(src), "--output", str(dst),
                             "--engine", "rules"], stderr=subprocess.PIPE, env=env, cwd=str(ROOT))
    deadline = time.time() + 120
    while (not dst.exists() or dst.stat().st_size < 20_000) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()[-500:]
    data = dst.read_bytes()
    assert data.endswith(b"\n")
    rows = rows_of(data)
    assert 0 < len(rows) < 20_000 and [r["line"] for r in rows] == list(range(1, len(rows) + 1))


def test_surrogate_escapes_in_json_input_are_written_back(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"utterance": "\\udca7\\u4f60\\u597d"}\n')
    out = cli(["check", "--input", str(src), "--engine", "rules"])
    assert out.returncode == 0 and b"Traceback" not in out.stderr
    assert rows_of(out.stdout)[0]["utterance"] == "\udca7你好"
