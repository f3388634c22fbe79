"""Evaluate the shipped model side by side with the baseline, the rules and the SDK's combined decision.

    python -m training.evaluate                                  # models/default on dev and test
    python -m training.evaluate --torch-compliance runs/compliance --torch-emotion runs/emotion \
        --compare-runs runs/compliance-random runs/emotion-random

For every task and split, on the same records: per-label precision / recall /
F1, macro-F1, accuracy, confusion matrix (text and PNG), expected calibration
error (15 equal-width bins over the top probability) for
- the fine-tuned model as shipped (int8 ONNX through the SDK's OnnxEngine),
- the same model in PyTorch fp32 (if its directory is given),
- the TF-IDF + logistic-regression baseline (training.baseline), fitted on train,
- the rules engine alone,
- the SDK's combined decision (HybridEngine) under every policy, on dev, to pick one.
Writes the metrics JSON + PNGs to --out-dir, the model card to <model-dir>/README.md
and the headline metrics into the manifest (whose hashes are refreshed).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from sdk.engines.base import CheckInput
from sdk.tasks import TASK_LABELS, get_task
from sdk.model_manifest import load_manifest, write_manifest

REPO = Path(__file__).resolve().parent.parent
LABELS = TASK_LABELS
ECE_BINS = 15


# ---------------------------------------------------------------- metrics

def expected_calibration_error(probs: np.ndarray, gold: np.ndarray, bins: int = ECE_BINS) -> float:
    """Top-label ECE: mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size."""
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == gold).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def metrics(task: str, gold: Sequence[str], pred: Sequence[str], probs: Optional[np.ndarray] = None) -> dict:
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    labels = list(LABELS[task])
    p, r, f, n = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    out = {
        "n": len(gold),
        "macro_f1": round(float(f1_score(gold, pred, labels=labels, average="macro", zero_division=0)), 4),
        "accuracy": round(float(np.mean([g == q for g, q in zip(gold, pred)])), 4),
        "per_label": {lab: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                            "f1": round(float(f[i]), 4), "support": int(n[i])} for i, lab in enumerate(labels)},
        "confusion": confusion_matrix(gold, pred, labels=labels).tolist(),
    }
    if probs is not None:
        out["ece"] = round(expected_calibration_error(probs, np.array([labels.index(g) for g in gold])), 4)
    return out


def confusion_text(task: str, matrix: List[List[int]]) -> str:
    labels = LABELS[task]
    width = max(len(label) for label in labels) + 2
    lines = ["gold \\ pred".ljust(width) + "".join(label[:14].rjust(16) for label in labels)]
    for label, row in zip(labels, matrix):
        lines.append(label.ljust(width) + "".join(str(v).rjust(16) for v in row))
    return "\n".join(lines)


def confusion_png(task: str, matrix: List[List[int]], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = LABELS[task]
    data = np.array(matrix)
    fig, ax = plt.subplots(figsize=(1.4 * len(labels) + 1.5, 1.2 * len(labels) + 1.2))
    ax.imshow(data, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title, fontsize=9)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, str(data[i, j]), ha="center", va="center",
                    color="white" if data[i, j] > data.max() / 2 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- systems

def gold_of(records: Sequence[dict]) -> List[str]:
    return [r["label"] for r in records]


def check_inputs(records: Sequence[dict]) -> List[CheckInput]:
    return [CheckInput(r["utterance"], r.get("context")) for r in records]


def run_engine(engine, task: str, records: Sequence[dict]):
    """(results, labels, probs) of an SDK engine."""
    if task == "compliance":
        results = engine.check_batch(check_inputs(records))
    else:
        results = engine.emotion_batch([r["text"] for r in records])
    probs = np.array([[res.scores[label] for label in LABELS[task]] for res in results])
    return results, [res.label for res in results], probs


def bert_only_proba(engine, task: str, records: Sequence[dict]) -> np.ndarray:
    return engine.model(task).predict_proba(*get_task(task).model_inputs(records))[0]


def baseline_system(task: str, train: Sequence[dict], dev: Sequence[dict]):
    """The TF-IDF baseline fitted on train, with the encoding that scores best on dev."""
    from scipy.sparse import hstack

    from training.baseline import Baseline

    encodings = ["joined", "separate", "dialogue3"] if task == "compliance" else ["text", "dialogue3"]
    fitted = {enc: Baseline(task, enc).fit(train) for enc in encodings}

    def f1_on_dev(model):
        from training.selection import selection_f1

        return selection_f1(task, dev, model.predict(dev))

    encoding = max(encodings, key=lambda e: f1_on_dev(fitted[e]))
    model = fitted[encoding]

    def predict(records):
        X = hstack([v.transform(c) for v, c in zip(model.vecs, model._columns(records))]).tocsr()
        raw = model.clf.predict_proba(X)
        order = [list(model.clf.classes_).index(label) if label in model.clf.classes_ else None
                 for label in LABELS[task]]
        probs = np.column_stack([raw[:, i] if i is not None else np.zeros(len(records)) for i in order])
        return [LABELS[task][i] for i in probs.argmax(1)], probs

    return encoding, predict


def torch_system(task: str, model_dir: Path, max_len: int):
    from training.export import load_torch_model, torch_logits
    from training.train import load_tokenizer
    from sdk.engines.onnx_engine import softmax

    from training.export import training_info

    model = load_torch_model(model_dir, task)
    tokenizer = load_tokenizer(model_dir)
    input_format = training_info(model_dir).get("settings", {}).get("input_format") or "raw"

    def predict(records):
        probs = softmax(torch_logits(model, tokenizer, task, records, max_len, input_format))
        return [LABELS[task][i] for i in probs.argmax(1)], probs

    return predict


def choose_policy(onnx, rules, dev: Sequence[dict]) -> str:
    """The policy with the best compliance dev macro-F1 (ties: the earlier, simpler one in POLICIES)."""
    from sdk.engines.hybrid import POLICIES

    model_results = run_engine(onnx, "compliance", dev)[0]
    rules_results = run_engine(rules, "compliance", dev)[0]
    scores = compare_policies(model_results, rules_results, gold_of(dev), rules, onnx, dev)
    order = list(POLICIES)
    return max(order, key=lambda p: (scores[p]["selection"], -order.index(p)))


def combine_compliance(hybrid, model_results, rules_results, records: Sequence[dict]) -> list:
    """The combined engine's verdicts from both engines' results on ``records`` (the utterance is
    needed for the apology veto)."""
    return [hybrid.combine(m, r, rec["utterance"]) for m, r, rec in zip(model_results, rules_results, records)]


def compare_policies(model_results, rules_results, gold: Sequence[str], rules_engine, onnx_engine,
                     records: Sequence[dict]) -> dict:
    """Macro-F1 and the selection score (training.selection) of every policy."""
    from sdk.engines.hybrid import POLICIES, HybridEngine
    from training.selection import selection_f1

    out = {}
    for policy in POLICIES:
        hybrid = HybridEngine(onnx_engine, rules_engine, policy=policy)
        combined = combine_compliance(hybrid, model_results, rules_results, records)
        labels = [c.label for c in combined]
        out[policy] = {"macro_f1": metrics("compliance", gold, labels)["macro_f1"],
                       "overridden": sum(c.engine == "rules" for c in combined)}
        out[policy]["selection"] = round(selection_f1("compliance", records, labels), 4)
    return out


# ---------------------------------------------------------------- main loop

SPLITS = ("train", "dev", "test", "blind", "real_blind")
VARIANT_SPLIT = "blind"  # the written blind set is also scored in traditional characters / unpunctuated


def load_split(task: str, split: str, data_dir: Optional[Path] = None) -> List[dict]:
    from training.dataset import load

    return load(task, split, data_dir=data_dir)


def by_source(task: str, records: Sequence[dict], pred: Sequence[str]) -> Dict[str, dict]:
    """Macro-F1 / accuracy per record source (written sources folded into "written"; all real
    conversations together as "real (all)"). Macro-F1 here averages the labels present in the
    source's gold or predictions: a small source lacks some labels, which would otherwise count as 0."""
    from sklearn.metrics import f1_score

    groups: Dict[str, List[int]] = {}
    for i, r in enumerate(records):
        real = r["source"].startswith("real:") and r.get("conv_id")
        groups.setdefault(r["source"] if real else "written", []).append(i)
        if real:
            groups.setdefault("real (all)", []).append(i)
    if len(groups) == 2 and "real (all)" in groups:
        groups.pop("real (all)")
    out = {}
    for src, idx in sorted(groups.items()):
        gold, got = [records[i]["label"] for i in idx], [pred[i] for i in idx]
        present = [lab for lab in LABELS[task] if lab in set(gold) | set(got)]
        out[src] = {"n": len(idx), "macro_f1": round(float(f1_score(gold, got, labels=present, average="macro",
                                                                    zero_division=0)), 4),
                    "accuracy": round(float(np.mean([g == q for g, q in zip(gold, got)])), 4)}
    return out


