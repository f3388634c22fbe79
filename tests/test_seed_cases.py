"""The seeds' own examples: every forbidden wording is non_compliant, every standard
wording passes as standard in its situation, and the 'must not lack …' items fail
with the right missing_* label. Cases: tests/seed_cases.yaml."""
from pathlib import Path

import pytest
import yaml

from sdk.engines.rules_engine import RulesEngine

CASES = yaml.safe_load((Path(__file__).parent / "seed_cases.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def engine():
    return RulesEngine()


def _ids(section):
    return [f"{c['src']}|{c['u'][:16]}" for c in CASES[section]]


@pytest.mark.parametrize("case", CASES["forbidden"], ids=_ids("forbidden"))
def test_seed_forbidden_wording_is_non_compliant(engine, case):
    result = engine.check_one(case["u"], case["c"])
    assert result.label == "non_compliant", (case, result.findings)
    hit = [f for f in result.findings if f.label == "non_compliant" and f.start is not None]
    assert hit, "a non_compliant decision must point at the words"
    for f in hit:
        assert case["u"][f.start:f.end] == f.text


@pytest.mark.parametrize("case", CASES["standard"], ids=_ids("standard"))
def test_seed_standard_wording_passes(engine, case):
    result = engine.check_one(case["u"], case["c"])
    assert result.label == "standard", (case, result.findings)


@pytest.mark.parametrize("case", CASES["missing"], ids=_ids("missing"))
def test_seed_required_elements(engine, case):
    result = engine.check_one(case["u"], case["c"])
    assert result.label == case["label"], (case, result.findings)


def test_seed_case_counts():
    # guards against the table silently shrinking
    assert len(CASES["forbidden"]) >= 40 and len(CASES["standard"]) >= 54 and len(CASES["missing"]) >= 15
