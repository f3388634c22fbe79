"""The one dev score every choice is made on (checkpoints, ensemble weights, policies, calibration,
source weights): macro-F1 on the written dev records and on the real-conversation dev records,
averaged, so the smaller real part is not outvoted by the larger written one. Without real dev
records it is the plain dev macro-F1."""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np
from sklearn.metrics import f1_score

from training import schema


def dev_groups(records: Sequence[dict]) -> Dict[str, np.ndarray]:
    """Indices of written (no conv_id) and real-conversation records; empty groups left out."""
    real = np.array([bool(r.get("conv_id")) for r in records], dtype=bool)
    groups = {"written": np.nonzero(~real)[0], "real": np.nonzero(real)[0]}
    return {k: v for k, v in groups.items() if len(v)}


def group_f1(task: str, records: Sequence[dict], pred: Sequence[str]) -> Dict[str, float]:
    labels = list(schema.LABELS[task])
    gold = np.array([r["label"] for r in records])
    pred = np.asarray(pred)
    return {k: float(f1_score(gold[idx], pred[idx], labels=labels, average="macro", zero_division=0))
            for k, idx in dev_groups(records).items()}


def selection_f1(task: str, records: Sequence[dict], pred: Sequence[str]) -> float:
    parts = group_f1(task, records, pred)
    return float(np.mean(list(parts.values()))) if parts else 0.0
