"""Accuracy of the rules engine on the project's own held-out-style cases.

tests/heldout_cases.yaml and tests/heldout_cases_2.yaml were written with wording
different from the seeds. Their first-run accuracy (before any rule change made
after reading them) is recorded in the rules report; this test keeps the engine
from regressing on them and prints the current figure (`pytest -s`)."""
from pathlib import Path

import pytest
import yaml

from sdk.engines.rules_engine import RulesEngine
from sdk.labels import COMPLIANCE_LABELS

HERE = Path(__file__).parent
FILES = ["heldout_cases.yaml", "heldout_cases_2.yaml"]


@pytest.mark.parametrize("name", FILES)
def test_heldout_accuracy(name):
    cases = yaml.safe_load((HERE / name).read_text(encoding="utf-8"))
    assert all(c["label"] in COMPLIANCE_LABELS for c in cases)
    engine = RulesEngine()
    wrong = []
    for c in cases:
        got = engine.check_one(c["u"], c.get("c")).label
        if got != c["label"]:
            wrong.append((c["u"], c.get("c"), c["label"], got))
    accuracy = 1 - len(wrong) / len(cases)
    print(f"\n{name}: {len(cases) - len(wrong)}/{len(cases)} = {accuracy:.1%}")
    for w in wrong:
        print("  MISS", w)
    assert accuracy >= 0.9, wrong
