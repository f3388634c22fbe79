"""Accuracy of the rules engine on the project's own held-out-style cases.

tests/heldout_cases*.yaml were written with wording
different from the seeds. Their first-run accuracy (before any rule change made
after reading them) is recorded in the rules report; this test keeps the engine
from regressing on them and prints the current figure (`pytest -s`)."""
from pathlib import Path

import pytest
import yaml

from sdk.engines.rules_engine import RulesEngine
from sdk.labels import COMPLIANCE_LABELS

HERE = Path(__file__).parent
FILES = ["heldout_cases.yaml", "heldout_cases_2.yaml", "heldout_cases_3.yaml", "heldout_cases_4.yaml",
         "heldout_cases_5.yaml"]


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


def test_heldout_emotion_accuracy():
    cases = yaml.safe_load((HERE / "heldout_emotion.yaml").read_text(encoding="utf-8"))
    engine = RulesEngine()
    wrong = [(c["t"], c["label"], r.label) for c in cases
             for r in [engine.emotion_one(c["t"])] if r.label != c["label"]]
    accuracy = 1 - len(wrong) / len(cases)
    print(f"\nheldout_emotion.yaml: {len(cases) - len(wrong)}/{len(cases)} = {accuracy:.1%}")
    assert accuracy >= 0.85, wrong
