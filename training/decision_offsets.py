"""Would per-label decision offsets help? A dev-only experiment (nothing here is shipped).

The SDK's label is the argmax of its calibrated scores. Adding a per-label offset b to the log-scores
before the argmax (prior shift: more `non_compliant`, fewer `missing_apology` …) is the usual way to trade
one label's precision for another's recall, and fitted on dev it always raises dev macro-F1. Whether it
*generalises* is the question, so it is measured by grouped 2-fold cross-validation on dev (by
conversation; three seeded splits): fit the offsets on one half by coordinate ascent on the selection
score (training.selection), score the other half with and without them.

    python -m training.decision_offsets [--model-dir models/default]
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

from training.evaluate import LABELS, REPO, load_split, sdk_outputs
from training.selection import selection_f1

GRID = np.round(np.arange(-1.5, 1.51, 0.1), 2)
SEEDS = (0, 1, 2)


def fit_offsets(logp: np.ndarray, records: Sequence[dict], labels: Sequence[str], rounds: int = 3) -> np.ndarray:
    """Offsets (the first label's fixed at 0) maximising the selection score, by coordinate ascent."""
    b = np.zeros(logp.shape[1])

    def score(offsets: np.ndarray) -> float:
        return selection_f1(records[0]["_task"], records, [labels[i] for i in (logp + offsets).argmax(1)])

    best = score(b)
    for _ in range(rounds):
        for k in range(1, len(b)):
            for v in GRID:
                trial = b.copy()
                trial[k] = v
                s = score(trial)
                if s > best + 1e-9:
                    best, b = s, trial
    return b


def fold_of(record: dict, index: int, seed: int) -> int:
    group = record.get("conv_id") or record.get("group") or str(index)
    return int(hashlib.sha1(f"{seed}|{group}".encode()).hexdigest(), 16) % 2


def cross_validate(task: str, scores: List[Dict[str, float]], records: List[dict]) -> dict:
    labels = list(LABELS[task])
    logp = np.log(np.clip(np.array([[s[k] for k in labels] for s in scores]), 1e-12, 1.0))
    records = [dict(r, _task=task) for r in records]
    gains: List[Tuple[float, float]] = []
    for seed in SEEDS:
        folds = np.array([fold_of(r, i, seed) for i, r in enumerate(records)])
        for f in (0, 1):
            train_idx, test_idx = np.nonzero(folds != f)[0], np.nonzero(folds == f)[0]
            b = fit_offsets(logp[train_idx], [records[i] for i in train_idx], labels)
            test = [records[i] for i in test_idx]
            plain = selection_f1(task, test, [labels[i] for i in logp[test_idx].argmax(1)])
            shifted = selection_f1(task, test, [labels[i] for i in (logp[test_idx] + b).argmax(1)])
            gains.append((plain, shifted))
    g = np.array(gains)
    full = fit_offsets(logp, records, labels)
    return {"folds": len(g), "held_out_selection_without": round(float(g[:, 0].mean()), 4),
            "held_out_selection_with": round(float(g[:, 1].mean()), 4),
            "mean_gain": round(float((g[:, 1] - g[:, 0]).mean()), 4),
            "worst_gain": round(float((g[:, 1] - g[:, 0]).min()), 4),
            "offsets_fitted_on_all_dev": dict(zip(labels, np.round(full, 2).tolist()))}


def main(argv=None) -> int:
    from sdk.engines.hybrid import HybridEngine
    from sdk.engines.onnx_engine import OnnxEngine
    from sdk.engines.rules_engine import RulesEngine

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", type=Path, default=REPO / "models" / "default")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    onnx = OnnxEngine(args.model_dir, threads=args.threads)
    rules = RulesEngine()
    hybrid = HybridEngine(onnx, rules)  # the manifest's policy, emotion weight and calibration
    report = {}
    for task in onnx.models:
        dev = load_split(task, "dev")
        combined = sdk_outputs(hybrid, onnx, rules, task, dev)[2]
        report[task] = cross_validate(task, [c.scores for c in combined], dev)
        print(task, json.dumps(report[task], ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
