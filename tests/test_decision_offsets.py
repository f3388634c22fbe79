"""The dev experiment on per-label decision offsets (training.decision_offsets): the fit and the CV."""
import numpy as np

from training.decision_offsets import cross_validate, fit_offsets

LABELS = ["standard", "non_compliant", "missing_apology", "missing_thanks"]


def _records(gold):
    return [{"label": g, "conv_id": f"c{i // 3}", "_task": "compliance"} for i, g in enumerate(gold)]


def test_offsets_recover_an_under_predicted_label():
    # non_compliant turns whose scores lean to standard: only an offset for non_compliant gets them right
    rng = np.random.default_rng(0)
    gold = ["standard"] * 60 + ["non_compliant"] * 20 + ["missing_apology"] * 20 + ["missing_thanks"] * 20
    p = np.full((len(gold), 4), 0.05)
    for i, g in enumerate(gold):
        if g == "non_compliant":
            p[i, 0], p[i, 1] = 0.5, 0.4
        elif g == "standard":
            p[i, 0], p[i, 1] = 0.85, 0.05 + 0.05 * rng.random()
        else:
            p[i, LABELS.index(g)] = 0.85
    logp = np.log(p)
    b = fit_offsets(logp, _records(gold), LABELS)
    assert b[0] == 0 and b[1] > 0.2
    pred = [LABELS[i] for i in (logp + b).argmax(1)]
    assert pred == gold


def test_cross_validation_reports_held_out_gain():
    gold = ["standard", "non_compliant", "missing_apology", "missing_thanks"] * 30
    scores = [{k: (0.7 if k == g else 0.1) for k in LABELS} for g in gold]
    out = cross_validate("compliance", scores, [{"label": g, "conv_id": f"c{i}"} for i, g in enumerate(gold)])
    # already perfect: offsets can only keep it so
    assert out["held_out_selection_without"] == 1.0 and out["mean_gain"] == 0.0 and out["folds"] == 6
