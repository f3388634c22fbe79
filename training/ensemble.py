"""Add the character n-gram model to a shipped model directory as an ensemble
member, with the blend weight chosen on dev (never on test).

    python -m training.ensemble --model-dir models/default --exclude-sources real:cped,real:smp2020,real:nlpcc2013

For each task: fit the n-gram TF-IDF + LR on train (training.ngram), export it
beside the ONNX model, score dev with the int8 BERT (as the SDK runs it) and
with the n-gram model, and pick the weight w in p = (1 - w) * p_bert + w * p_ngram
that maximises dev macro-F1 (ties: the smaller w, i.e. more BERT). w = 0 keeps
BERT alone. The choice and the dev scores of both members and the blend go into
the manifest, whose hashes are refreshed.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from sdk.engines.ngram_engine import NgramModel
from sdk.engines.onnx_engine import OnnxEngine
from sdk.tasks import TASK_LABELS, get_task
from sdk.model_manifest import load_manifest, write_manifest
from training.dataset import load
from training.ngram import ENCODING, export, fit
from training.selection import selection_f1

LABELS = TASK_LABELS
WEIGHTS = [round(x, 2) for x in np.arange(0.0, 1.0001, 0.05)]


def columns(task: str, recs: Sequence[dict], encoding: str = ENCODING["compliance"]) -> List[tuple]:
    """The n-gram member's rows, built as the SDK builds them (sdk.dialogue.ngram_rows)."""
    return get_task(task).columns(recs, encoding)


def bert_proba(engine: OnnxEngine, task: str, recs: Sequence[dict]) -> np.ndarray:
    probs, _ = engine.model(task).predict_proba(*get_task(task).model_inputs(recs))
    return np.asarray(probs, dtype=np.float64)


def macro_f1(task: str, dev: Sequence[dict], probs: np.ndarray) -> float:
    """The selection score (training.selection: written and real dev macro-F1 averaged)."""
    return selection_f1(task, dev, [LABELS[task][i] for i in probs.argmax(1)])


def choose_weight(task: str, dev: Sequence[dict], p_bert: np.ndarray, p_ngram: np.ndarray) -> Dict:
    curve = {w: macro_f1(task, dev, (1 - w) * p_bert + w * p_ngram) for w in WEIGHTS}
    best = max(WEIGHTS, key=lambda w: (round(curve[w], 6), -w))
    return {"weight": best, "dev_macro_f1": {"bert": round(curve[0.0], 4), "ngram": round(curve[1.0], 4),
                                             "ensemble": round(curve[best], 4)},
            "dev_curve": {str(w): round(f, 4) for w, f in curve.items()}}


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", type=Path, default=Path("models/default"))
    p.add_argument("--tasks", nargs="+", default=["compliance", "emotion"])
    p.add_argument("--permissive-only", action="store_true")
    p.add_argument("--exclude-sources", default="",
                   help="comma-separated source prefixes left out of the n-gram training data "
                        "(e.g. real:cped,real:smp2020,real:nlpcc2013: the label-mapped Weibo/drama corpora)")
    args = p.parse_args(argv)

    manifest = load_manifest(args.model_dir)
    data = dict(manifest.data)
    data.pop("ensemble", None)
    for task in args.tasks:  # drop members from an earlier run so the BERT-only scores are clean
        for suffix in (".json", ".f16"):
            (args.model_dir / f"ngram_{task}{suffix}").unlink(missing_ok=True)
    write_manifest(args.model_dir, data)
    engine = OnnxEngine(args.model_dir, threads=2)
    ensemble = {}
    for task in args.tasks:
        excluded = tuple(x for x in args.exclude_sources.split(",") if x)
        train = [r for r in load(task, "train", permissive_only=args.permissive_only)
                 if not (excluded and r["source"].startswith(excluded))]
        model = fit(task, train)
        export(model, args.model_dir)
        ngram = NgramModel(args.model_dir / f"ngram_{task}")
        dev = load(task, "dev")
        choice = choose_weight(task, dev, bert_proba(engine, task, dev),
                               ngram.predict_proba_in(columns(task, dev, ENCODING[task]), LABELS[task]))
        ensemble[task] = {"member": f"ngram_{task}", "kind": "char 1-3-gram TF-IDF + logistic regression",
                          "encoding": ENCODING[task],
                          "train_records": len(train), "permissive_only": args.permissive_only,
                          "excluded_sources": list(excluded),
                          **choice}
        print(f"{task}: dev macro-F1 bert {choice['dev_macro_f1']['bert']:.4f}, ngram "
              f"{choice['dev_macro_f1']['ngram']:.4f}, blend w={choice['weight']:.2f} "
              f"{choice['dev_macro_f1']['ensemble']:.4f}")
    data["ensemble"] = ensemble
    write_manifest(args.model_dir, data)
    print(json.dumps({t: {k: v for k, v in e.items() if k != "dev_curve"} for t, e in ensemble.items()},
                     ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
