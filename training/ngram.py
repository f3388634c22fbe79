"""Fit the character n-gram model on train and export it for the SDK (no pickle).

    python -m training.ngram --out models/default   # ngram_{compliance,emotion}.{json,f16}

It is the TF-IDF + LR baseline (training.baseline), kept as an ensemble member
beside the fine-tuned BERT: the ensemble weight is chosen on dev by
training.ensemble, never on test.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import List, Optional, Sequence

from sdk.engines.ngram_engine import save
from training.baseline import Baseline
from training.dataset import load

ENCODING = {"compliance": "dialogue3", "emotion": "dialogue3"}  # sdk.dialogue.ngram_rows


def export(model: Baseline, out_dir: Path) -> List[Path]:
    """Write the fitted vectorisers and classifier in the SDK's no-pickle format."""
    for vec in model.vecs:
        if not (vec.analyzer == "char" and vec.sublinear_tf and vec.norm == "l2" and vec.lowercase):
            raise ValueError(f"the SDK reproduces char/sublinear/l2/lowercase TF-IDF only, got {vec}")
    vocabs = [sorted(v.vocabulary_, key=v.vocabulary_.get) for v in model.vecs]
    out_dir.mkdir(parents=True, exist_ok=True)
    return save(out_dir / f"ngram_{model.task}", list(model.clf.classes_), model.vecs[0].ngram_range, vocabs,
                [v.idf_ for v in model.vecs], model.clf.coef_, model.clf.intercept_)


def fit(task: str, train: Optional[Sequence[dict]] = None) -> Baseline:
    return Baseline(task, ENCODING[task]).fit(train if train is not None else load(task, "train"))


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("models/default"))
    p.add_argument("--tasks", nargs="+", default=["compliance", "emotion"])
    p.add_argument("--permissive-only", action="store_true", help="train only on permissively licensed records")
    args = p.parse_args(argv)
    for task in args.tasks:
        model = fit(task, load(task, "train", permissive_only=args.permissive_only))
        paths = export(model, args.out)
        print(f"{task}: {sum(len(v.vocabulary_) for v in model.vecs)} n-grams -> "
              + ", ".join(f"{p} ({p.stat().st_size / 1e6:.1f} MB)" for p in paths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
