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

    encodings = ["joined", "separate"] if task == "compliance" else ["text"]
    fitted = {enc: Baseline(task, enc).fit(train) for enc in encodings}

    def f1_on_dev(model):
        return metrics(task, gold_of(dev), model.predict(dev))["macro_f1"]

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
    scores = compare_policies(model_results, rules_results, gold_of(dev), rules, onnx)
    order = list(POLICIES)
    return max(order, key=lambda p: (scores[p]["macro_f1"], -order.index(p)))


def compare_policies(model_results, rules_results, gold: Sequence[str], rules_engine, onnx_engine) -> dict:
    from sdk.engines.hybrid import POLICIES, HybridEngine

    out = {}
    for policy in POLICIES:
        hybrid = HybridEngine(onnx_engine, rules_engine, policy=policy)
        combined = [hybrid.combine(m, r) for m, r in zip(model_results, rules_results)]
        labels = [c.label for c in combined]
        out[policy] = {"macro_f1": metrics("compliance", gold, labels)["macro_f1"],
                       "overridden": sum(c.engine == "rules" for c in combined)}
    return out


# ---------------------------------------------------------------- main loop

def evaluate(model_dir: Path, splits: Sequence[str], out_dir: Path, torch_dirs: Dict[str, Path],
             data_dir: Optional[Path] = None, threads: Optional[int] = None, log=print) -> dict:
    from sdk.engines.hybrid import HybridEngine
    from sdk.engines.onnx_engine import OnnxEngine
    from sdk.engines.rules_engine import RulesEngine
    from training.dataset import load

    out_dir.mkdir(parents=True, exist_ok=True)
    onnx = OnnxEngine(model_dir, threads=threads)
    rules = RulesEngine()
    policy = choose_policy(onnx, rules, load("compliance", "dev", data_dir=data_dir)) \
        if "compliance" in onnx.models else None
    hybrid = HybridEngine(onnx, rules, policy=policy)
    log(f"combination policy chosen on compliance dev: {hybrid.policy}")
    report: dict = {"model_dir": str(model_dir), "policy": hybrid.policy, "tasks": {}}
    for task in onnx.models:
        train = load(task, "train", data_dir=data_dir)
        data = {split: load(task, split, data_dir=data_dir) for split in splits}
        dev = data.get("dev") or load(task, "dev", data_dir=data_dir)
        t0 = time.monotonic()
        encoding, baseline = baseline_system(task, train, dev)
        log(f"{task}: baseline fitted ({encoding}) in {time.monotonic() - t0:.1f}s")
        torch_predict = (torch_system(task, torch_dirs[task], onnx.models[task].max_len)
                         if task in torch_dirs else None)
        task_report = {"baseline_encoding": encoding, "splits": {}}
        for split, records in data.items():
            gold = gold_of(records)
            systems = {}
            t0 = time.monotonic()
            bert_probs = bert_only_proba(onnx, task, records)
            systems["model_int8"] = metrics(task, gold, [LABELS[task][i] for i in bert_probs.argmax(1)], bert_probs)
            systems["model_int8"]["seconds"] = round(time.monotonic() - t0, 2)
            # What the SDK's model engine returns: the BERT head, blended with the n-gram member if any.
            model_results, labels, probs = run_engine(onnx, task, records)
            if task in onnx.ensemble:
                systems["bert_ngram_ensemble"] = metrics(task, gold, labels, probs)
            if torch_predict:
                systems["model_torch_fp32"] = metrics(task, gold, *torch_predict(records))
            systems["tfidf_baseline"] = metrics(task, gold, *baseline(records))
            rules_results, labels, probs = run_engine(rules, task, records)
            systems["rules"] = metrics(task, gold, labels, probs)
            if task == "compliance":
                combined = [hybrid.combine(m, r) for m, r in zip(model_results, rules_results)]
                task_report.setdefault("policies", {})[split] = compare_policies(
                    model_results, rules_results, gold, rules, onnx)
            else:
                combined = hybrid.emotion_batch([r["text"] for r in records])
            probs = np.array([[c.scores[label] for label in LABELS[task]] for c in combined])
            systems["sdk_combined"] = metrics(task, gold, [c.label for c in combined], probs)
            systems["sdk_combined"]["decided_by_rules"] = sum(c.engine == "rules" for c in combined)
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

