"""Fine-tune a BERT checkpoint into a compliance or emotion classifier.

    python -m training.train --task compliance --out runs/compliance [--base-model models/base/NAME]
    python -m training.train --task emotion --out runs/emotion --max-minutes 12
    python -m training.train --task compliance --init random --out runs/compliance-random   # no pretraining
    python -m training.train --task compliance --layers 2 --teacher runs/compliance --out runs/compliance-l2
        # a 2-layer student (the base's first 2 layers) distilled from a fine-tuned 4-layer teacher

Compliance reads the pair (context or "", utterance); emotion reads one text.
Data comes from data/splits via training.dataset (validated first; invalid
data is refused). The checkpoint with the best dev macro-F1 is kept; the test
split is never looked at here. Writes model.safetensors + config.json (with
id2label in sdk.labels order) + tokenizer.json + train_report.json.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from sdk.engines.onnx_engine import encode, length_batches, pad_batch
from sdk.tasks import TASK_LABELS, get_task
from training.selection import dev_groups
from training.settings import TrainSettings

LABELS = TASK_LABELS
REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- data

def load_records(task: str, split: str, settings: TrainSettings) -> List[dict]:
    from training.dataset import load

    records = load(task, split, permissive_only=settings.permissive_only, data_dir=settings.data_dir)
    if not records:
        raise ValueError(f"the {task} {split} split is empty; nothing to train or select on")
    return records


def record_inputs(task: str, records: Sequence[dict]):
    """(texts, contexts or None, label ids) in the form sdk's encoder takes."""
    spec = get_task(task)
    texts, contexts = spec.model_inputs(records)
    return texts, contexts, np.array(spec.label_ids(records), dtype=np.int64)


def data_sources(records: Sequence[dict]) -> List[dict]:
    """Which sources (and their licences) a model was trained on, for the manifest."""
    counts = Counter((r.get("source"), r.get("license")) for r in records)
    return [{"source": s, "license": lic, "records": n} for (s, lic), n in sorted(counts.items())]


def class_weights(label_ids: np.ndarray, n_labels: int, how: str) -> Optional[np.ndarray]:
    """Inverse-frequency weights (mean 1 over the training set); labels absent from train get 1."""
    if how == "none":
        return None
    counts = np.bincount(label_ids, minlength=n_labels).astype(np.float64)
    present = counts > 0
    weights = np.ones(n_labels)
    weights[present] = counts[present].sum() / (present.sum() * counts[present])
    if how == "sqrt":
        weights = np.sqrt(weights)
    return weights / (weights * counts).sum() * counts.sum()


# ---------------------------------------------------------------- model

