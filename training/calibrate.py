"""Fit the SDK's calibration and review threshold on dev (never on test or a blind set).

Called by ``training.evaluate`` after it has chosen the combination policy: per task, the final
score vectors the SDK returns (model + rules combined for compliance, the model for emotion) on dev
give the temperature T (sdk.calibration.fit_temperature, negative log-likelihood), and the review
threshold is the highest one whose review band stays within REVIEW_BUDGET of the dev turns: the
share of turns a QA team is asked to read. Where dev has real-conversation records, the band is
measured on them (that is where the SDK is used); else on all of dev.
"""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

from sdk.calibration import apply_temperature, fit_temperature

REVIEW_BUDGET = 0.25
THRESHOLDS = [round(x, 2) for x in np.arange(0.30, 0.951, 0.05)]


def temperature(task_labels: Sequence[str], scores: Sequence[Dict[str, float]], gold: Sequence[str]) -> float:
    probs = np.array([[s[label] for label in task_labels] for s in scores])
    return fit_temperature(probs, [list(task_labels).index(g) for g in gold])


def review_threshold(records: Sequence[dict], calibrated: Sequence[Dict[str, float]],
                     disagree: Sequence[bool], budget: float = REVIEW_BUDGET) -> Dict[str, float]:
    """The highest threshold whose band (low confidence or disagreement) flags <= budget of the dev
    turns (the real ones where there are any); with the share flagged and the accuracy left."""
    real = np.array([bool(r.get("conv_id")) for r in records])
    use = real if real.any() else np.ones(len(records), dtype=bool)
    top = np.array([max(s.values()) for s in calibrated])
    dis = np.asarray(disagree, dtype=bool)
    chosen = THRESHOLDS[0]
    for t in THRESHOLDS:
        if ((top[use] < t) | dis[use]).mean() <= budget:
            chosen = t
    flagged = (top < chosen) | dis
    return {"threshold": chosen, "dev_share_flagged": round(float(flagged[use].mean()), 4),
            "budget": budget, "measured_on": "real dev" if real.any() else "dev"}


def calibrated(scores: Sequence[Dict[str, float]], t: float) -> list:
    return [apply_temperature(s, t) for s in scores]