def review_stats(task: str, gold: Sequence[str], pred: Sequence[str], flags: Sequence[Sequence[str]]) -> dict:
    """How many results the review band flags, and how good the unflagged rest is."""
    flagged = np.array([bool(f) for f in flags])
    right = np.array([g == p for g, p in zip(gold, pred)])
    out = {"share_flagged": round(float(flagged.mean()), 4) if len(flagged) else 0.0,
           "reasons": {}, "accuracy_flagged": None, "accuracy_unflagged": None, "macro_f1_unflagged": None}
    for f in flags:
        for reason in f:
            out["reasons"][reason] = out["reasons"].get(reason, 0) + 1
    if flagged.any():
        out["accuracy_flagged"] = round(float(right[flagged].mean()), 4)
    if (~flagged).any():
        out["accuracy_unflagged"] = round(float(right[~flagged].mean()), 4)
        keep = np.nonzero(~flagged)[0]
        out["macro_f1_unflagged"] = metrics(task, [gold[i] for i in keep], [pred[i] for i in keep])["macro_f1"]
    return out


def distribution(task: str, labels: Sequence[str]) -> Dict[str, int]:
    return {lab: sum(1 for x in labels if x == lab) for lab in LABELS[task]}


EMOTION_WEIGHTS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)


def choose_emotion_weight(hybrid, onnx, rules, dev: Sequence[dict]) -> Dict[str, float]:
    """Set ``hybrid.emotion_model_weight`` to the weight with the best emotion dev selection score
    (ties: the larger, more model); returns the dev curve. Temperature scaling keeps the argmax, so
    this is chosen on raw scores before calibration is fitted."""
    from sdk.calibration import ReviewPolicy
    from training.selection import selection_f1

    model_results = run_engine(onnx, "emotion", dev)[0]
    rules_results = run_engine(rules, "emotion", dev)[0]
    kept, hybrid.review = hybrid.review, ReviewPolicy({}, 0.0)
    curve = {}
    for w in EMOTION_WEIGHTS:
        hybrid.emotion_model_weight = w
        labels = [hybrid._combine_emotion(m, r).label for m, r in zip(model_results, rules_results)]
        curve[str(w)] = round(selection_f1("emotion", dev, labels), 4)
    hybrid.review = kept
    hybrid.emotion_model_weight = max(EMOTION_WEIGHTS, key=lambda w: (curve[str(w)], w))
    return curve