def load_tokenizer(base_model: Path):
    """tokenizer.json of the base model, or the one training.tokenizer builds from its vocab.txt (lower-cased,
    as bert-base-chinese; the same JSON as the shipped bases' tokenizer.json)."""
    from tokenizers import Tokenizer

    from training.tokenizer import build_tokenizer

    if (base_model / "tokenizer.json").is_file():
        tokenizer = Tokenizer.from_file(str(base_model / "tokenizer.json"))
    elif (base_model / "vocab.txt").is_file():
        tokenizer = build_tokenizer(base_model / "vocab.txt").backend_tokenizer
    else:
        raise FileNotFoundError(f"base model {base_model} has neither tokenizer.json nor vocab.txt")
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def quiet_transformers() -> None:
    """Silence transformers' per-load reports and progress bars (the head is new on purpose)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def build_model(settings: TrainSettings, labels: Sequence[str]):
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    id2label = {i: label for i, label in enumerate(labels)}
    label2id = {label: i for i, label in id2label.items()}
    config = AutoConfig.from_pretrained(settings.base_model, num_labels=len(labels), id2label=id2label,
                                        label2id=label2id)
    if config.model_type != "bert":
        raise ValueError(f"base model {settings.base_model} is a {config.model_type!r} model; the export and "
                         "the SDK's encoder expect a BERT (model_type 'bert') checkpoint")
    if settings.layers is not None:
        if settings.layers > config.num_hidden_layers:
            raise ValueError(f"layers {settings.layers} exceeds the base model's {config.num_hidden_layers} "
                             f"encoder layers ({settings.base_model})")
        config.num_hidden_layers = settings.layers  # from_pretrained then loads only the first N layers
    if settings.max_len > config.max_position_embeddings:
        raise ValueError(f"max_len {settings.max_len} exceeds the base model's max_position_embeddings "
                         f"{config.max_position_embeddings}")
    torch.manual_seed(settings.seed)
    if settings.init == "random":
        return AutoModelForSequenceClassification.from_config(config, dtype=torch.float32)
    # The base may store fp16 weights; fine-tune in fp32 whatever the checkpoint's dtype.
    return AutoModelForSequenceClassification.from_pretrained(settings.base_model, config=config,
                                                              dtype=torch.float32)


def teacher_logits(settings: TrainSettings, student_config, train_set: "Batches", device: str) -> np.ndarray:
    """The teacher's logits on the training inputs (the student's own encoding), computed once."""
    import torch
    from transformers import AutoModelForSequenceClassification

    teacher = AutoModelForSequenceClassification.from_pretrained(settings.teacher, dtype=torch.float32)
    labels = [teacher.config.id2label[i] for i in range(teacher.config.num_labels)]
    if labels != list(LABELS[settings.task]):
        raise ValueError(f"teacher {settings.teacher} is not a {settings.task} model: its labels are {labels}, "
                         f"expected {list(LABELS[settings.task])}")
    if teacher.config.vocab_size != student_config.vocab_size:
        raise ValueError(f"teacher {settings.teacher} has vocab_size {teacher.config.vocab_size}, the base model "
                         f"{student_config.vocab_size}; distillation needs the same tokenizer")
    return predict_logits(teacher.to(device), train_set, settings.eval_batch_size, device)


def distill_loss(logits, soft_logits, temperature: float):
    """T^2-scaled KL(teacher || student) on temperature-softened distributions (Hinton et al., 2015)."""
    import torch.nn.functional as F

    t = temperature
    return F.kl_div(F.log_softmax(logits / t, -1), F.log_softmax(soft_logits / t, -1), log_target=True,
                    reduction="batchmean") * t * t


def task_loss(loss_fn, logits, gold, soft_logits, settings: TrainSettings):
    """Cross-entropy on the gold labels, blended with the teacher's soft labels where there are any."""
    loss = loss_fn(logits, gold)
    if soft_logits is None:
        return loss
    alpha = settings.distill_alpha
    return (1 - alpha) * loss + alpha * distill_loss(logits, soft_logits, settings.temperature)


def optimizer_step(model, optimizer, scheduler) -> None:
    import torch

    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


def pick_device(setting: str) -> str:
    import torch

    if setting == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA device")
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return setting


def set_seeds(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def weighted(records: Sequence[dict], weights: Sequence, seed: int) -> List[dict]:
    """Records of a weighted source repeated: weight 2.5 = every record twice, half of them a third
    time (a seeded draw); weight 0 drops the source. The first matching prefix wins."""
    if not weights:
        return list(records)
    rng = random.Random(seed)
    out: List[dict] = []
    for r in records:
        w = next((w for prefix, w in weights if r["source"].startswith(prefix)), 1.0)
        out.extend([r] * (int(w) + (1 if rng.random() < w - int(w) else 0)))
    return out


class Batches:
    """Encoded inputs, served as padded torch batches of similar length."""

    def __init__(self, tokenizer, task: str, records: Sequence[dict], max_len: int, input_format: str = "raw"):
        from sdk.dialogue import model_inputs

        texts, contexts, self.labels = record_inputs(task, records)
        texts, contexts = model_inputs(texts, contexts, input_format)
        encoded = encode(tokenizer, texts, contexts, max_len)
        self.ids, self.type_ids = encoded.ids, encoded.type_ids
        self.truncated = sum(1 for n in encoded.notes if n)
        self.pad_id = tokenizer.token_to_id("[PAD]")

    def __len__(self) -> int:
        return len(self.ids)

    def tensors(self, index: Sequence[int], device: str):
        import torch

        ids, mask, types = pad_batch([self.ids[i] for i in index], [self.type_ids[i] for i in index], self.pad_id)
        return (torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device),
                torch.from_numpy(types).to(device), torch.from_numpy(self.labels[list(index)]).to(device))

    def epoch_order(self, batch_size: int, rng: random.Random) -> List[List[int]]:
        # Shuffle, then sort within chunks of 50 batches by length: random batches, little padding.
        order = list(range(len(self.ids)))
        rng.shuffle(order)
        chunk = batch_size * 50
        batches = []
        for start in range(0, len(order), chunk):
            part = sorted(order[start:start + chunk], key=lambda i: len(self.ids[i]))
            batches.extend(part[i:i + batch_size] for i in range(0, len(part), batch_size))
        rng.shuffle(batches)
        return batches


