"""Measure one encoder with two heads against the two separate task models.

    python -m training.multitask --layers 2 --epochs 15 --threads 2 \
        --teacher-compliance runs/compliance-long-3e-4 --teacher-emotion runs/emotion \
        --exclude-sources real:cped,real:smp2020,real:nlpcc2013 --compare runs/compliance-l2-final runs/emotion-l2-final

Issue 5 leaves the choice open ("two models, or one encoder with two heads,
whichever measures better"). This trains the shared variant under the same
settings as the shipped students (same base layers, class weighting, learning
rate, distillation) on both tasks' training data, batches of the two tasks
interleaved at random, and reports dev macro-F1 per task next to the separate
runs given with --compare. The checkpoint is chosen on the mean of the two dev
macro-F1s; test is never read. Writes training/reports/multitask.{json,md}.
Nothing here is shipped: the SDK serves whichever layout the report favours.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Dict, Sequence

import numpy as np

from sdk.engines.onnx_engine import length_batches
from training.settings import REPO, TrainSettings
from training.train import (LABELS, Batches, class_weights, load_records, load_tokenizer, macro_f1, optimizer_step,
                            quiet_transformers, set_seeds, task_loss, teacher_logits)

TASKS = ("compliance", "emotion")
REPORTS = REPO / "training" / "reports"


def build_shared(settings: TrainSettings):
    """The base's first ``layers`` layers with pooler, plus one linear head per task."""
    import torch
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(settings.base_model)
    if settings.layers is not None:
        config.num_hidden_layers = settings.layers

    class Shared(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = AutoModel.from_pretrained(settings.base_model, config=config, dtype=torch.float32)
            self.dropout = torch.nn.Dropout(config.hidden_dropout_prob)
            self.heads = torch.nn.ModuleDict({t: torch.nn.Linear(config.hidden_size, len(LABELS[t])) for t in TASKS})

        def forward(self, task, input_ids, attention_mask, token_type_ids):
            pooled = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).pooler_output
            return self.heads[task](self.dropout(pooled))

    torch.manual_seed(settings.seed)
    return Shared()


def predict(model, task: str, batches: Batches, device: str, batch_size: int = 64) -> np.ndarray:
    import torch

    model.eval()
    out = np.zeros((len(batches), len(LABELS[task])), dtype=np.float32)
    with torch.no_grad():
        for index in length_batches([len(r) for r in batches.ids], batch_size):
            ids, mask, types, _ = batches.tensors(index, device)
            out[index] = model(task, ids, mask, types).float().cpu().numpy()
    model.train()
    return out