def fit_calibration(hybrid, onnx, rules, dev: Dict[str, List[dict]], log=print) -> dict:
    """Temperatures and review thresholds fitted on dev (training.calibrate), applied to ``hybrid``."""
    from sdk.calibration import ReviewPolicy
    from training import calibrate

    hybrid.review = ReviewPolicy({}, 0.0)  # raw scores, nothing flagged, while fitting
    temps, raw = {}, {}
    for task, records in dev.items():
        model_results = run_engine(onnx, task, records)[0]
        rules_results = run_engine(rules, task, records)[0]
        if task == "compliance":
            combined = combine_compliance(hybrid, model_results, rules_results, records)
            disagree = [m.label != r.label for m, r in zip(model_results, rules_results)]
        else:
            combined = [hybrid._combine_emotion(m, r) for m, r in zip(model_results, rules_results)]
            disagree = [bool(r.cues) and r.label != m.label for m, r in zip(model_results, rules_results)]
        raw[task] = ([c.scores for c in combined], disagree)
        temps[task] = calibrate.temperature(LABELS[task], raw[task][0], gold_of(records))
    review = {}
    for task, records in dev.items():
        scores, disagree = raw[task]
        review[task] = calibrate.review_threshold(records, calibrate.calibrated(scores, temps[task]), disagree)
        log(f"{task}: temperature {temps[task]} (dev NLL), review threshold {review[task]['threshold']} "
            f"(flags {review[task]['dev_share_flagged']:.1%} of {review[task]['measured_on']})")
    hybrid.review = ReviewPolicy(temps, thresholds={t: r["threshold"] for t, r in review.items()})
    return {"calibration": {t: {"method": "temperature", "temperature": v, "fitted_on": "dev"} for t, v in temps.items()},
            "review": {"threshold": {t: r["threshold"] for t, r in review.items()},
                       "fitted": review, "rule": f"highest threshold flagging <= {calibrate.REVIEW_BUDGET:.0%} of dev"}}


def sdk_outputs(hybrid, onnx, rules, task: str, records: Sequence[dict]):
    """(model results, rules results, combined results, raw-score combined) on ``records``."""
    from sdk.calibration import ReviewPolicy

    model_results = run_engine(onnx, task, records)[0]
    rules_results = run_engine(rules, task, records)[0]
    calibrated_review = hybrid.review
    hybrid.review = ReviewPolicy({}, 0.0)
    try:
        if task == "compliance":
            raw = combine_compliance(hybrid, model_results, rules_results, records)
        else:
            raw = [hybrid._combine_emotion(m, r) for m, r in zip(model_results, rules_results)]
    finally:
        hybrid.review = calibrated_review
    if task == "compliance":
        combined = combine_compliance(hybrid, model_results, rules_results, records)
    else:
        combined = [hybrid._combine_emotion(m, r) for m, r in zip(model_results, rules_results)]
    return model_results, rules_results, combined, raw


def flags_of(result) -> List[str]:
    return list(getattr(result, "review", None) or getattr(result, "review_reasons", None) or [])