def model_card(report: dict, manifest: dict, runs: List[dict]) -> str:
    names = {"model_int8": "fine-tuned BERT, int8 ONNX (shipped)", "model_torch_fp32": "same BERT, PyTorch fp32",
             "bert_ngram_ensemble": "BERT int8 + n-gram ensemble member (the SDK's model engine)",
             "tfidf_baseline": "TF-IDF + LR baseline", "rules": "rules engine alone",
             "sdk_combined": f"SDK combined (model + rules, policy `{report['policy']}`)"}
    base = manifest.get("base_model") or {}
    lines = [
        "# Default models: compliance and emotion (int8 ONNX)",
        "",
        "Two sequence classifiers fine-tuned from the project's Chinese BERT base and served by ONNX Runtime "
        "through `sdk.engines.onnx_engine.OnnxEngine` (no torch at run time). Labels and their meaning: "
        "`LABELS.md`; the label order of each head is in `manifest.json`.",
        "",
        "| task | input | labels | max_len | file | size |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for task, spec in manifest["tasks"].items():
        lines.append(f"| {task} | {'(context, utterance) pair' if spec['inputs'] == 'pair' else 'customer text'} | "
                     f"{', '.join(spec['labels'])} | {spec['max_len']} | `{spec['file']}` | "
                     f"{spec.get('bytes', 0) / 1e6:.1f} MB |")
    lines += ["", "## Base model and training", ""]
    if base:
        lines.append(f"- Base: `{base.get('name')}` ({base.get('num_hidden_layers')} layers x "
                     f"{base.get('hidden_size')} hidden, {base.get('num_attention_heads')} heads, vocabulary "
                     f"{base.get('vocab_size')}, bert-base-chinese WordPiece), pretrained by this project.")
    for task, spec in manifest["tasks"].items():
        training = spec.get("training") or {}
        settings, best = training.get("settings", {}), training.get("best", {})
        if settings.get("layers"):
            arch = training.get("architecture") or {}
            how = (f", distilled from the fine-tuned {settings.get('teacher')} (alpha {settings.get('distill_alpha')}, "
                   f"T {settings.get('temperature')})") if settings.get("teacher") else ""
            lines.append(f"- {task}: a {arch.get('num_hidden_layers', settings['layers'])}-layer student: the base's "
                         f"first {settings['layers']} layers{how}.")
        if settings:
            lines.append(f"- {task}: {training.get('records', {}).get('train', '?')} training records, "
                         f"lr {settings.get('learning_rate')}, batch {settings.get('batch_size')}, "
                         f"{settings.get('epochs')} epochs max"
                         f"{', budget %s min' % settings['max_minutes'] if settings.get('max_minutes') else ''}, "
                         f"class weighting `{settings.get('class_weighting')}`, seed {settings.get('seed')}; "
                         f"checkpoint chosen on dev macro-F1 ({best.get('dev_macro_f1')} at step "
                         f"{best.get('step')}); {training.get('minutes')} min on {training.get('device')}.")
    for task, spec in manifest["tasks"].items():
        sources = (spec.get("training") or {}).get("data_sources") or []
        if not sources:
            continue
        lines += ["", f"{task} training data (source, licence, records):", "", "| source | licence | records |",
                  "| --- | --- | --- |"]
        lines += [f"| {d['source']} | {d['license']} | {d['records']} |" for d in sources]
    restricted = sorted({d["license"] for d in manifest.get("training_data", [])} - {"Apache-2.0", "MIT", "CC-BY-4.0"})
    if restricted:
        lines += ["", f"Some training text carries non-permissive licences ({', '.join(restricted)}); "
                      "check before redistributing these weights commercially, or retrain with "
                      "`python -m training.train --permissive-only`."]
    lines += ["", "## Export", "",
              f"ONNX opset {manifest.get('opset')}, ONNX Runtime transformer fusion (attention, embedding layer "
              "norm, bias GELU; SkipLayerNormalization left unfused because its CPU kernel is slower), dynamic int8 "
              "quantisation "
              "(`quantize_dynamic`, int8 weights, uint8 activations). Parity gate against PyTorch on the test "
              "split (>= 99% same labels, <= 1 point macro-F1 drop):", "",
              "| task | embeddings | agreement | macro-F1 torch | macro-F1 int8 | max logit diff |",
              "| --- | --- | --- | --- | --- | --- |"]
    for task, spec in manifest["tasks"].items():
        parity = spec.get("parity", {}).get("int8_vs_torch", {})
        if parity:
            lines.append(f"| {task} | {'int8' if spec['quantization']['quantize_embeddings'] else 'fp32'} | "
                         f"{parity['agreement']:.2%} | {parity['macro_f1_torch']} | {parity['macro_f1_int8']} | "
                         f"{parity['max_abs_logit_diff']} |")
    if manifest.get("ensemble"):
        lines += ["", "## Ensemble member", "",
                  "`python -m training.ensemble` adds a character 1-3-gram TF-IDF + logistic-regression member "
                  "(numpy inference, no pickle) and picks the weight w of p = (1 - w) p_bert + w p_ngram on dev; "
                  "`OnnxEngine` applies it.", "",
                  "| task | member | train records | w | dev macro-F1 BERT | n-gram | blend |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for task, member in manifest["ensemble"].items():
            f1 = member.get("dev_macro_f1", {})
            lines.append(f"| {task} | `{member.get('member')}` | {member.get('train_records')} | {member.get('weight')} | "
                         f"{f1.get('bert')} | {f1.get('ngram')} | {f1.get('ensemble')} |")
    for task, task_report in report["tasks"].items():
        lines += ["", f"## {task}: evaluation", ""]
        for split, systems in task_report["splits"].items():
            lines += [f"**{split}** ({systems['model_int8']['n']} records)", "",
                      "| system | macro-F1 | accuracy | ECE |", "| --- | --- | --- | --- |"]
            for name, m in systems.items():
                lines.append(f"| {names.get(name, name)} | {m['macro_f1']} | {m['accuracy']} | {m.get('ece', '–')} |")
            shipped = systems["sdk_combined"]
            lines += ["", "Per label (SDK combined):", "", "| label | precision | recall | F1 | support |",
                      "| --- | --- | --- | --- | --- |"]
            lines += [f"| {lab} | {v['precision']} | {v['recall']} | {v['f1']} | {v['support']} |"
                      for lab, v in shipped["per_label"].items()]
            lines += ["", "Confusion matrix (SDK combined; rows gold, columns predicted):", "", "```",
                      confusion_text(task, shipped["confusion"]), "```", ""]
        if task_report.get("policies"):
            lines += ["How model and rules combine (macro-F1; `overridden` = results where the rules' label "
                      "replaced the model's):", "", "| policy | " + " | ".join(task_report["policies"]) + " |",
                      "| --- |" + " --- |" * len(task_report["policies"])]
            policies = next(iter(task_report["policies"].values()))
            for policy in policies:
                cells = [f"{task_report['policies'][s][policy]['macro_f1']} "
                         f"({task_report['policies'][s][policy]['overridden']})" for s in task_report["policies"]]
                lines.append(f"| `{policy}` | " + " | ".join(cells) + " |")
    if runs:
        lines += ["", "## Training runs compared", "",
                  "Pretrained base vs random initialisation (same 4-layer architecture and settings), and the "
                  "2-layer students with and without distillation (best dev macro-F1):", "",
                  "| run | task | layers | init | teacher | lr | budget (min) | dev macro-F1 | steps | minutes | max_len |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        lines += [f"| `{r['run']}` | {r['task']} | {r.get('layers')} | {r['init']} | {r.get('teacher') or '–'} | "
                  f"{r.get('lr')} | {r.get('budget') or '–'} | {r['dev_macro_f1']} | {r['steps']} | {r['minutes']} | "
                  f"{r['max_len']} |" for r in runs]
    lines += ["", "## Intended use and limits", "",
              "- Quality assurance of Chinese call-centre agent turns (compliance) and customer turns (emotion), "
              "offline, as a reviewer's aid: every result carries the rules' findings as explanations.",
              "- Dev and test are hand-written by the project; real calls differ (ASR errors, dialect, long "
              "turns). Inputs longer than max_len tokens are truncated and the result says so.",
              "- Calibration: see ECE above; scores are softmax probabilities, not guarantees.",
              "", "## Reproduce", "", "```",
              "B=models/base/csqa-bert-small; X=real:cped,real:smp2020,real:nlpcc2013",
              "# 4-layer teachers (D=build/data_snapshot: the splits as of the teachers' training)",
              "python -m training.train --task compliance --base-model $B --data-dir $D --out runs/compliance-long-3e-4 "
              "--max-minutes 20 --epochs 15 --threads 1",
              "python -m training.train --task emotion --base-model $B --data-dir $D --out runs/emotion "
              "--max-minutes 6 --epochs 15 --max-len 64 --threads 1 --exclude-sources $X",
              "python -m training.train ... --init random --out runs/<task>-random   # the pretraining comparison",
              "# the shipped 2-layer students, distilled from the teachers",
              "python -m training.train --task compliance --layers 2 --epochs 15 --threads 2 "
              "--teacher runs/compliance-long-3e-4 --out runs/compliance-l2-final",
              "python -m training.train --task emotion --layers 2 --epochs 15 --threads 2 --exclude-sources $X "
              "--teacher runs/emotion --out runs/emotion-l2-final",
              "python -m training.export --compliance runs/compliance-l2-final --emotion runs/emotion-l2-final "
              "--out models/default --keep-fp32 build/onnx_fp32",
              "python -m training.ensemble --model-dir models/default --exclude-sources $X",
              "python -m training.evaluate --splits dev,test,blind --torch-compliance runs/compliance-l2-final "
              "--torch-emotion runs/emotion-l2-final --compare-runs runs/compliance-long-3e-4 runs/emotion "
              "runs/compliance-random runs/emotion-random runs/compliance-l2 runs/compliance-l2-kd runs/emotion-l2 "
              "runs/emotion-l2-kd",
              "python benchmarks/bench_models.py --torch-compliance runs/compliance-l2-final "
              "--torch-emotion runs/emotion-l2-final --write benchmarks/RESULTS.md", "```"]
    return "\n".join(lines) + "\n"


def update_model_dir(model_dir: Path, report: dict, runs: List[dict]) -> None:
    """Model card + headline metrics into the manifest (hashes refreshed)."""
    manifest = load_manifest(model_dir).data
    for task, task_report in report["tasks"].items():
        manifest["tasks"][task]["metrics"] = {
            split: {name: {k: m[k] for k in ("n", "macro_f1", "accuracy", "ece") if k in m}
                    for name, m in systems.items()}
            for split, systems in task_report["splits"].items()}
    manifest["combine_policy"] = report["policy"]
    if runs:
        manifest["pretraining_comparison"] = runs
    manifest.pop("files", None)
    (model_dir / "README.md").write_text(model_card(report, manifest, runs), encoding="utf-8")
    write_manifest(model_dir, manifest)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", type=Path, default=REPO / "models" / "default")
    ap.add_argument("--splits", default="dev,test", help="comma-separated: dev, test, train, blind (data/heldout)")
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
    bad = [s for s in splits if s not in ("train", "dev", "test", "blind")]
    if bad:
        ap.error(f"unknown split(s) {bad}; expected dev, test, train or blind (data/heldout)")
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
