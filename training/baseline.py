"""The permanent yardstick: character 1-3-gram TF-IDF + logistic regression.

    python -m training.baseline            # both tasks, writes training/reports/baseline.{json,md}
    python -m training.baseline --no-curve # skip the learning curve

Compliance is measured with two input encodings: one vectoriser over
"context [SEP] utterance" ("joined") and separate context / utterance vectorisers whose
features are concatenated ("separate"). Both are reported; the subsets, per-label table and
learning curve use the encoding that scores better on dev. Trains on the whole train split and
on subsets (permissive licences only, hand-written only, without real data, emotion: without
the label-mapped corpora) and scores dev and test (hand-written only); models trained without
the reviewed real turns are also scored on those turns.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_recall_fscore_support

from sdk.tasks import get_task
from training import schema
from training.dataset import load
from training.validate import REPO_ROOT

REPORT_DIR = REPO_ROOT / "training" / "reports"
CURVE = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
SEED = 13


def _vectoriser() -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1)


class Baseline:
    """TF-IDF + LR for one task; `encoding` is "text", "joined", "separate" or "dialogue3"
    (sdk.dialogue's normalised, role-marked form, as the SDK's n-gram member reads it)."""

    def __init__(self, task: str, encoding: str):
        self.task, self.encoding = task, encoding
        self.vecs: List[TfidfVectorizer] = []
        self.clf = LogisticRegression(max_iter=3000, class_weight="balanced", C=4.0, solver="saga", random_state=0)

    def _columns(self, recs: Sequence[dict]) -> List[List[str]]:
        # "dialogue3": the SDK's dialogue form (sdk.dialogue.ngram_rows); otherwise (text,) or (context or "", utterance)
        rows = get_task(self.task).columns(recs, "dialogue3" if self.encoding == "dialogue3" else "pair")
        if self.task == "compliance" and self.encoding == "joined":
            return [[f"{ctx} [SEP] {utt}" for ctx, utt in rows]]
        width = 3 if self.encoding == "dialogue3" and self.task == "compliance" else 2 if self.task == "compliance" else 1
        return [list(column) for column in zip(*rows)] if rows else [[] for _ in range(width)]

    def fit(self, recs: Sequence[dict]) -> "Baseline":
        cols = self._columns(recs)
        self.vecs = [_vectoriser() for _ in cols]
        X = hstack([v.fit_transform(c) for v, c in zip(self.vecs, cols)]).tocsr()
        self.clf.fit(X, [r["label"] for r in recs])
        return self

    def predict(self, recs: Sequence[dict]) -> List[str]:
        X = hstack([v.transform(c) for v, c in zip(self.vecs, self._columns(recs))]).tocsr()
        return list(self.clf.predict(X))


def scores(task: str, gold: Sequence[str], pred: Sequence[str]) -> dict:
    labels = list(schema.LABELS[task])
    p, r, f, n = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    return {
        "n": len(gold),
        "macro_f1": round(float(f1_score(gold, pred, labels=labels, average="macro", zero_division=0)), 4),
        "accuracy": round(float(np.mean([g == q for g, q in zip(gold, pred)])) if gold else 0.0, 4),
        "per_label": {lab: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                            "f1": round(float(f[i]), 4), "support": int(n[i])} for i, lab in enumerate(labels)},
    }


def evaluate(task: str, encoding: str, train: Sequence[dict], evals: Dict[str, Sequence[dict]]) -> dict:
    if len({r["label"] for r in train}) < 2:
        return {"skipped": "fewer than 2 labels in this training subset"}
    model = Baseline(task, encoding).fit(train)
    return {name: scores(task, [r["label"] for r in recs], model.predict(recs)) for name, recs in evals.items() if recs}


def learning_curve(task: str, encoding: str, train: Sequence[dict], dev: Sequence[dict]) -> List[dict]:
    rng = random.Random(SEED)
    order = list(train)
    rng.shuffle(order)
    out = []
    for frac in CURVE:
        sub = order[: max(len(schema.LABELS[task]) * 2, int(round(frac * len(order))))]
        if len({r["label"] for r in sub}) < 2:
            continue
        dev_scores = evaluate(task, encoding, sub, {"dev": dev})["dev"]
        out.append({"fraction": frac, "n_train": len(sub), "dev_macro_f1": dev_scores["macro_f1"]})
    return out


def real_turns_cv(task: str, encoding: str, train: Sequence[dict], folds: int = 5) -> dict:
    """Score the whole train split on the reviewed real turns by grouped k-fold: each fold of
    dialogues is predicted by a model trained on everything else."""
    def fold(r: dict) -> int:
        return int(hashlib.sha1(r.get("group", r["id"]).encode("utf-8")).hexdigest()[:8], 16) % folds
    real = [r for r in train if r["source"] in REVIEWED_REAL]
    if not real:
        return {}
    gold, pred = [], []
    for k in range(folds):
        held = [r for r in real if fold(r) == k]
        if not held:
            continue
        rest = [r for r in train if not (r["source"] in REVIEWED_REAL and fold(r) == k)]
        gold += [r["label"] for r in held]
        pred += Baseline(task, encoding).fit(rest).predict(held)
    return scores(task, gold, pred)


MAPPED_CORPORA = {"real:cped", "real:smp2020", "real:nlpcc2013"}  # mapped by label, not read
REVIEWED_REAL = {"real:jddc2019", "real:jddc2018", "real:csds", "real:stc3"}  # labelled by reading


def subsets(task: str, train: Sequence[dict]) -> Dict[str, List[dict]]:
    """Training subsets that show what each kind of data is worth."""
    out = {
        "permissive-licence train only": [r for r in train if r["license"] in schema.PERMISSIVE_LICENSES],
        "hand-written train only": [r for r in train if r["source"] == "handwritten"],
        "train without real data": [r for r in train if schema.source_kind(r["source"]) != "real"],
    }
    if task == "emotion":
        out["train without mapped corpora"] = [r for r in train if r["source"] not in MAPPED_CORPORA]
    return out


def run(tasks: Sequence[str], curve: bool = True) -> dict:
    report: dict = {"model": "char 1-3-gram TF-IDF (sublinear) + LogisticRegression(class_weight=balanced, C=4, saga)",
                    "tasks": {}}
    for task in tasks:
        t0 = time.time()
        train, dev, test = (load(task, s) for s in ("train", "dev", "test"))
        # Reviewed real turns sit in train; models trained without real data are also scored on
        # them, the only check on real (not hand-written) text.
        real_turns = [r for r in train if r["source"] in REVIEWED_REAL]
        encodings = ["joined", "separate"] if task == "compliance" else ["text"]
        result = {"n_train": len(train), "n_train_permissive": sum(r["license"] in schema.PERMISSIVE_LICENSES for r in train),
                  "n_real_turns": len(real_turns), "encodings": {}, "subsets": {}}
        for enc in encodings:
            result["encodings"][enc] = evaluate(task, enc, train, {"dev": dev, "test": test})
        best = max(encodings, key=lambda e: result["encodings"][e]["dev"]["macro_f1"])
        result["best_encoding"] = best
        for name, sub in subsets(task, train).items():
            evals = {"dev": dev, "test": test}
            has_real = any(r["source"] in REVIEWED_REAL for r in sub)
            if not has_real:
                evals["real_turns"] = real_turns
            result["subsets"][name] = dict(evaluate(task, best, sub, evals), n_train=len(sub))
            if has_real:
                result["subsets"][name]["real_turns"] = real_turns_cv(task, best, sub)
        result["real_turns_cv"] = real_turns_cv(task, best, train)
        if curve:
            result["learning_curve"] = learning_curve(task, best, train, dev)
        result["seconds"] = round(time.time() - t0, 1)
        report["tasks"][task] = result
    return report


def markdown(report: dict) -> str:
    lines = [f"Model: {report['model']}. Dev and test are hand-written only.", ""]
    for task, res in report["tasks"].items():
        best = res["best_encoding"]
        lines += [f"**{task}** (train {res['n_train']} records, of which {res['n_train_permissive']} permissive; "
                  f"encoding `{best}`)", ""]
        lines += ["| training data / encoding | n train | dev macro-F1 | test macro-F1 | test accuracy | "
                  f"macro-F1 on the {res['n_real_turns']} reviewed real turns (5-fold CV where trained on them) |", "| --- | --- | --- | --- | --- | --- |"]
        rows = [(f"all train, `{e}`", dict(r, n_train=res["n_train"])) for e, r in res["encodings"].items()]
        rows[[e for e in res["encodings"]].index(best)][1]["real_turns"] = res["real_turns_cv"]
        rows += list(res["subsets"].items())
        for name, r in rows:
            dev, test, real = r.get("dev", {}), r.get("test", {}), r.get("real_turns", {})
            lines.append(f"| {name} | {r['n_train']} | {dev.get('macro_f1', '–')} | {test.get('macro_f1', '–')} | "
                         f"{test.get('accuracy', '–')} | {real.get('macro_f1', '–')} |")
        lines += ["", "| label | dev P | dev R | dev F1 | test P | test R | test F1 | test support |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        enc = res["encodings"][best]
        for lab in schema.LABELS[task]:
            d = enc["dev"]["per_label"][lab] if "dev" in enc else {}
            t = enc["test"]["per_label"][lab] if "test" in enc else {}
            lines.append(f"| {lab} | {d.get('precision', '–')} | {d.get('recall', '–')} | {d.get('f1', '–')} | "
                         f"{t.get('precision', '–')} | {t.get('recall', '–')} | {t.get('f1', '–')} | {t.get('support', 0)} |")
        if res.get("learning_curve"):
            lines += ["", "Learning curve (dev macro-F1 by share of the train split):", "",
                      "| " + " | ".join(f"{int(p['fraction'] * 100)}% ({p['n_train']})" for p in res["learning_curve"]) + " |",
                      "|" + " --- |" * len(res["learning_curve"]),
                      "| " + " | ".join(str(p["dev_macro_f1"]) for p in res["learning_curve"]) + " |"]
        lines.append("")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=schema.TASKS, action="append", help="default: both")
    ap.add_argument("--no-curve", action="store_true")
    ap.add_argument("--out", type=Path, default=REPORT_DIR)
    args = ap.parse_args(argv)
    report = run(args.task or list(schema.TASKS), curve=not args.no_curve)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "baseline.json").write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    md = markdown(report)
    (args.out / "baseline.md").write_text(md, encoding="utf-8")
    print(md)
    if args.out == REPORT_DIR:
        from training.split import rewrite_readme_section
        rewrite_readme_section("baseline", md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