def evaluate(model_dir: Path, splits: Sequence[str], out_dir: Path, torch_dirs: Dict[str, Path],
             data_dir: Optional[Path] = None, threads: Optional[int] = None, log=print,
             variants: Sequence[str] = ("traditional", "unpunctuated")) -> dict:
    from sdk.engines.hybrid import HybridEngine
    from sdk.engines.onnx_engine import OnnxEngine
    from sdk.engines.rules_engine import RulesEngine
    from training.perturb import perturb

    out_dir.mkdir(parents=True, exist_ok=True)
    onnx = OnnxEngine(model_dir, threads=threads)
    rules = RulesEngine()
    dev = {task: load_split(task, "dev", data_dir) for task in onnx.models}
    policy = choose_policy(onnx, rules, dev["compliance"]) if "compliance" in onnx.models else None
    hybrid = HybridEngine(onnx, rules, policy=policy)
    log(f"combination policy chosen on compliance dev: {hybrid.policy}")
    report: dict = {"model_dir": str(model_dir), "policy": hybrid.policy, "tasks": {}}
    if "emotion" in onnx.models:
        curve = choose_emotion_weight(hybrid, onnx, rules, dev["emotion"])
        report["emotion_model_weight"] = hybrid.emotion_model_weight
        report["emotion_weight_dev_curve"] = curve
        log(f"emotion: model weight against the rules' lexicon chosen on dev: {hybrid.emotion_model_weight} {curve}")
    report.update(fit_calibration(hybrid, onnx, rules, dev, log))
    for task in onnx.models:
        train = load_split(task, "train", data_dir)
        data = {split: (dev[task] if split == "dev" else load_split(task, split, data_dir)) for split in splits}
        if VARIANT_SPLIT in data:
            for v in variants:
                data[f"{VARIANT_SPLIT}+{v}"] = perturb(data[VARIANT_SPLIT], v)
        t0 = time.monotonic()
        encoding, baseline = baseline_system(task, train, dev[task])
        log(f"{task}: baseline fitted ({encoding}) in {time.monotonic() - t0:.1f}s")
        torch_predict = (torch_system(task, torch_dirs[task], onnx.models[task].max_len)
                         if task in torch_dirs else None)
        task_report: dict = {"baseline_encoding": encoding, "splits": {}}
        for split, records in data.items():
            gold = gold_of(records)
            systems = {}
            t0 = time.monotonic()
            bert_probs = bert_only_proba(onnx, task, records)
            systems["model_int8"] = metrics(task, gold, [LABELS[task][i] for i in bert_probs.argmax(1)], bert_probs)
            systems["model_int8"]["seconds"] = round(time.monotonic() - t0, 2)
            model_results, rules_results, combined, raw = sdk_outputs(hybrid, onnx, rules, task, records)
            if task in onnx.ensemble:  # the SDK's model engine: the BERT head blended with the n-gram member
                probs = np.array([[res.scores[label] for label in LABELS[task]] for res in model_results])
                systems["bert_ngram_ensemble"] = metrics(task, gold, [res.label for res in model_results], probs)
            if torch_predict and "+" not in split:
                systems["model_torch_fp32"] = metrics(task, gold, *torch_predict(records))
            if "+" not in split:
                systems["tfidf_baseline"] = metrics(task, gold, *baseline(records))
            probs = np.array([[res.scores[label] for label in LABELS[task]] for res in rules_results])
            systems["rules"] = metrics(task, gold, [res.label for res in rules_results], probs)
            if task == "compliance" and "+" not in split:
                task_report.setdefault("policies", {})[split] = compare_policies(
                    model_results, rules_results, gold, rules, onnx, records)
            pred = [c.label for c in combined]
            probs = np.array([[c.scores[label] for label in LABELS[task]] for c in combined])
            raw_probs = np.array([[c.scores[label] for label in LABELS[task]] for c in raw])
            shipped = metrics(task, gold, pred, probs)
            shipped["ece_uncalibrated"] = metrics(task, gold, pred, raw_probs)["ece"]
            shipped["decided_by_rules"] = sum(c.engine == "rules" for c in combined)
            shipped["by_source"] = by_source(task, records, pred)
            shipped["distribution"] = {"gold": distribution(task, gold), "predicted": distribution(task, pred)}
            shipped["review"] = review_stats(task, gold, pred, [flags_of(c) for c in combined])
            systems["sdk_combined"] = shipped
            if "+" not in split:
                for name, m in systems.items():
                    confusion_png(task, m["confusion"], f"{task} {split}: {name} (macro-F1 {m['macro_f1']})",
                                  out_dir / f"confusion_{task}_{split}_{name}.png")
            task_report["splits"][split] = systems
            log(f"{task} {split}: " + ", ".join(f"{k} {v['macro_f1']}" for k, v in systems.items()))
        report["tasks"][task] = task_report
    (out_dir / "metrics.json").write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return report