def predict_logits(model, batches: Batches, batch_size: int, device: str) -> np.ndarray:
    import torch

    model.eval()
    out = np.zeros((len(batches), model.config.num_labels), dtype=np.float32)
    with torch.no_grad():
        for index in length_batches([len(r) for r in batches.ids], batch_size):
            ids, mask, types, _ = batches.tensors(index, device)
            out[index] = model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits.float().cpu().numpy()
    return out


def macro_f1(gold: np.ndarray, pred: np.ndarray, n_labels: int) -> float:
    """Macro-F1 over every label of the task (absent labels count as 0 only if predicted)."""
    from sklearn.metrics import f1_score

    present = sorted(set(gold.tolist()) | set(pred.tolist()))
    return float(f1_score(gold, pred, labels=present, average="macro", zero_division=0))


# ---------------------------------------------------------------- training

def train(settings: TrainSettings, log=print) -> dict:
    import torch

    quiet_transformers()
    started = time.monotonic()
    deadline = started + settings.max_minutes * 60 if settings.max_minutes else math.inf
    if settings.threads:
        torch.set_num_threads(settings.threads)
    set_seeds(settings.seed)
    device = pick_device(settings.device)
    labels = LABELS[settings.task]

    train_records = load_records(settings.task, "train", settings)
    if settings.exclude_sources:
        kept = [r for r in train_records if not r["source"].startswith(settings.exclude_sources)]
        log(f"excluding sources {', '.join(settings.exclude_sources)}: {len(train_records) - len(kept)} "
            f"training records dropped, {len(kept)} kept")
        if not kept:
            raise ValueError(f"no training records left after excluding {settings.exclude_sources}")
        train_records = kept
    if settings.train_limit:
        train_records = train_records[:settings.train_limit]
    if settings.source_weights:
        n = len(train_records)
        train_records = weighted(train_records, settings.source_weights, settings.seed)
        log(f"source weights {dict(settings.source_weights)}: {n} training records -> {len(train_records)}")
    if settings.unpunctuated_share:
        from training.perturb import with_variant

        extra = with_variant(train_records, "unpunctuated", settings.unpunctuated_share, settings.seed)
        log(f"unpunctuated copies of {settings.unpunctuated_share:.0%} of the training records: +{len(extra)}")
        train_records = train_records + extra
    dev_records = load_records(settings.task, "dev", settings)
    tokenizer = load_tokenizer(settings.base_model)
    train_set = Batches(tokenizer, settings.task, train_records, settings.max_len, settings.input_format)
    dev_set = Batches(tokenizer, settings.task, dev_records, settings.max_len, settings.input_format)
    dev_index = dev_groups(dev_records)
    log(f"{settings.task}: {len(train_set)} train / {len(dev_set)} dev records "
        f"({train_set.truncated} train inputs truncated to max_len={settings.max_len}); device={device}")

    model = build_model(settings, labels).to(device)
    soft = None
    if settings.teacher is not None:
        t0 = time.monotonic()
        soft = torch.from_numpy(teacher_logits(settings, model.config, train_set, device)).to(device)
        agree = float((soft.argmax(-1).cpu().numpy() == train_set.labels).mean())
        log(f"teacher {settings.teacher}: logits on {len(train_set)} train records in "
            f"{time.monotonic() - t0:.1f}s (agrees with gold on {agree:.3f}); alpha={settings.distill_alpha} "
            f"T={settings.temperature}")
    weights = class_weights(train_set.labels, len(labels), settings.class_weighting)
    loss_fn = torch.nn.CrossEntropyLoss(
        weight=torch.tensor(weights, dtype=torch.float32, device=device) if weights is not None else None)
    no_decay = ("bias", "LayerNorm.weight", "LayerNorm.bias")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)],
         "weight_decay": settings.weight_decay},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)], "weight_decay": 0.0},
    ]
    try:  # the fused kernel is ~10x faster than the per-tensor loop over the 21k-row embedding table
        optimizer = torch.optim.AdamW(groups, lr=settings.learning_rate, fused=True)
    except (RuntimeError, TypeError):
        optimizer = torch.optim.AdamW(groups, lr=settings.learning_rate)
    steps_per_epoch = math.ceil(len(train_set) / settings.batch_size)
    # Linear warmup then linear decay to 0 at plan["total"]; with a time budget the plan is shortened
    # at each evaluation to the steps that fit, so the learning rate still decays before time runs out.
    plan = {"total": max(1, math.ceil(steps_per_epoch * settings.epochs))}
    plan["warmup"] = int(plan["total"] * settings.warmup_ratio)

    def lr_factor(s: int) -> float:
        if s < plan["warmup"]:
            return (s + 1) / plan["warmup"]
        return max(0.0, (plan["total"] - s) / max(1, plan["total"] - plan["warmup"]))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    eval_every = max(1, steps_per_epoch // settings.evals_per_epoch)

    rng = random.Random(settings.seed)
    best = {"dev_macro_f1": -1.0, "step": 0, "epoch": 0.0}
    best_state: Optional[Dict] = None
    history = []
    step, stop_reason = 0, "epochs done"
    last_eval_seconds, train_seconds = 0.0, 0.0

    def replan():
        if deadline == math.inf or step == 0:
            return
        per_step = train_seconds / step + last_eval_seconds / eval_every
        fits = step + int((deadline - time.monotonic() - last_eval_seconds) / per_step)
        if fits < plan["total"]:
            plan["total"] = max(fits, step + 1, plan["warmup"] + 1)
            log(f"  time budget: plan shortened to {plan['total']} steps ({plan['total'] / steps_per_epoch:.2f} epochs)")

    def evaluate_dev():
        nonlocal best_state, last_eval_seconds
        t0 = time.monotonic()
        pred = predict_logits(model, dev_set, settings.eval_batch_size, device).argmax(-1)
        # checkpoints are chosen on the mean of written and real dev macro-F1 (training.selection)
        parts = {k: macro_f1(dev_set.labels[idx], pred[idx], len(labels)) for k, idx in dev_index.items()}
        f1 = float(np.mean(list(parts.values())))
        accuracy = float((pred == dev_set.labels).mean())
        last_eval_seconds = time.monotonic() - t0
        entry = {"step": step, "epoch": round(step / steps_per_epoch, 3), "dev_macro_f1": round(f1, 4),
                 "dev_accuracy": round(accuracy, 4), "minutes": round((time.monotonic() - started) / 60, 2)}
        if len(parts) > 1:
            entry["dev_macro_f1_parts"] = {k: round(v, 4) for k, v in parts.items()}
        history.append(entry)
        if f1 > best["dev_macro_f1"]:
            best.update(dev_macro_f1=f1, dev_accuracy=accuracy, step=step, epoch=entry["epoch"])
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        log(f"  step {step}/{plan['total']} epoch {entry['epoch']:.2f} dev macro-F1 {f1:.4f} acc {accuracy:.4f} "
            f"(best {best['dev_macro_f1']:.4f} @ step {best['step']}) {entry['minutes']} min")
        model.train()

    model.train()
    running, seen = 0.0, 0
    while step < plan["total"] and stop_reason == "epochs done":
        for index in train_set.epoch_order(settings.batch_size, rng):
            t_step = time.monotonic()
            ids, mask, types, gold = train_set.tensors(index, device)
            logits = model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits.float()
            loss = task_loss(loss_fn, logits, gold, soft[index] if soft is not None else None, settings)
            loss.backward()
            optimizer_step(model, optimizer, scheduler)
            step += 1
            train_seconds += time.monotonic() - t_step
            running, seen = running + float(loss.detach()), seen + 1
            if step % eval_every == 0 or step == plan["total"]:
                log(f"  train loss {running / seen:.4f}")
                running, seen = 0.0, 0
                evaluate_dev()
                replan()
            if step >= plan["total"]:
                if plan["total"] < math.ceil(steps_per_epoch * settings.epochs):
                    stop_reason = f"steps that fit the {settings.max_minutes} min budget done"
                break
            # Leave room for one more dev evaluation inside the budget.
            if time.monotonic() + last_eval_seconds > deadline:
                stop_reason = f"time budget of {settings.max_minutes} min reached"
                break
    if not history or history[-1]["step"] != step:
        evaluate_dev()

    model.load_state_dict(best_state)
    report = save(model, tokenizer, settings, train_records, dev_records, best, history, stop_reason,
                  started, device, weights)
    log(f"best dev macro-F1 {best['dev_macro_f1']:.4f} at step {best['step']} ({stop_reason}); saved {settings.out}")
    return report


def save(model, tokenizer, settings, train_records, dev_records, best, history, stop_reason, started, device,
         weights) -> dict:
    import torch
    import transformers

    out = settings.out
    out.mkdir(parents=True, exist_ok=True)
    model.to("cpu").save_pretrained(out, safe_serialization=True)
    tokenizer.save(str(out / "tokenizer.json"))
    report = {
        "task": settings.task,
        "labels": list(LABELS[settings.task]),
        "settings": settings.to_dict(),
        "base_model": base_model_info(settings.base_model),
        "architecture": {k: getattr(model.config, k) for k in ("num_hidden_layers", "hidden_size",
                                                               "num_attention_heads", "intermediate_size")},
        "best": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in best.items()},
        "history": history,
        "stop_reason": stop_reason,
        "minutes": round((time.monotonic() - started) / 60, 2),
        "device": device,
        "class_weights": [round(float(w), 4) for w in weights] if weights is not None else None,
        "train_label_counts": dict(Counter(r["label"] for r in train_records)),
        "records": {"train": len(train_records), "dev": len(dev_records)},
        "data_sources": data_sources(train_records),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }
    (out / "train_report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return report


def base_model_info(path: Path) -> dict:
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    # Inside the repo, record the path relative to it: shipped manifests should not name one machine's checkout.
    resolved = path.resolve()
    shown = resolved.relative_to(REPO) if resolved.is_relative_to(REPO) else path
    info = {"path": str(shown), "name": path.name}
    for key in ("model_type", "num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size",
                "vocab_size", "max_position_embeddings"):
        if key in config:
            info[key] = config[key]
    return info


# ---------------------------------------------------------------- CLI

def parse_args(argv=None) -> TrainSettings:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", required=True, choices=("compliance", "emotion"))
    ap.add_argument("--out", required=True, type=Path, help="output model directory")
    ap.add_argument("--base-model", type=Path, help="Hugging Face BERT directory (default: models/base/<name>)")
    ap.add_argument("--init", default="pretrained", choices=("pretrained", "random"))
    ap.add_argument("--max-len", type=int)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-4, dest="learning_rate")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--warmup-ratio", type=float, default=0.06)
    ap.add_argument("--epochs", type=float, default=4.0)
    ap.add_argument("--max-minutes", type=float)
    ap.add_argument("--evals-per-epoch", type=int, default=2)
    ap.add_argument("--class-weighting", default="balanced", choices=("balanced", "sqrt", "none"))
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--threads", type=int)
    ap.add_argument("--permissive-only", action="store_true", help="train only on permissively licensed records")
    ap.add_argument("--data-dir", type=Path, help="directory holding splits/ (default: data/)")
    ap.add_argument("--train-limit", type=int, help="use only the first N training records (smoke tests)")
    ap.add_argument("--exclude-sources", default="",
                    help="comma-separated source prefixes to leave out of training, e.g. real:nlpcc2013,real:smp2020")
    ap.add_argument("--layers", type=int, help="keep only the base model's first N encoder layers (a cheaper model)")
    ap.add_argument("--teacher", type=Path, help="fine-tuned model directory of the same task to distil from")
    ap.add_argument("--distill-alpha", type=float, default=0.5, help="weight of the teacher's soft labels (0..1)")
    ap.add_argument("--temperature", type=float, default=2.0, help="softmax temperature for distillation")
    ap.add_argument("--input-format", default="dialogue/1", choices=("dialogue/1", "raw"),
                    help="model input: role-marked dialogue + normalised text (default), or raw text")
    ap.add_argument("--source-weight", action="append", default=[], metavar="PREFIX=W",
                    help="repeat training records whose source starts with PREFIX W times, e.g. real:jddc2019=3")
    ap.add_argument("--unpunctuated-share", type=float, default=0.0, metavar="P",
                    help="also train on unpunctuated (ASR-like) copies of a share P of the records")
    args = vars(ap.parse_args(argv))
    weights = []
    for item in args.pop("source_weight"):
        prefix, sep, w = item.partition("=")
        try:
            weights.append((prefix, float(w)))
        except ValueError:
            ap.error(f"--source-weight {item!r}: expected PREFIX=WEIGHT, e.g. real:jddc2019=3")
        if not sep:
            ap.error(f"--source-weight {item!r}: expected PREFIX=WEIGHT, e.g. real:jddc2019=3")
    args["source_weights"] = tuple(weights)
    args["exclude_sources"] = tuple(s.strip() for s in args["exclude_sources"].split(",") if s.strip())
    return TrainSettings(**args)


def main(argv=None) -> int:
    from training.validate import DataError

    try:
        settings = parse_args(argv)
        train(settings)
    except (ValueError, FileNotFoundError) as exc:
        # DataError is a ValueError: it lists every problem in the data.
        kind = "invalid data" if isinstance(exc, DataError) else "error"
        print(f"{kind}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