def run(settings: Dict[str, TrainSettings], epochs: float, log=print) -> dict:
    import torch

    quiet_transformers()
    first = settings["compliance"]
    if first.threads:
        torch.set_num_threads(first.threads)
    set_seeds(first.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = load_tokenizer(first.base_model)
    model = build_shared(first).to(device)
    data, soft, loss_fns = {}, {}, {}
    for task in TASKS:
        s = settings[task]
        train_records = [r for r in load_records(task, "train", s)
                         if not r["source"].startswith(s.exclude_sources)] if s.exclude_sources else \
            load_records(task, "train", s)
        data[task] = {"train": Batches(tokenizer, task, train_records, s.max_len),
                      "dev": Batches(tokenizer, task, load_records(task, "dev", s), s.max_len)}
        weights = class_weights(data[task]["train"].labels, len(LABELS[task]), s.class_weighting)
        loss_fns[task] = torch.nn.CrossEntropyLoss(
            weight=torch.tensor(weights, dtype=torch.float32, device=device) if weights is not None else None)
        if s.teacher is not None:
            soft[task] = torch.from_numpy(teacher_logits(s, model.bert.config, data[task]["train"], device)).to(device)
        log(f"{task}: {len(data[task]['train'])} train / {len(data[task]['dev'])} dev; "
            f"teacher {s.teacher or 'none'}")

    optimizer = torch.optim.AdamW(model.parameters(), lr=first.learning_rate, weight_decay=first.weight_decay)
    rng = random.Random(first.seed)
    steps_per_epoch = sum(math.ceil(len(data[t]["train"]) / first.batch_size) for t in TASKS)
    total = max(1, math.ceil(steps_per_epoch * epochs))
    warmup = int(total * first.warmup_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (total - s) / max(1, total - warmup)))
    best, history, step, started = {"mean": -1.0}, [], 0, time.monotonic()
    model.train()
    while step < total:
        # One epoch: every batch of both tasks once, in random order (tasks mixed by their sizes).
        plan = [(t, b) for t in TASKS for b in data[t]["train"].epoch_order(first.batch_size, rng)]
        rng.shuffle(plan)
        for i, (task, index) in enumerate(plan):
            ids, mask, types, gold = data[task]["train"].tensors(index, device)
            logits = model(task, ids, mask, types).float()
            loss = task_loss(loss_fns[task], logits, gold, soft[task][index] if task in soft else None, settings[task])
            loss.backward()
            optimizer_step(model, optimizer, scheduler)
            step += 1
            if step % (steps_per_epoch // first.evals_per_epoch) == 0 or step == total:
                f1 = {t: round(macro_f1(data[t]["dev"].labels, predict(model, t, data[t]["dev"], device).argmax(-1),
                                        len(LABELS[t])), 4) for t in TASKS}
                entry = {"step": step, "epoch": round(step / steps_per_epoch, 2), **{f"dev_{t}": f1[t] for t in TASKS},
                         "minutes": round((time.monotonic() - started) / 60, 2)}
                history.append(entry)
                mean = sum(f1.values()) / len(f1)
                if mean > best["mean"]:
                    best = {"mean": round(mean, 4), **entry}
                log(f"  step {step}/{total} epoch {entry['epoch']} dev {f1} (best mean {best['mean']} @ {best['step']})")
            if step >= total:
                break
    return {"best": best, "history": history, "minutes": round((time.monotonic() - started) / 60, 2),
            "device": device, "settings": {t: settings[t].to_dict() for t in TASKS}}


def separate_runs(dirs: Sequence[Path]) -> Dict[str, dict]:
    out = {}
    for d in dirs:
        report = json.loads((Path(d) / "train_report.json").read_text(encoding="utf-8"))
        out[report["task"]] = {"run": Path(d).name, "dev_macro_f1": report["best"]["dev_macro_f1"],
                               "layers": (report.get("architecture") or {}).get("num_hidden_layers"),
                               "minutes": report["minutes"]}
    return out


def markdown(result: dict, separate: Dict[str, dict]) -> str:
    b = result["best"]
    lines = ["# One shared encoder with two heads vs two separate models", "",
             "Dev macro-F1 (PyTorch fp32), same base layers, settings and teachers. Produced by "
             "`python -m training.multitask` (command in its docstring).", "",
             "| layout | compliance dev | emotion dev | mean | training minutes |", "| --- | --- | --- | --- | --- |"]
    if set(separate) == set(TASKS):
        mean = (separate["compliance"]["dev_macro_f1"] + separate["emotion"]["dev_macro_f1"]) / 2
        lines.append(f"| two models (`{separate['compliance']['run']}`, `{separate['emotion']['run']}`) | "
                     f"{separate['compliance']['dev_macro_f1']} | {separate['emotion']['dev_macro_f1']} | {mean:.4f} | "
                     f"{separate['compliance']['minutes'] + separate['emotion']['minutes']:.2f} |")
    lines.append(f"| one encoder, two heads (checkpoint at step {b['step']}) | {b['dev_compliance']} | "
                 f"{b['dev_emotion']} | {b['mean']} | {result['minutes']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-model", type=Path)
    ap.add_argument("--layers", type=int)
    ap.add_argument("--epochs", type=float, default=15.0)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--teacher-compliance", type=Path)
    ap.add_argument("--teacher-emotion", type=Path)
    ap.add_argument("--exclude-sources", default="", help="emotion training sources to leave out (as training.train)")
    ap.add_argument("--data-dir", type=Path)
    ap.add_argument("--compare", type=Path, nargs="*", default=[], help="the separate run directories")
    ap.add_argument("--out", type=Path, default=REPORTS / "multitask")
    args = ap.parse_args(argv)
    exclude = tuple(s.strip() for s in args.exclude_sources.split(",") if s.strip())
    try:
        settings = {t: TrainSettings(task=t, out=args.out, base_model=args.base_model, layers=args.layers,
                                     epochs=args.epochs, threads=args.threads, seed=args.seed,
                                     data_dir=args.data_dir, teacher=getattr(args, f"teacher_{t}"),
                                     exclude_sources=exclude if t == "emotion" else ())
                    for t in TASKS}
        separate = separate_runs(args.compare)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = run(settings, args.epochs)
    result["separate"] = separate
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    text = markdown(result, separate)
    args.out.with_suffix(".md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