def run_summaries(dirs: Sequence[Path]) -> List[dict]:
    """Dev macro-F1 of training runs (e.g. pretrained vs random init) from their train_report.json."""
    out = []
    for d in dirs:
        report = json.loads((Path(d) / "train_report.json").read_text(encoding="utf-8"))
        out.append({"run": Path(d).name, "task": report["task"], "init": report["settings"]["init"],
                    "dev_macro_f1": report["best"]["dev_macro_f1"], "minutes": report["minutes"],
                    "steps": report["history"][-1]["step"] if report["history"] else 0,
                    "max_len": report["settings"]["max_len"], "stop_reason": report["stop_reason"],
                    "lr": report["settings"]["learning_rate"], "budget": report["settings"]["max_minutes"],
                    "layers": (report.get("architecture") or report.get("base_model") or {}).get("num_hidden_layers"),
                    "teacher": Path(report["settings"]["teacher"]).name if report["settings"].get("teacher") else None})
    return out


# ---------------------------------------------------------------- model card

SPLIT_ORDER = ["real_blind", "blind", "blind+traditional", "blind+unpunctuated", "test", "dev", "train"]
SPLIT_NAMES = {
    "real_blind": "real blind (real conversations, twice-read labels, never used for any choice)",
    "blind": "written blind (data/heldout: a fifth writer)",
    "blind+traditional": "written blind in traditional characters",
    "blind+unpunctuated": "written blind without punctuation (ASR-like)",
    "test": "written test", "dev": "dev (written + real conversations)", "train": "train",
}
SYSTEM_NAMES = {"model_int8": "fine-tuned BERT, int8 ONNX (shipped)", "model_torch_fp32": "same BERT, PyTorch fp32",
                "bert_ngram_ensemble": "BERT int8 + n-gram member (the SDK's model engine)",
                "tfidf_baseline": "TF-IDF + LR baseline", "rules": "rules engine alone"}
# training.train's flag for each recorded setting (manifest tasks.<task>.training.settings).
TRAIN_FLAGS = (("init", "--init"), ("layers", "--layers"), ("max_len", "--max-len"), ("batch_size", "--batch-size"),
               ("learning_rate", "--lr"), ("weight_decay", "--weight-decay"), ("warmup_ratio", "--warmup-ratio"),
               ("epochs", "--epochs"), ("max_minutes", "--max-minutes"), ("class_weighting", "--class-weighting"),
               ("seed", "--seed"), ("input_format", "--input-format"), ("unpunctuated_share", "--unpunctuated-share"),
               ("train_limit", "--train-limit"))
TEACHER_FLAGS = (("teacher", "--teacher"), ("distill_alpha", "--distill-alpha"), ("temperature", "--temperature"))


def train_command(task: str, settings: dict) -> str:
    """The training.train call that reproduces a shipped model from the settings its manifest records."""
    flags = [f"--task {task}"]
    for key, flag in TRAIN_FLAGS + (TEACHER_FLAGS if settings.get("teacher") else ()):
        if settings.get(key) not in (None, ""):
            flags.append(f"{flag} {settings[key]}")
    if settings.get("permissive_only"):
        flags.append("--permissive-only")
    if settings.get("exclude_sources"):
        flags.append("--exclude-sources " + ",".join(settings["exclude_sources"]))
    flags += [f"--source-weight {prefix}={weight}" for prefix, weight in settings.get("source_weights") or []]
    return f"python -m training.train {' '.join(flags)} --out runs/{task}"


def reproduce(manifest: dict) -> List[str]:
    """The commands that rebuild the shipped models, from what the manifest records (the card states them)."""
    trained = {t: m.get("training", {}).get("settings") for t, m in manifest.get("tasks", {}).items()}
    lines = ["python -m training.real_conv extract                      # real conversations with roles",
             "python -m training.real_labels import --labels DIR --batch N  # readers' labels, kappa, split",
             "python -m training.split --report                         # written + real train/dev (real blind stays out)"]
    for task, settings in trained.items():
        if settings:
            if settings.get("teacher"):
                lines.append(f"# {settings['teacher']}: a 6-layer model of the same task, trained the same way without "
                             "--layers/--teacher")
            lines.append(train_command(task, settings))
    version = manifest.get("version", "0.0.0")
    excluded = sorted({s for m in manifest.get("ensemble", {}).values() for s in m.get("excluded_sources", [])})
    lines += [f"python -m training.export --compliance runs/compliance --emotion runs/emotion --out models/default "
              f"--version {version}",
              "python -m training.ensemble --model-dir models/default"
              + (f" --exclude-sources {','.join(excluded)}" if excluded else ""),
              "python -m training.evaluate --splits real_blind,blind,test,dev   # policy, calibration and review "
              "threshold on dev; this card"]
    return lines


def _ordered(splits):
    return [s for s in SPLIT_ORDER if s in splits] + [s for s in splits if s not in SPLIT_ORDER]


