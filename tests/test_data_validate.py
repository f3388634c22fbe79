"""The validator must catch every kind of broken record and name the line."""
from pathlib import Path

import pytest

from training import validate

FIX = Path(__file__).parent / "fixtures" / "data"
VALID = sorted((FIX / "valid").glob("*.jsonl"))
BAD_COMPLIANCE = FIX / "invalid" / "compliance_bad.jsonl"
BAD_EMOTION = FIX / "invalid" / "emotion_bad.jsonl"


def _problems(paths):
    problems, _ = validate.validate_files(paths)
    return problems


def test_valid_fixtures_have_no_problems():
    assert _problems(VALID) == []


@pytest.mark.parametrize("line, expected", [
    (1, "bad JSON"),
    (2, "missing field 'group'"),
    (3, "unknown compliance label 'polite'"),
    (4, "unknown scenario 'hello'"),
    (5, "utterance is empty"),
    (6, "context is an empty string, expected null"),
    (7, "license 'research-only' does not match source 'handwritten', expected 'Apache-2.0'"),
    (8, "unknown field 'note'"),
    (9, "duplicate id 'fx-c-1'"),
    (10, "same input as"),
    (11, "unknown source 'real:unknownset'"),
    (12, "unknown domain 'space'"),
    (13, "blank line"),
    (14, "a emotion record in a compliance file"),
    (15, "line is a JSON list"),
])
def test_each_broken_line_is_reported(line, expected):
    problems = _problems(VALID + [BAD_COMPLIANCE])
    at_line = [str(p) for p in problems if p.path.endswith("compliance_bad.jsonl") and p.line == line]
    assert any(expected in msg for msg in at_line), (line, at_line)


def test_problem_format_is_file_line_message():
    problems = _problems([BAD_COMPLIANCE])
    first = str(problems[0])
    assert first.startswith(str(BAD_COMPLIANCE.resolve().relative_to(validate.REPO_ROOT)) + ":1: ")
    assert "expected" in first


def test_emotion_problems():
    msgs = [str(p) for p in _problems([BAD_EMOTION])]
    assert any(":1: unknown emotion label 'happy'" in m for m in msgs)
    assert any(":2: license 'MIT' does not match source 'real:cped', expected 'Apache-2.0'" in m for m in msgs)
    assert any(":3: missing field 'text'" in m for m in msgs)


def test_cli_exit_codes(capsys):
    assert validate.main([str(p) for p in VALID]) == 0
    assert validate.main([str(BAD_COMPLIANCE)]) == 1
    out = capsys.readouterr().out
    assert "compliance_bad.jsonl:1:" in out


def test_missing_and_empty_files(tmp_path):
    empty = tmp_path / "compliance_empty.jsonl"
    empty.write_text("", encoding="utf-8")
    msgs = [str(p) for p in _problems([empty, tmp_path / "nope.jsonl"])]
    assert any("file is empty" in m for m in msgs)
    assert any("file does not exist" in m for m in msgs)


def test_repository_sources_are_valid():
    """data/handwritten, data/real and data/augmented as committed must pass."""
    paths = validate.default_paths()
    if not paths:
        pytest.skip("no data yet")
    problems = _problems(paths)
    assert problems == [], "\n".join(str(p) for p in problems[:20])
