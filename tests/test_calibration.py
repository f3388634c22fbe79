"""Temperature calibration and the review band (sdk.calibration)."""
import math

import numpy as np
import pytest

from sdk.calibration import DISAGREEMENT, LOW_CONFIDENCE, ReviewPolicy, apply_temperature, fit_temperature


def test_temperature_keeps_the_label_and_softens_or_sharpens():
    scores = {"a": 0.7, "b": 0.2, "c": 0.1}
    soft, sharp = apply_temperature(scores, 2.0), apply_temperature(scores, 0.5)
    assert max(soft, key=soft.get) == max(sharp, key=sharp.get) == "a"
    assert soft["a"] < 0.7 < sharp["a"] and math.isclose(sum(soft.values()), 1.0)
    assert apply_temperature(scores, 1.0) == pytest.approx(scores)
    with pytest.raises(ValueError, match="temperature"):
        apply_temperature(scores, 0)


def test_fit_recovers_the_temperature_that_made_the_data():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(4000, 4))
    true_p = np.exp(logits / 2.5) / np.exp(logits / 2.5).sum(1, keepdims=True)  # truth is softer
    gold = np.array([rng.choice(4, p=p) for p in true_p])
    over = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)  # an over-confident model
    assert fit_temperature(over, gold) == pytest.approx(2.5, rel=0.1)


@pytest.mark.parametrize("scores, model, rules, reasons", [
    ({"x": 0.9, "y": 0.1}, "x", "x", []),
    ({"x": 0.55, "y": 0.45}, "x", "x", [LOW_CONFIDENCE]),
    ({"x": 0.9, "y": 0.1}, "x", "y", [DISAGREEMENT]),
    ({"x": 0.5, "y": 0.5}, "x", None, [LOW_CONFIDENCE]),
])
def test_review_reasons(scores, model, rules, reasons):
    assert ReviewPolicy({}, 0.6).reasons("compliance", scores, model, rules) == reasons


def test_policy_reads_the_manifest_and_a_given_threshold_wins():
    manifest = {"calibration": {"compliance": {"temperature": 1.7}}, "review": {"threshold": 0.7}}
    assert ReviewPolicy.from_manifest(manifest).threshold_for("emotion") == 0.7
    assert ReviewPolicy.from_manifest(manifest, 0.4).threshold_for("compliance") == 0.4
    per_task = dict(manifest, review={"threshold": {"compliance": 0.5, "emotion": 0.8}})
    assert ReviewPolicy.from_manifest(per_task).threshold_for("emotion") == 0.8
    assert ReviewPolicy.from_manifest(per_task, 0.3).threshold_for("emotion") == 0.3
    assert ReviewPolicy.from_manifest(manifest).calibrate("emotion", {"a": 0.8, "b": 0.2}) == {"a": 0.8, "b": 0.2}
    with pytest.raises(ValueError, match="review_threshold"):
        ReviewPolicy({}, 1.5)


def test_checker_results_carry_needs_review():
    import sdk

    strict = sdk.Checker(engine="auto", review_threshold=1.0)
    r = strict.check("好的，我帮您查一下。", context="[客户已等待约2分钟] 喂？还有人吗？")
    d = r.to_dict()
    assert "needs_review" in d and "review_reasons" in d
    if strict.engine == "onnx":  # only the model engine judges review
        assert r.needs_review and LOW_CONFIDENCE in r.review_reasons
    with pytest.raises(ValueError, match="review_threshold"):
        sdk.Checker(engine="rules", review_threshold=2)
