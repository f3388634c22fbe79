"""Masked-LM pretraining of a small Chinese BERT (whole-word masking) on the corpus of training.corpus.

    python -m training.pretrain --out runs/csqa-bert-small --max-minutes 50 \
        [--layers 4 --hidden 256 --heads 4 --intermediate 1024 --max-len 128] [--resume] \
        [--base-model DIR] [--ship-dir models/base/csqa-bert-small]

Sequences pack consecutive corpus lines ([CLS] a [SEP] b [SEP] ...; the lines after a random
split point get token_type 1, so the segment-B embedding is trained for context/utterance pairs).
Whole words come from jieba (char-level when jieba is missing). The MLM head is applied only to
masked positions, which on CPU saves most of the 21k-way output layer.
Held-out MLM loss / masked-token accuracy is logged periodically and at the end, next to a
unigram baseline (always predict by corpus token frequency).
"""
from __future__ import annotations

import argparse
import collections
import json
import math
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

from sdk.model_manifest import sha256_file
from training.tokenizer import DEFAULT_VOCAB, save_tokenizer

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO_ROOT / "data" / "corpus"
CHECKPOINT_DIR = "checkpoint"
FINAL_DIR = "final"
IGNORE = -100

try:  # whole-word masking needs word boundaries; without jieba every Chinese char is its own word
    import jieba

    jieba.setLogLevel(60)
except ImportError:  # pragma: no cover - jieba is installed in the project venv
    jieba = None


@dataclass
class TrainSettings:
    out: Path
    corpus_dir: Path = DEFAULT_CORPUS
    layers: int = 4
    hidden: int = 256
    heads: int = 4
    intermediate: int = 1024
    max_len: int = 128
    batch_size: int = 32
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 200
    weight_decay: float = 0.01
    mask_prob: float = 0.15
    whole_word: bool = True
    max_steps: int = 0  # 0 = limited by --max-minutes only
    max_minutes: float = 50.0
    eval_every_minutes: float = 5.0
    save_every_minutes: float = 5.0
    eval_sequences: int = 512
    unigram_sample_lines: int = 100_000
    threads: int = 2
    seed: int = 13
    resume: bool = False
    base_model: Path | None = None
    ship_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.hidden % self.heads:
            raise ValueError(f"--hidden {self.hidden} must be divisible by --heads {self.heads}")
        if not 8 <= self.max_len <= 512:
            raise ValueError(f"--max-len must be in 8..512, got {self.max_len}")
        if not 0 < self.mask_prob < 1:
            raise ValueError(f"--mask-prob must be in (0, 1), got {self.mask_prob}")
        if self.max_steps <= 0 and self.max_minutes <= 0:
            raise ValueError("give --max-steps or --max-minutes, otherwise training never ends")


# ----------------------------------------------------------------------------- data

def read_lines(path: Path, limit: int = 0) -> list[str]:
    """Corpus lines in file order (blank document separators dropped)."""
    lines = []
    with path.open(encoding="utf-8") as handle:
        for raw in handle:
            line = raw.strip()
            if line:
                lines.append(line)
                if limit and len(lines) >= limit:
                    break
    if not lines:
        raise ValueError(f"{path} has no text lines; run `python -m training.corpus` first")
    return lines


