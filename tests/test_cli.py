"""The CLI: single mode, batch mode over JSONL/CSV/stdin, one output per input."""
import json
import subprocess
import sys

import pytest

from sdk.cli import main


def run_cli(args, stdin=None):
    return subprocess.run([sys.executable, "-m", "sdk", *args], input=stdin, capture_output=True, text=True)


def test_single_check_json(capsys):
    assert main(["check", "喂，说话呀！", "--engine", "rules"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["label"] == "non_compliant" and d["engine"] == "rules"


def test_single_check_with_context_table(capsys):
    assert main(["check", "好的，我帮您查一下。", "--context", "[客户已等待约2分钟] 喂？还有人吗？",
                 "--engine", "rules", "--format", "table"]) == 0
    out = capsys.readouterr().out
    assert "missing_apology" in out


def test_emotion_single(capsys):
    assert main(["emotion", "什么破公司！我要投诉你们！", "--engine", "rules"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == "angry"


def test_batch_jsonl_keeps_every_record(tmp_path):
    src = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"id": "a", "utterance": "您好，请问有什么可以帮您？"}, ensure_ascii=False),
        "{not json",
        json.dumps({"id": "c", "utterance": ""}, ensure_ascii=False),
        json.dumps({"id": "d", "utterance": "好的", "context": "我建议你们周末也开门"}, ensure_ascii=False),
        json.dumps({"id": "e", "text": "不知道"}, ensure_ascii=False),
        json.dumps({"id": "f"}),
    ]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dst = tmp_path / "out.jsonl"
    code = main(["check", "--input", str(src), "--output", str(dst), "--engine", "rules"])
    rows = [json.loads(l) for l in dst.read_text(encoding="utf-8").splitlines()]
    assert code == 1  # some records failed, and the exit code says so
    assert [r["line"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert "error" in rows[1] and "JSON" in rows[1]["error"]
    assert "error" in rows[2] and rows[2]["id"] == "c"
    assert "error" in rows[5] and "utterance" in rows[5]["error"]
    assert rows[0]["id"] == "a" and rows[0]["label"] in ("standard", "non_compliant", "missing_apology", "missing_thanks")
    assert rows[3]["context"] == "我建议你们周末也开门"


def test_batch_csv(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("utterance,context\n您好，请问有什么可以帮您？,\n好的,我建议你们周末也开门\n", encoding="utf-8")
    dst = tmp_path / "out.jsonl"
    assert main(["check", "-i", str(src), "-o", str(dst), "--engine", "rules"]) == 0
    rows = [json.loads(l) for l in dst.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 2 and rows[0]["context"] is None


def test_batch_stdin_emotion_text_lines():
    p = run_cli(["emotion", "--input", "-", "--input-format", "text", "--engine", "rules"],
                stdin="谢谢你啊\n怎么还没到\n\n什么破公司！我要投诉你们！\n")
    assert p.returncode == 0, p.stderr
    rows = [json.loads(l) for l in p.stdout.splitlines()]
    assert len(rows) == 3 and rows[2]["label"] == "angry"


@pytest.mark.parametrize("args", [["check"], ["check", "好的", "--input", "x.jsonl"]])
def test_usage_errors(args):
    assert main(args + ["--engine", "rules"]) == 2


def test_missing_input_file(tmp_path, capsys):
    assert main(["check", "--input", str(tmp_path / "missing.jsonl"), "--engine", "rules"]) == 2
    assert "missing.jsonl" in capsys.readouterr().err
