"""cs-qa audit / cs-qa report: one output line per call (or an error record), a summary, exit codes;
the HTML report is self-contained and renders in a real headless Chromium without console errors."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from audit_calls import CLEAN_CHAT, CLEAN_PHONE, CLEAN_SILENT, variant

from sdk.cli import main

REPO = Path(__file__).resolve().parents[1]

FAULTY = variant(CLEAN_PHONE, {7: {"text": "您所在的区域正在检修线路，预计下午三点前恢复供电。"},
                               11: {"text": "好的，再见！"}}, id="phone-faulty", agent_id="A2")


def _write_jsonl(path, calls, extra_lines=()):
    with open(path, "w", encoding="utf-8") as fh:
        for c in calls:
            fh.write(json.dumps(c, ensure_ascii=False) + "\n")
        for line in extra_lines:
            fh.write(line + "\n")


@pytest.fixture()
def calls_file(tmp_path):
    path = tmp_path / "calls.jsonl"
    bad = {"id": "bad", "turns": [{"role": "agent", "text": "您好"}, {"text": "在吗"}]}
    _write_jsonl(path, [CLEAN_PHONE, CLEAN_CHAT, FAULTY, bad], ["{not json"])
    return path


def test_audit_writes_one_line_per_call_and_error_records(calls_file, tmp_path, capsys):
    out = tmp_path / "audits.jsonl"
    rc = main(["audit", str(calls_file), "-o", str(out), "--engine", "rules", "--no-progress"])
    assert rc == 1  # some calls could not be audited
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 5
    assert [r.get("id") for r in rows[:4]] == ["phone-clean", "chat-clean", "phone-faulty", "bad"]
    assert rows[0]["passed"] and rows[0]["findings"] == []
    assert {f["check_id"] for f in rows[2]["findings"]} == {"hold.return", "closing.thanks"}
    assert "turn 1 field 'role' is missing" in rows[3]["error"] and rows[3]["source"].endswith(":4")
    assert "line 5 is not valid JSON" in rows[4]["error"]
    err = capsys.readouterr().err
    assert "audited 3 call(s): pass rate 100% (3/3)" in err and "2 could not be audited" in err
    assert "hold.return ×1" in err


def test_audit_plain_transcript_gbk_to_stdout(tmp_path, capsys):
    path = tmp_path / "call.txt"
    path.write_bytes(("[00:00-00:03] 客服：您好，请问有什么可以帮您？\n[00:03-00:06] 客户：我想查一下话费。\n"
                      "[00:06-00:09] 客服：好的，您的话费余额是三十元。请问还有什么可以帮您？\n"
                      "[00:09-00:10] 客户：没有了，谢谢。\n[00:10-00:12] 客服：感谢您的来电，再见！\n"
                      "[00:13] 事件：客户挂机\n").encode("gb18030"))
    rc = main(["audit", str(path), "--engine", "rules", "--no-progress"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 0 and rows[0]["id"] == "call" and rows[0]["passed"], rows[0]["findings"]


def test_audit_bad_scorecard_and_missing_input(tmp_path, capsys):
    card = tmp_path / "card.yaml"
    card.write_text("scorecard: {name: x, pass_mark: 50, items: []}\n", encoding="utf-8")
    path = tmp_path / "c.jsonl"
    _write_jsonl(path, [CLEAN_CHAT])
    assert main(["audit", str(path), "--engine", "rules", "--scorecard", str(card)]) == 2
    assert "field 'items'" in capsys.readouterr().err
    assert main(["audit", str(tmp_path / "nope.jsonl"), "--engine", "rules"]) == 2
    assert "input not found" in capsys.readouterr().err


def test_audit_reads_stdin(tmp_path):
    line = json.dumps(CLEAN_CHAT, ensure_ascii=False)
    proc = subprocess.run([sys.executable, "-m", "sdk", "audit", "-", "--engine", "rules"], input=line.encode(),
                          capture_output=True, cwd=REPO, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout.decode().splitlines()[0])["id"] == "chat-clean"


def _report(tmp_path, calls_file):
    audits = tmp_path / "audits.jsonl"
    main(["audit", str(calls_file), "-o", str(audits), "--engine", "rules", "--no-progress"])
    with open(audits, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(main_audit_row(CLEAN_SILENT), ensure_ascii=False) + "\n")
    html = tmp_path / "report.html"
    assert main(["report", str(audits), "-o", str(html)]) == 0
    return html


def main_audit_row(call):
    from sdk import Checker

    return Checker(engine="rules").audit(call).to_dict()


def test_report_is_self_contained_and_escapes_transcripts(tmp_path, calls_file):
    evil = variant(CLEAN_CHAT, {2: {"text": "<script>alert(1)</script>订单号12345678"}}, id="evil")
    _write_jsonl(calls_file, [CLEAN_PHONE, evil, FAULTY])
    html = _report(tmp_path, calls_file).read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "http://" not in html and "https://" not in html  # nothing to fetch: opens offline
    for part in ("得分分布", "问题类型", "问题严重程度", "通话结束时客户情绪", "坐席统计", "phone-faulty",
                 "对不起，让您久等了。", "<svg"):
        assert part in html, part


def test_report_rejects_lines_that_are_not_audits(tmp_path, capsys):
    path = tmp_path / "a.jsonl"
    path.write_text('{"hello": 1}\n', encoding="utf-8")
    assert main(["report", str(path), "-o", str(tmp_path / "r.html")]) == 1
    assert "not an audit record" in capsys.readouterr().err


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _render(browser, html, shot, height=1400):
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr",
         "--v=0", f"--screenshot={shot}", f"--window-size=1280,{height}", html.as_uri()],
        capture_output=True, timeout=120)
    log = proc.stderr.decode(errors="replace")
    console = [line for line in log.splitlines() if "CONSOLE" in line]
    return proc.returncode, console


@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (apt-get install chromium); "
                                                "the report cannot be rendered in a real browser here")
def test_report_renders_in_headless_chromium_without_console_errors(tmp_path, tmp_path_factory, calls_file):
    browser = _chromium()
    html = _report(tmp_path, calls_file)
    # the screenshot is a test artefact: $CSQA_TEST_ARTIFACTS, else pytest's (kept) base temp folder
    artifacts = Path(os.environ.get("CSQA_TEST_ARTIFACTS") or tmp_path_factory.getbasetemp() / "artifacts")
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "audit_report.png"
    rc, console = _render(browser, html, shot)
    assert rc == 0 and shot.is_file() and shot.stat().st_size > 20_000
    assert console == [], console
    # the console check can fail: a page with a script error is caught
    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><script>undefinedFunction();</script></body></html>", encoding="utf-8")
    _, console = _render(browser, broken, tmp_path / "broken.png", 200)
    assert any("undefinedFunction" in line for line in console), console


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal (POSIX)")
def test_progress_bar_on_a_terminal_shows_total_and_percentage(calls_file, tmp_path):
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "sdk", "audit", str(calls_file), "-o", str(tmp_path / "o.jsonl"),
                             "--engine", "rules"], stderr=slave, stdout=subprocess.DEVNULL, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=120)
    text = out.decode(errors="replace")
    assert "0/5" in text and "100%" in text and "5/5" in text  # total known: count, percentage, time left
    assert "audited 3 call(s)" in text