class MaskedLMBatcher:
    """Packs corpus lines into sequences and applies (whole-word) masking."""

    def __init__(self, tokenizer, max_len: int, mask_prob: float, whole_word: bool):
        self.tokenizer = tokenizer
        tokenizer.model_max_length = 10**9  # lines are cut here by token budget; silences the length warning
        self.max_len = max_len
        self.mask_prob = mask_prob
        self.whole_word = whole_word and jieba is not None
        self.cls_id, self.sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
        self.pad_id, self.mask_id = tokenizer.pad_token_id, tokenizer.mask_token_id
        self.vocab_size = len(tokenizer)
        self.first_normal_id = max(tokenizer.all_special_ids) + 1  # [PAD] [unused*] [UNK] [CLS] [SEP] [MASK]

    def encode_line(self, line: str) -> tuple[list[int], list[int]]:
        """Token ids and a word id per token (tokens of one jieba word share the id)."""
        encoding = self.tokenizer(line, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = encoding["input_ids"], encoding["offset_mapping"]
        if not self.whole_word:
            return ids, list(range(len(ids)))
        word_of_char = [0] * (len(line) + 1)
        for word_index, (_, start, end) in enumerate(jieba.tokenize(line)):
            for char in range(start, end):
                word_of_char[char] = word_index
        return ids, [word_of_char[min(start, len(line) - 1)] for start, _ in offsets]

    def pack(self, lines: list[str], start: int, rng: random.Random) -> tuple[list[int], list[int], list[int], int]:
        """One sequence from lines[start:], returns (ids, token_types, word_ids, lines used)."""
        budget = self.max_len - 1
        ids, types, words = [self.cls_id], [0], [-1]
        segments: list[tuple[list[int], list[int]]] = []
        index = start
        while index < len(lines) and budget > 1:
            line_ids, line_words = self.encode_line(lines[index])
            if not line_ids:
                index += 1
                continue
            if segments and len(line_ids) > budget - 1 and budget - 1 < 8:
                break  # a cut line would leave only a useless scrap at the end
            line_ids, line_words = line_ids[:budget - 1], line_words[:budget - 1]
            segments.append((line_ids, line_words))
            budget -= len(line_ids) + 1
            index += 1
        split = rng.randint(1, len(segments) - 1) if len(segments) > 1 else len(segments)
        word_base = 0
        for position, (line_ids, line_words) in enumerate(segments):
            segment_type = 0 if position < split else 1
            ids += line_ids + [self.sep_id]
            types += [segment_type] * (len(line_ids) + 1)
            words += [word_base + w for w in line_words] + [-1]
            word_base += max(line_words) + 1
        return ids, types, words, max(index - start, 1)

    def mask(self, ids: list[int], words: list[int], rng: random.Random) -> tuple[list[int], list[int]]:
        """BERT 80/10/10 masking of whole words until ~mask_prob of the real tokens are covered."""
        groups: dict[int, list[int]] = collections.OrderedDict()
        for position, word in enumerate(words):
            if word >= 0:
                groups.setdefault(word, []).append(position)
        candidates = list(groups.values())
        rng.shuffle(candidates)
        n_real = sum(len(g) for g in candidates)
        target = max(1, round(n_real * self.mask_prob))
        inputs, labels = list(ids), [IGNORE] * len(ids)
        covered = 0
        for group in candidates:
            if covered >= target:
                break
            if covered + len(group) > target + 2 and covered > 0:
                continue  # a long word would overshoot the masking rate: try a shorter one
            roll = rng.random()
            for position in group:
                labels[position] = ids[position]
                if roll < 0.8:
                    inputs[position] = self.mask_id
                elif roll < 0.9:
                    inputs[position] = rng.randrange(self.first_normal_id, self.vocab_size)
            covered += len(group)
        return inputs, labels

    def collate(self, examples: list[tuple[list[int], list[int], list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(e[0]) for e in examples)
        batch = {"input_ids": torch.full((len(examples), width), self.pad_id, dtype=torch.long),
                 "token_type_ids": torch.zeros((len(examples), width), dtype=torch.long),
                 "attention_mask": torch.zeros((len(examples), width), dtype=torch.long),
                 "labels": torch.full((len(examples), width), IGNORE, dtype=torch.long)}
        for row, (inputs, types, labels) in enumerate(examples):
            n = len(inputs)
            batch["input_ids"][row, :n] = torch.tensor(inputs)
            batch["token_type_ids"][row, :n] = torch.tensor(types)
            batch["attention_mask"][row, :n] = 1
            batch["labels"][row, :n] = torch.tensor(labels)
        return batch

    def random_batch(self, lines: list[str], batch_size: int, rng: random.Random) -> dict[str, torch.Tensor]:
        examples = []
        for _ in range(batch_size):
            ids, types, words, _ = self.pack(lines, rng.randrange(len(lines)), rng)
            inputs, labels = self.mask(ids, words, rng)
            examples.append((inputs, types, labels))
        return self.collate(examples)

    def fixed_batches(self, lines: list[str], n_sequences: int, batch_size: int, seed: int) -> list[dict]:
        """Deterministic held-out batches: sequential packing, seeded masks (same every evaluation)."""
        rng = random.Random(seed)
        examples, start = [], 0
        while start < len(lines) and len(examples) < n_sequences:
            ids, types, words, used = self.pack(lines, start, rng)
            start += used
            inputs, labels = self.mask(ids, words, rng)
            examples.append((inputs, types, labels))
        return [self.collate(examples[i:i + batch_size]) for i in range(0, len(examples), batch_size)]


def unigram_log_probs(tokenizer, lines: list[str], sample: int, seed: int) -> torch.Tensor:
    """Add-one smoothed unigram distribution of corpus tokens (the no-context baseline)."""
    rng = random.Random(seed)
    chosen = lines if len(lines) <= sample else rng.sample(lines, sample)
    counts = torch.ones(len(tokenizer), dtype=torch.float64)
    for start in range(0, len(chosen), 2048):
        for ids in tokenizer(chosen[start:start + 2048], add_special_tokens=False)["input_ids"]:
            counts += torch.bincount(torch.tensor(ids, dtype=torch.long), minlength=len(tokenizer)).double()
    counts[tokenizer.all_special_ids] = 0  # never a masked target
    return (counts / counts.sum()).clamp_min(1e-12).log().float()


def baseline_metrics(batches: list[dict], log_probs: torch.Tensor) -> dict[str, float]:
    top = int(log_probs.argmax())
    targets = torch.cat([b["labels"][b["labels"] != IGNORE] for b in batches])
    return {"loss": float(-log_probs[targets].mean()), "accuracy": float((targets == top).float().mean()),
            "masked_tokens": int(targets.numel())}


# ----------------------------------------------------------------------------- model

def masked_lm_loss(model: BertForMaskedLM, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss and correct-prediction count, running the vocabulary projection on masked positions only."""
    hidden = model.bert(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                        token_type_ids=batch["token_type_ids"]).last_hidden_state
    selected = batch["labels"] != IGNORE
    logits = model.cls(hidden[selected]).float()
    targets = batch["labels"][selected]
    loss = torch.nn.functional.cross_entropy(logits, targets)
    return loss, (logits.argmax(-1) == targets).sum()


@torch.no_grad()
def evaluate(model, batches: list[dict], device: torch.device, autocast) -> dict[str, float]:
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for batch in batches:
        batch = {k: v.to(device) for k, v in batch.items()}
        with autocast():
            loss, hits = masked_lm_loss(model, batch)
        n = int((batch["labels"] != IGNORE).sum())
        total_loss += float(loss) * n
        correct += int(hits)
        count += n
    model.train()
    return {"loss": total_loss / count, "accuracy": correct / count, "masked_tokens": count}


def build_model(settings: TrainSettings, tokenizer) -> BertForMaskedLM:
    if settings.base_model:
        return BertForMaskedLM.from_pretrained(str(settings.base_model), dtype=torch.float32)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=settings.hidden, num_hidden_layers=settings.layers,
                        num_attention_heads=settings.heads, intermediate_size=settings.intermediate,
                        max_position_embeddings=max(128, settings.max_len), type_vocab_size=2,
                        pad_token_id=tokenizer.pad_token_id)
    return BertForMaskedLM(config)


def learning_rate(settings: TrainSettings, step: int, elapsed_s: float) -> float:
    """Linear warm-up, then linear decay to min_lr_ratio over the step or time budget (whichever ends first)."""
    warm = min(1.0, (step + 1) / max(1, settings.warmup_steps))
    progress = 0.0
    if settings.max_steps > 0:
        progress = max(progress, step / settings.max_steps)
    if settings.max_minutes > 0:
        progress = max(progress, elapsed_s / (settings.max_minutes * 60))
    decay = 1.0 - (1.0 - settings.min_lr_ratio) * min(1.0, progress)
    return settings.lr * warm * decay


# ----------------------------------------------------------------------------- saving

def save_checkpoint(path: Path, model, optimizer, state: dict) -> None:
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / "state.pt.tmp"
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "config": model.config.to_dict(),
                **state}, tmp)
    tmp.replace(path / "state.pt")  # atomic: a kill during saving keeps the previous checkpoint


def save_final(out_dir: Path, model: BertForMaskedLM, settings: TrainSettings, tokenizer_source: Path | None,
               summary: dict) -> Path:
    """HF directory: fp16 weights (loads back as fp32: config says float32), tokenizer, manifest.json."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    half = BertForMaskedLM(model.config)
    half.load_state_dict(model.state_dict())
    half.half()
    half.config.dtype = "float32"  # stored as fp16 to halve the checkpoint, loaded as fp32 by default
    half.save_pretrained(str(out_dir), safe_serialization=True)
    config = json.loads((out_dir / "config.json").read_text(encoding="utf-8"))
    config["dtype"] = "float32"
    (out_dir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if tokenizer_source and (tokenizer_source / "tokenizer.json").exists():
        for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
            if (tokenizer_source / name).exists():
                shutil.copyfile(tokenizer_source / name, out_dir / name)
    else:
        save_tokenizer(out_dir, DEFAULT_VOCAB, settings.max_len)
    write_card_and_manifest(out_dir, summary)
    return out_dir


def write_card_and_manifest(model_dir: Path, summary: dict) -> None:
    """README.md model card from the run summary, then manifest.json with the sha256 of every other file."""
    (model_dir / "README.md").write_text(model_card(summary), encoding="utf-8")
    manifest = {k: v for k, v in summary.items() if k != "files"}
    manifest["files"] = {p.name: {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
                         for p in sorted(model_dir.iterdir()) if p.is_file() and p.name != "manifest.json"}
    (model_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n",
                                             encoding="utf-8")


def model_card(summary: dict) -> str:
    arch, held, base = summary["architecture"], summary["heldout"], summary["unigram_baseline"]
    totals = (summary["corpus"].get("totals") or {}).get("train", {})
    sources = summary["corpus"].get("sources") or []
    history = "\n".join(f"| {h['step']} | {h['tokens_seen'] / 1e6:.2f} | {h['minutes']:.0f} | {h['loss']:.3f} | "
                        f"{h['accuracy']:.3f} |" for h in summary["eval_history"])
    source_rows = "\n".join(f"| {s['name']} | {s.get('lines') or 0:,} | {s.get('chars') or 0:,} | {s['licence']} |"
                             for s in sources)
    command = summary["command"]
    notes = "".join(f"- {note}\n" for note in summary.get("notes", []))
    notes = f"## Notes\n\n{notes}\n" if notes else ""
    return f"""# {summary['name']}: small Chinese BERT pretrained in-house (masked LM)

A {arch['layers']}-layer, {arch['hidden']}-hidden, {arch['heads']}-head BERT (FFN {arch['intermediate']},
{arch['parameters'] / 1e6:.2f} M parameters, max {arch['max_position_embeddings']} positions) with the
bert-base-chinese WordPiece vocabulary ({arch['vocab_size']:,} tokens, Apache-2.0), trained from scratch by
whole-word masked language modelling ({summary['whole_word_masking']} word boundaries) on
{totals.get('chars', 0) / 1e6:.1f} M characters of modern Chinese customer-service dialogue, reviews and
Weibo/news text. It is the base encoder for fine-tuning the QA heads; its tokenizer files are interchangeable with
public Chinese BERTs (same ids as bert-base-chinese).

## Use

```python
from transformers import AutoModel, AutoTokenizer
tokenizer = AutoTokenizer.from_pretrained("models/base/{summary['name']}")
model = AutoModel.from_pretrained("models/base/{summary['name']}")  # fp32; the pooler is newly initialised
```
Weights are stored as fp16 safetensors (half the size) and load as fp32 (`config.json` says `float32`).
`AutoModelForMaskedLM` loads the MLM head too. Loading works offline: nothing is downloaded.

## Held-out masked-LM quality

{held['sequences']} packed sequences from the 1 % held-out documents of the corpus, {held['masked_tokens']:,} masked
tokens (same masks at every evaluation).

| model | MLM loss | masked-token accuracy |
| --- | --- | --- |
| {summary['name']} | {held['mlm_loss']:.3f} | {held['masked_token_accuracy']:.3f} |
| unigram baseline (corpus token frequencies) | {base['mlm_loss']:.3f} | {base['masked_token_accuracy']:.3f} |

| step | tokens seen (M) | minutes | held-out loss | accuracy |
| --- | --- | --- | --- | --- |
{history}

This is a short CPU run ({summary['steps']:,} steps, {summary['tokens_seen'] / 1e6:.2f} M tokens,
{summary['train_minutes']:.0f} minutes on {summary['device']}): the model has learnt frequent in-domain words and
context, far from a converged BERT. Continue it with `--resume` (same `--out`) or `--base-model`, ideally on a GPU.

## Corpus (`python -m training.corpus`, see data/corpus/manifest.json)

| source | lines | chars | licence |
| --- | --- | --- | --- |
{source_rows}

Test (and dev) files of the labelled sets are never read, and any line also found in them or in
`data/splits/*_{{dev,test}}.jsonl` is dropped. Most sources are research-only or have no stated licence, so
**these weights are for research and internal evaluation until the sources are cleared** for a product.

{notes}## Reproduce

One command from the repository root (builds `data/corpus/` first when it is missing):

```
{command}
```
Training is limited by wall-clock time (`--max-minutes`), so the step count depends on the machine; for a
step-exact rerun add `--max-steps {summary['steps']} --max-minutes 0` (the learning-rate schedule then follows steps).
Seed {summary['training']['seed']}; torch {summary['versions']['torch']}, transformers {summary['versions']['transformers']}.
"""


def corpus_summary(corpus_dir: Path) -> dict:
    path = corpus_dir / "manifest.json"
    if not path.exists():
        return {"note": f"no corpus manifest at {path}"}
    manifest = json.loads(path.read_text(encoding="utf-8"))
    return {"totals": manifest.get("totals"), "files": manifest.get("files"),
            "sources": [{k: s.get(k) for k in ("name", "licence", "lines", "chars")} for s in manifest["sources"]],
            "licence_summary": manifest.get("licence_summary")}


# ----------------------------------------------------------------------------- training loop

def train(settings: TrainSettings, log=print) -> dict:
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    use_cuda = torch.cuda.is_available()
    device = torch.device("cuda" if use_cuda else "cpu")
    if not use_cuda:
        torch.set_num_threads(settings.threads)

    def autocast():
        return torch.autocast("cuda", dtype=torch.bfloat16) if use_cuda else torch.autocast("cpu", enabled=False)

    settings.out.mkdir(parents=True, exist_ok=True)
    tokenizer_dir = settings.out / "tokenizer"
    if settings.base_model and (settings.base_model / "tokenizer.json").exists():
        tokenizer_dir = settings.base_model
    elif not (tokenizer_dir / "tokenizer.json").exists():
        save_tokenizer(tokenizer_dir, DEFAULT_VOCAB, settings.max_len)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))

    if not (settings.corpus_dir / "train.txt").exists():  # one-command reproduction: build the corpus first
        from training.corpus import DEFAULT_SHARED, build

        log(f"building the corpus into {settings.corpus_dir}")
        build(DEFAULT_SHARED, settings.corpus_dir)
    train_lines = read_lines(settings.corpus_dir / "train.txt")
    heldout_lines = read_lines(settings.corpus_dir / "heldout.txt")
    batcher = MaskedLMBatcher(tokenizer, settings.max_len, settings.mask_prob, settings.whole_word)
    eval_batches = batcher.fixed_batches(heldout_lines, settings.eval_sequences, 64, seed=1234)
    baseline = baseline_metrics(eval_batches, unigram_log_probs(tokenizer, train_lines,
                                                                settings.unigram_sample_lines, settings.seed))
    log(f"corpus: {len(train_lines)} train lines, {len(heldout_lines)} held-out lines; "
        f"eval {baseline['masked_tokens']} masked tokens; unigram baseline loss {baseline['loss']:.3f} "
        f"acc {baseline['accuracy']:.4f}; whole-word masking: {batcher.whole_word}")

    model = build_model(settings, tokenizer).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay,
                                  betas=(0.9, 0.98), eps=1e-6)
    state = {"step": 0, "tokens_seen": 0, "elapsed_s": 0.0, "history": []}
    checkpoint = settings.out / CHECKPOINT_DIR / "state.pt"
    if settings.resume and checkpoint.exists():
        saved = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        state = {k: saved[k] for k in state}
        rng.setstate(saved["python_rng"])
        log(f"resumed from {checkpoint} at step {state['step']} ({state['elapsed_s'] / 60:.1f} min done)")
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {settings.layers}x{settings.hidden} heads={settings.heads} ffn={settings.intermediate} "
        f"params={n_params / 1e6:.2f}M device={device}")

    def record_eval() -> dict:
        metrics = evaluate(model, eval_batches, device, autocast)
        entry = {"step": state["step"], "tokens_seen": state["tokens_seen"],
                 "minutes": round(state["elapsed_s"] / 60, 2), **metrics}
        state["history"].append(entry)
        log(f"eval step {entry['step']}: held-out MLM loss {metrics['loss']:.3f} acc {metrics['accuracy']:.4f} "
            f"(unigram {baseline['loss']:.3f} / {baseline['accuracy']:.4f})")
        return entry

    model.train()
    session_start = time.monotonic() - state["elapsed_s"]
    last_eval = last_save = last_log = state["elapsed_s"]
    running_loss, running_hits, running_n = 0.0, 0, 0
    if not state["history"]:
        record_eval()
    while True:
        elapsed = time.monotonic() - session_start
        if settings.max_steps > 0 and state["step"] >= settings.max_steps:
            break
        if settings.max_minutes > 0 and elapsed >= settings.max_minutes * 60:
            break
        lr = learning_rate(settings, state["step"], elapsed)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = {k: v.to(device) for k, v in batcher.random_batch(train_lines, settings.batch_size, rng).items()}
        with autocast():
            loss, hits = masked_lm_loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        state["step"] += 1
        state["tokens_seen"] += int(batch["attention_mask"].sum())
        state["elapsed_s"] = time.monotonic() - session_start
        n_masked = int((batch["labels"] != IGNORE).sum())
        running_loss += loss.detach().item() * n_masked
        running_hits += int(hits)
        running_n += n_masked
        if not math.isfinite(loss.detach().item()):
            raise FloatingPointError(f"training loss became {loss.detach().item()} at step {state['step']}; lower --lr")
        if state["elapsed_s"] - last_log >= 60 or state["step"] == 1:
            log(f"step {state['step']} lr {lr:.2e} train loss {running_loss / running_n:.3f} "
                f"acc {running_hits / running_n:.4f} tokens {state['tokens_seen']} "
                f"({state['tokens_seen'] / max(state['elapsed_s'], 1e-9):.0f} tok/s)")
            running_loss, running_hits, running_n = 0.0, 0, 0
            last_log = state["elapsed_s"]
        if state["elapsed_s"] - last_eval >= settings.eval_every_minutes * 60:
            record_eval()
            last_eval = state["elapsed_s"]
        if state["elapsed_s"] - last_save >= settings.save_every_minutes * 60:
            save_checkpoint(settings.out / CHECKPOINT_DIR, model, optimizer, {**state, "python_rng": rng.getstate()})
            last_save = state["elapsed_s"]

    final = record_eval()
    save_checkpoint(settings.out / CHECKPOINT_DIR, model, optimizer, {**state, "python_rng": rng.getstate()})
    summary = {
        "name": settings.ship_dir.name if settings.ship_dir else settings.out.name,
        "architecture": {"model_type": "bert", "class": "BertForMaskedLM", "layers": model.config.num_hidden_layers,
                         "hidden": model.config.hidden_size, "heads": model.config.num_attention_heads,
                         "intermediate": model.config.intermediate_size, "vocab_size": model.config.vocab_size,
                         "max_position_embeddings": model.config.max_position_embeddings,
                         "parameters": n_params, "stored_dtype": "float16", "load_dtype": "float32"},
        "training": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()},
        "whole_word_masking": "jieba" if batcher.whole_word else "char-level",
        "steps": state["step"], "tokens_seen": state["tokens_seen"],
        "train_minutes": round(state["elapsed_s"] / 60, 2), "device": str(device),
        "heldout": {"mlm_loss": final["loss"], "masked_token_accuracy": final["accuracy"],
                    "masked_tokens": final["masked_tokens"], "sequences": sum(len(b["input_ids"]) for b in eval_batches)},
        "unigram_baseline": {"mlm_loss": baseline["loss"], "masked_token_accuracy": baseline["accuracy"],
                             "how": f"add-one smoothed token frequencies of {settings.unigram_sample_lines} sampled "
                                    "train lines; predicts the most frequent token"},
        "eval_history": state["history"],
        "corpus": corpus_summary(settings.corpus_dir),
        "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__,
                     "python": sys.version.split()[0]},
        "command": "python -m training.pretrain " + " ".join(sys.argv[1:]),
    }
    final_dir = save_final(settings.out / FINAL_DIR, model, settings, tokenizer_dir, summary)
    log(f"saved {final_dir}")
    if settings.ship_dir:
        if settings.ship_dir.exists():
            shutil.rmtree(settings.ship_dir)
        shutil.copytree(final_dir, settings.ship_dir)
        log(f"shipped to {settings.ship_dir}")
    return summary


