"""Calibrated scores and the review band.

A model's softmax is over-confident (dev/blind ECE 0.16-0.18 before calibration), so a score of 0.9
did not mean "right 9 times in 10". Temperature scaling (Guo et al., 2017) fits one number per task
on dev, T, and reads every score vector p as softmax(log p / T): the label never changes, only how
sure the result says it is. ``training.calibrate`` fits T and writes it into the model's manifest;
the engine applies it to its final scores.

A result *needs review* when its calibrated top score is below a threshold (a setting: Checker's
``review_threshold``, else the manifest's value chosen on dev, else DEFAULT_REVIEW_THRESHOLD) or when
the model and the rules disagree about the label: these are the turns a QA reader should look at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

DEFAULT_REVIEW_THRESHOLD = 0.6
LOW_CONFIDENCE = "low_confidence"
DISAGREEMENT = "model_rules_disagree"
_EPS = 1e-12


def apply_temperature(scores: Mapping[str, float], temperature: float) -> Dict[str, float]:
    """softmax(log p / T) over a score dict; T = 1 returns the scores renormalised."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    logs = {k: math.log(max(float(v), _EPS)) / temperature for k, v in scores.items()}
    top = max(logs.values())
    exp = {k: math.exp(v - top) for k, v in logs.items()}
    total = sum(exp.values())
    return {k: v / total for k, v in exp.items()}


def fit_temperature(probs: Sequence[Sequence[float]], gold: Sequence[int]) -> float:
    """The T in [0.05, 20] minimising the negative log-likelihood of ``gold`` under softmax(log p / T):
    a coarse log-spaced grid, then a finer one around the best point (no optimiser dependency)."""
    import numpy as np

    logp = np.log(np.clip(np.asarray(probs, dtype=np.float64), _EPS, 1.0))
    y = np.asarray(gold, dtype=np.int64)
    if logp.ndim != 2 or len(y) != len(logp) or not len(y):
        raise ValueError(f"fit_temperature needs (n, k) probabilities and n gold ids, got {logp.shape} and {len(y)}")

    def nll(t: float) -> float:
        z = logp / t
        z = z - z.max(axis=1, keepdims=True)
        return float(-(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(axis=1))).mean())

    grid = np.exp(np.linspace(math.log(0.05), math.log(20.0), 121))
    best = min(grid, key=nll)
    fine = np.exp(np.linspace(math.log(best) - 0.05, math.log(best) + 0.05, 41))
    return round(float(min(fine, key=nll)), 4)


@dataclass(frozen=True)
class ReviewPolicy:
    """Per-task temperatures and review thresholds, read from a manifest (or given).

    ``threshold`` applies to every task without its own entry in ``thresholds``.
    """

    temperatures: Mapping[str, float]
    threshold: float = DEFAULT_REVIEW_THRESHOLD
    thresholds: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for where, value in [("review_threshold", self.threshold)] + [
            (f"review threshold for {t!r}", v) for t, v in self.thresholds.items()
        ]:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{where} must be in [0, 1], got {value!r}")
        for task, t in self.temperatures.items():
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t <= 100:
                raise ValueError(f"calibration temperature for {task!r} must be in (0, 100], got {t!r}")

    @classmethod
    def from_manifest(cls, manifest: Optional[Mapping[str, Any]], threshold: Optional[float] = None) -> "ReviewPolicy":
        """The manifest's temperatures and per-task thresholds; a given ``threshold`` overrides them all."""
        data = (manifest or {}).get("calibration") or {}
        temps = {
            task: float(spec["temperature"])
            for task, spec in data.items()
            if isinstance(spec, Mapping) and "temperature" in spec
        }
        if threshold is not None:
            return cls(temps, float(threshold))
        stored = ((manifest or {}).get("review") or {}).get("threshold", DEFAULT_REVIEW_THRESHOLD)
        if isinstance(stored, Mapping):
            return cls(temps, DEFAULT_REVIEW_THRESHOLD, {k: float(v) for k, v in stored.items()})
        return cls(temps, float(stored))

    def threshold_for(self, task: str) -> float:
        return float(self.thresholds.get(task, self.threshold))

    def calibrate(self, task: str, scores: Mapping[str, float]) -> Dict[str, float]:
        t = self.temperatures.get(task)
        return apply_temperature(scores, t) if t is not None else dict(scores)

    def reasons(
        self, task: str, scores: Mapping[str, float], model_label: str, rules_label: Optional[str]
    ) -> List[str]:
        """Why a result needs review (empty: it does not)."""
        out = []
        if max(scores.values()) < self.threshold_for(task):
            out.append(LOW_CONFIDENCE)
        if rules_label is not None and rules_label != model_label:
            out.append(DISAGREEMENT)
        return out