def _table(header, rows):
    return ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)] + \
        ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def model_card(report: dict, manifest: dict, runs: List[dict]) -> str:
    tasks = report["tasks"]
    names = dict(SYSTEM_NAMES, sdk_combined=f"SDK as shipped (model + rules, policy `{report['policy']}`, calibrated)")
    base = manifest.get("base_model") or {}
    lines = [
        "# Default models: compliance and emotion (int8 ONNX)", "",
        "Two sequence classifiers fine-tuned from the project's Chinese BERT base and served by ONNX Runtime "
        "through `sdk.engines.onnx_engine.OnnxEngine` (no torch at run time), each with a character n-gram "
        "member, combined with the rules and calibrated. Labels and their meaning: `LABELS.md`; the label order "
        "of each head is in `manifest.json`.", "",
    ]
    lines += _table(["task", "input", "labels", "max_len", "file", "size"], [
        (task, ("the dialogue before the utterance (role-marked turns, oldest first, cut from the oldest) + the "
                "utterance" if spec.get("input_format") == "dialogue/1" and spec["inputs"] == "pair" else
                "(context, utterance) pair" if spec["inputs"] == "pair" else "customer text")
         + (", normalised (simplified, no punctuation but ?/!)" if spec.get("input_format") == "dialogue/1" else ""),
         ", ".join(spec["labels"]), spec["max_len"], f"`{spec['file']}`", f"{spec.get('bytes', 0) / 1e6:.1f} MB")
        for task, spec in manifest["tasks"].items()])
    # --- at a glance
    lines += ["", "## Quality at a glance", "",
              "Macro-F1 of the SDK as shipped (`sdk.check` / `sdk.emotion`: model + n-gram member + rules, "
              "calibrated), real conversations first. Real blind: turns of real JD.com / Taobao / Weibo / "
              "China Mobile conversations labelled by two independent readers and adjudicated (see "
              "`data/README.md`), kept out of every choice.", ""]
    all_splits = _ordered({s for t in tasks.values() for s in t["splits"]})
    rows = []
    for split in all_splits:
        row = [SPLIT_NAMES.get(split, split)]
        for task in ("compliance", "emotion"):
            m = tasks.get(task, {}).get("splits", {}).get(split, {}).get("sdk_combined")
            row += [f"{m['macro_f1']} ({m['n']})" if m else "–"]
        rows.append(row)
    lines += _table(["set", "compliance macro-F1 (n)", "emotion macro-F1 (n)"], rows)
    # --- training
    lines += ["", "## Base model and training", ""]
    if base:
        lines.append(f"- Base: `{base.get('name')}` ({base.get('num_hidden_layers')} layers x "
                     f"{base.get('hidden_size')} hidden, {base.get('num_attention_heads')} heads, vocabulary "
                     f"{base.get('vocab_size')}, bert-base-chinese WordPiece), pretrained by this project.")
    for task, spec in manifest["tasks"].items():
        training = spec.get("training") or {}
        settings, best = training.get("settings", {}), training.get("best", {})
        if not settings:
            continue
        arch = training.get("architecture") or {}
        how = (f", distilled from {settings.get('teacher')} (alpha {settings.get('distill_alpha')}, "
               f"T {settings.get('temperature')})") if settings.get("teacher") else ""
        layers = f"a {arch.get('num_hidden_layers', settings.get('layers'))}-layer model{how}; " if settings.get("layers") else ""
        weights = ", ".join(f"{k} x{v}" for k, v in (settings.get("source_weights") or []))
        lines.append(f"- {task}: {layers}input `{settings.get('input_format', 'raw')}`; "
                     f"{training.get('records', {}).get('train', '?')} training records"
                     f"{' (source weights ' + weights + ')' if weights else ''}, lr {settings.get('learning_rate')}, "
                     f"batch {settings.get('batch_size')}, {settings.get('epochs')} epochs max, class weighting "
                     f"`{settings.get('class_weighting')}`, seed {settings.get('seed')}; checkpoint chosen on dev "
                     f"(mean of written and real macro-F1: {best.get('dev_macro_f1')} at step {best.get('step')}); "
                     f"{training.get('minutes')} min on {training.get('device')}.")
    for task, spec in manifest["tasks"].items():
        sources = (spec.get("training") or {}).get("data_sources") or []
        if sources:
            lines += ["", f"{task} training data (source, licence, records after weighting):", ""]
            lines += _table(["source", "licence", "records"], [(d["source"], d["license"], d["records"]) for d in sources])
    restricted = sorted({d["license"] for d in manifest.get("training_data", [])} - {"Apache-2.0", "MIT", "CC-BY-4.0"})
    if restricted:
        lines += ["", f"Some training text carries non-permissive licences ({', '.join(restricted)}); check before "
                      "redistributing these weights commercially, or retrain with `python -m training.train "
                      "--permissive-only`."]
    # --- export and ensemble
    lines += ["", "## Export", "",
              f"ONNX opset {manifest.get('opset')}, ONNX Runtime transformer fusion (SkipLayerNormalization left "
              "unfused: its CPU kernel is slower), dynamic int8 quantisation. Parity gate against PyTorch on the "
              "test split (>= 99% same labels, <= 1 point macro-F1 drop):", ""]
    lines += _table(["task", "embeddings", "agreement", "macro-F1 torch", "macro-F1 int8", "max logit diff"], [
        (task, "int8" if spec["quantization"]["quantize_embeddings"] else "fp32", f"{p['agreement']:.2%}",
         p["macro_f1_torch"], p["macro_f1_int8"], p["max_abs_logit_diff"])
        for task, spec in manifest["tasks"].items()
        for p in [spec.get("parity", {}).get("int8_vs_torch", {})] if p])
    if manifest.get("ensemble"):
        lines += ["", "## Ensemble member", "",
                  "`python -m training.ensemble` adds a character 1-3-gram TF-IDF + logistic-regression member "
                  "(numpy inference, no pickle) reading the same dialogue in three columns (earlier turns, turns "
                  "since the agent last spoke, the utterance) and picks w in p = (1 - w) p_bert + w p_ngram on dev.", ""]
        lines += _table(["task", "member", "encoding", "train records", "w", "dev BERT", "dev n-gram", "dev blend"], [
            (task, f"`{m.get('member')}`", m.get("encoding", "pair"), m.get("train_records"), m.get("weight"),
             m.get("dev_macro_f1", {}).get("bert"), m.get("dev_macro_f1", {}).get("ngram"),
             m.get("dev_macro_f1", {}).get("ensemble")) for task, m in manifest["ensemble"].items()])
    # --- calibration and review
    if report.get("calibration"):
        lines += ["", "## Calibration and the review band", "",
                  "Scores are temperature-scaled (T fitted on dev by negative log-likelihood; `sdk.calibration`). A "
                  "result says `needs_review` when its calibrated top score is below the threshold (a setting: "
                  "`sdk.Checker(review_threshold=...)`; default the value below, chosen on dev as the highest "
                  f"threshold that flags at most {report['review']['fitted'][next(iter(report['review']['fitted']))]['budget']:.0%} "
                  "of the real dev turns) or when model and rules disagree.", ""]
        rows = []
        for task, tr in tasks.items():
            cal = report["calibration"].get(task, {})
            thr = report["review"]["threshold"].get(task)
            for split in _ordered(tr["splits"]):
                m = tr["splits"][split]["sdk_combined"]
                rv = m.get("review", {})
                rows.append((task, SPLIT_NAMES.get(split, split).split(" (")[0], cal.get("temperature"), thr,
                             m.get("ece_uncalibrated"), m.get("ece"), f"{rv.get('share_flagged', 0):.1%}",
                             rv.get("accuracy_unflagged"), rv.get("macro_f1_unflagged"), rv.get("accuracy_flagged"),
                             m.get("accuracy")))
        lines += _table(["task", "set", "T", "threshold", "ECE before", "ECE after", "flagged", "accuracy of the rest",
                         "macro-F1 of the rest", "accuracy of flagged", "accuracy of all"], rows)
    # --- per task
    for task, tr in tasks.items():
        lines += ["", f"## {task}: evaluation", ""]
        for split in _ordered(tr["splits"]):
            systems = tr["splits"][split]
            shipped = systems["sdk_combined"]
            lines += [f"**{SPLIT_NAMES.get(split, split)}** ({shipped['n']} records)", ""]
            lines += _table(["system", "macro-F1", "accuracy", "ECE"],
                            [(names.get(n, n), m["macro_f1"], m["accuracy"], m.get("ece", "–")) for n, m in systems.items()])
            if "+" in split:
                lines.append("")
                continue
            if len(shipped.get("by_source", {})) > 1 or split == "real_blind":
                lines += ["", "By source (SDK as shipped):", ""]
                lines += _table(["source", "n", "macro-F1", "accuracy"],
                                [(s, v["n"], v["macro_f1"], v["accuracy"]) for s, v in shipped["by_source"].items()])
            dist = shipped.get("distribution", {})
            lines += ["", "Per label (SDK as shipped) and the predicted vs gold distribution:", ""]
            lines += _table(["label", "precision", "recall", "F1", "gold", "predicted"],
                            [(lab, v["precision"], v["recall"], v["f1"], dist.get("gold", {}).get(lab, v["support"]),
                              dist.get("predicted", {}).get(lab, "–")) for lab, v in shipped["per_label"].items()])
            lines += ["", "Confusion matrix (SDK as shipped; rows gold, columns predicted):", "", "```",
                      confusion_text(task, shipped["confusion"]), "```", ""]
        if tr.get("policies"):
            cols = _ordered(tr["policies"])
            lines += ["How model and rules combine (macro-F1; `overridden` = results where the rules' label replaced "
                      "the model's; the policy is chosen on dev):", ""]
            policies = next(iter(tr["policies"].values()))
            lines += _table(["policy"] + [SPLIT_NAMES.get(s, s).split(" (")[0] for s in cols],
                            [[f"`{p}`"] + [f"{tr['policies'][s][p]['macro_f1']} ({tr['policies'][s][p]['overridden']})"
                                           for s in cols] for p in policies])
    if runs:
        lines += ["", "## Training runs compared", "", "Best dev score of each run (dev selection score):", ""]
        lines += _table(["run", "task", "layers", "init", "teacher", "lr", "budget (min)", "dev", "steps", "minutes",
                         "max_len"],
                        [(f"`{r['run']}`", r["task"], r.get("layers"), r["init"], r.get("teacher") or "–", r.get("lr"),
                          r.get("budget") or "–", r["dev_macro_f1"], r["steps"], r["minutes"], r["max_len"]) for r in runs])
    lines += ["", "## Intended use and limits", "",
              "- Quality assurance of Chinese customer-service agent turns (compliance, judged in their conversation) "
              "and customer turns (emotion), offline, as a reviewer's aid: every result carries the rules' findings "
              "and a `needs_review` flag.",
              "- Real data is text chat (JD.com, Taobao, Weibo) and a few China Mobile call transcripts; phone-only "
              "situations rest on the written data. The real labels follow `LABELS.md` and the conventions in "
              "`data/README.md`; a team with other conventions should label a sample "
              "(`python -m training.active_learning`) and retrain.",
              "- Inputs longer than max_len tokens are truncated (the oldest context first) and the result says so.",
              "", "## Reproduce", "", "```"] + reproduce(manifest) + ["```"]
    return "\n".join(lines) + "\n"