def parse_args(argv: list[str] | None = None) -> TrainSettings:
    defaults = TrainSettings(out=Path("."))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="run dir: checkpoint/, tokenizer/, final/")
    parser.add_argument("--corpus-dir", type=Path, default=DEFAULT_CORPUS)
    for name in ("layers", "hidden", "heads", "intermediate", "max_len", "batch_size", "warmup_steps", "max_steps",
                 "eval_sequences", "unigram_sample_lines", "threads", "seed"):
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(defaults, name))
    for name in ("lr", "min_lr_ratio", "weight_decay", "mask_prob", "max_minutes", "eval_every_minutes",
                 "save_every_minutes"):
        parser.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(defaults, name))
    parser.add_argument("--char-masking", action="store_true", help="mask single tokens instead of whole words")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint/state.pt")
    parser.add_argument("--base-model", type=Path, help="continue MLM training from a local HF BERT dir")
    parser.add_argument("--ship-dir", type=Path, help="copy the final model dir here (e.g. models/base/NAME)")
    args = vars(parser.parse_args(argv))
    args["whole_word"] = not args.pop("char_masking")
    return TrainSettings(**args)


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)

    def log(message: str) -> None:
        print(time.strftime("%H:%M:%S"), message, flush=True)

    summary = train(settings, log)
    print(json.dumps({"steps": summary["steps"], "tokens_seen": summary["tokens_seen"],
                      "heldout": summary["heldout"], "unigram_baseline": summary["unigram_baseline"]}, indent=2))


if __name__ == "__main__":
    main()