def update_model_dir(model_dir: Path, report: dict, runs: List[dict]) -> None:
    """Model card + headline metrics into the manifest (hashes refreshed)."""
    manifest = load_manifest(model_dir).data
    for task, task_report in report["tasks"].items():
        manifest["tasks"][task]["metrics"] = {
            split: {name: {k: m[k] for k in ("n", "macro_f1", "accuracy", "ece", "by_source") if k in m}
                    for name, m in systems.items()}
            for split, systems in task_report["splits"].items()}
    manifest["combine_policy"] = report["policy"]
    if "emotion_model_weight" in report:
        manifest["emotion_model_weight"] = report["emotion_model_weight"]
    for key in ("calibration", "review"):  # fitted on dev; the SDK applies them (sdk.calibration)
        if report.get(key):
            manifest[key] = report[key]
    if runs:
        manifest["pretraining_comparison"] = runs
    manifest.pop("files", None)
    (model_dir / "README.md").write_text(model_card(report, manifest, runs), encoding="utf-8")
    write_manifest(model_dir, manifest)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", type=Path, default=REPO / "models" / "default")
    ap.add_argument("--splits", default="dev,test",
                    help="comma-separated: dev, test, train, blind (data/heldout), real_blind (data/real_conv); "
                         "blind is also scored in traditional characters and unpunctuated")
    ap.add_argument("--out-dir", type=Path, default=REPO / "build" / "eval", help="metrics.json and PNGs")
    ap.add_argument("--torch-compliance", type=Path, help="PyTorch run dir, to score fp32 side by side")
    ap.add_argument("--torch-emotion", type=Path)
    ap.add_argument("--compare-runs", type=Path, nargs="*", default=[],
                    help="training run dirs (e.g. pretrained and random init) to list in the model card")
    ap.add_argument("--data-dir", type=Path)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--no-card", action="store_true", help="do not write README.md / update the manifest")
    args = ap.parse_args(argv)
    splits = [s for s in args.splits.split(",") if s]
    bad = [s for s in splits if s not in SPLITS]
    if bad:
        ap.error(f"unknown split(s) {bad}; expected some of {', '.join(SPLITS)} (blind: data/heldout; "
                 "real_blind: data/real_conv/*_blind.jsonl)")
    torch_dirs = {t: d for t, d in (("compliance", args.torch_compliance), ("emotion", args.torch_emotion)) if d}
    report = evaluate(args.model_dir, splits, args.out_dir, torch_dirs, args.data_dir, args.threads)
    runs = run_summaries(args.compare_runs)
    report["pretraining_comparison"] = runs
    (args.out_dir / "metrics.json").write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n",
                                               encoding="utf-8")
    for task, task_report in report["tasks"].items():
        for split, systems in task_report["splits"].items():
            print(f"\n{task} / {split}")
            for name, m in systems.items():
                print(f"  {name:18s} macro-F1 {m['macro_f1']:.4f}  acc {m['accuracy']:.4f}  ECE {m.get('ece', '-')}")
            print(confusion_text(task, systems["sdk_combined"]["confusion"]))
        for split, policies in task_report.get("policies", {}).items():
            print(f"  policies on {split}: " + ", ".join(f"{p} {v['macro_f1']}" for p, v in policies.items()))
    if not args.no_card:
        update_model_dir(args.model_dir, report, runs)
        print(f"wrote {args.model_dir / 'README.md'} and refreshed {args.model_dir / 'manifest.json'}")
    print(f"metrics: {args.out_dir / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
