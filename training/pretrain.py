"""Masked-LM pretraining of a small Chinese BERT on the tokenised corpus of training.corpus (CPU or GPU).

    python -m training.pretrain --out runs/pretrain --max-minutes 60 [--resume]          # CPU, resumable
    python -m training.pretrain --out runs/pretrain --batch-size 512 --max-minutes 7.5   # GPU: bf16 + SDPA
    python -m training.pretrain --ship-from runs/pretrain/final --ship-dir models/base/NAME

The corpus (``--corpus-dir``, built by ``python -m training.corpus`` when missing) is a set of
uint16 token streams with turn markers and whole-word bits (training.shards), loaded once onto the
device. Each step draws windows of ``--max-len`` tokens that start at a turn: a source is drawn with
probability proportional to its weight x size (customer-service dialogue above news and law, see
training.corpus.KIND_WEIGHTS), then a position in it, moved back to the turn that contains it. A
window is packed across turns and documents (``[CLS] turn [SEP] turn [SEP] ...``, no padding), its
token types are the turns' roles (customer side 0, agent side 1, as the SDK's context/utterance),
and whole-word masking (80/10/10) is drawn fresh for every window by tensor operations on the device,
so no Python batcher or segmenter runs during training. The MLM head runs on masked positions only.

Held-out MLM loss and masked-token accuracy are measured on fixed windows and masks from every
source's held-out documents, per source, pooled ("micro") and averaged over sources ("macro"), next
to a unigram baseline. Checkpoints are safetensors (model) plus tensors-only state read back with
``torch.load(weights_only=True)``; nothing is unpickled.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from training import shards

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO_ROOT / "data" / "corpus"
CHECKPOINT_DIR = "checkpoint"
FINAL_DIR = "final"
IGNORE = -100
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = 0, 100, 101, 102, 103  # bert-base-chinese ids (checked on load)
FIRST_NORMAL_ID = 104  # random replacements are drawn from ids >= this (no [PAD]/[unused]/specials)


@dataclass
class TrainSettings:
    out: Path
    corpus_dir: Path = DEFAULT_CORPUS
    layers: int = 6
    hidden: int = 256
    heads: int = 4
    intermediate: int = 1024
    max_len: int = 128
    batch_size: int = 32
    lr: float = 1e-3
    min_lr_ratio: float = 0.05
    warmup_steps: int = 400
    weight_decay: float = 0.01
    mask_prob: float = 0.15
    whole_word: bool = True
    max_steps: int = 0  # 0 = limited by --max-minutes only
    max_minutes: float = 60.0
    deadline: float = 0.0  # unix time: stop (and save) before it whatever else says (a GPU lease's end)
    eval_every_minutes: float = 10.0
    save_every_minutes: float = 10.0
    eval_windows: int = 48  # per source
    threads: int = 2
    seed: int = 13
    resume: bool = False
    base_model: Path | None = None
    ship_dir: Path | None = None
    permissive_only: bool = False
    snapshot_dir: Path | None = None  # also write the current model here at every save (GPU: $OUT)
    dropout: float = 0.1
    safe: bool = False  # fp32, eager attention, unfused optimizer: the fallback when the fast GPU path fails
    fixed_predictions: bool | None = None  # project a fixed number of positions (None: on CUDA only)
    name: str = ""

    def __post_init__(self) -> None:
        if self.hidden % self.heads:
            raise ValueError(f"--hidden {self.hidden} must be divisible by --heads {self.heads}")
        if not 16 <= self.max_len <= 512:
            raise ValueError(f"--max-len must be in 16..512, got {self.max_len}")
        if not 0 < self.mask_prob < 1:
            raise ValueError(f"--mask-prob must be in (0, 1), got {self.mask_prob}")
        if self.max_steps <= 0 and self.max_minutes <= 0 and self.deadline <= 0:
            raise ValueError("give --max-steps, --max-minutes or --deadline, otherwise training never ends")


# ----------------------------------------------------------------------------- data

@dataclass
class SourceSlice:
    name: str
    start: int
    end: int
    probability: float


@dataclass
class TokenStore:
    """Concatenated decoded streams on the device, with the positions where windows may start."""
    ids: torch.Tensor          # int32 [N + max_len] (a tail of [PAD] so that every window fits)
    types: torch.Tensor        # uint8
    word_start: torch.Tensor   # bool
    maskable: torch.Tensor     # bool
    turn_starts: torch.Tensor  # int64, sorted
    sources: list[SourceSlice] = field(default_factory=list)
    _draw: tuple | None = None  # device tensors for sample_starts, made once (a host->device copy every step
                                # would make the CPU wait for the GPU)

    @property
    def tokens(self) -> int:
        return int(self.sources[-1].end) if self.sources else 0

    def draw_tensors(self, max_len: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self._draw is None:
            device = self.ids.device
            self._draw = (torch.tensor([s.probability for s in self.sources], device=device),
                          torch.tensor([s.start for s in self.sources], device=device),
                          torch.tensor([max(1, s.end - s.start - max_len // 2) for s in self.sources], device=device))
        return self._draw


def select_sources(manifest: dict, permissive_only: bool) -> list[dict]:
    chosen = [s for s in manifest["sources"] if "skipped" not in s and (s["permissive"] or not permissive_only)]
    if not chosen:
        raise ValueError("no corpus sources left" + (" with --permissive-only" if permissive_only else ""))
    return chosen


def load_store(corpus_dir: Path, sources: list[dict], split: str, max_len: int, device: torch.device) -> TokenStore:
    ids, types, word_start, maskable, turn_starts, slices = [], [], [], [], [], []
    offset = 0
    weights = []
    for source in sources:
        entry = source[split]
        if not entry.get("file"):
            continue
        decoded = shards.decode(shards.read_stream(corpus_dir / entry["file"]), SEP_ID)
        n = len(decoded.ids)
        ids.append(decoded.ids)
        types.append(decoded.types)
        word_start.append(decoded.word_start)
        maskable.append(decoded.maskable)
        turn_starts.append(decoded.turn_starts + offset)
        # per-token draw rate: the source's weight x its FULL corpus size (a GPU shard may hold a sample)
        weights.append(source["weight"] * source["train"]["tokens"])
        slices.append(SourceSlice(source["name"], offset, offset + n, 0.0))
        offset += n
    if not slices:
        raise ValueError(f"no {split} token files in {corpus_dir}; run `python -m training.corpus`")
    total = float(sum(weights))
    for piece, weight in zip(slices, weights):
        piece.probability = weight / total
    # the first max_len tokens again at the end, so every window is full (no padding, no attention mask)
    for parts in (ids, types, word_start, maskable):
        parts.append(np.resize(parts[0], max_len))

    def put(parts, dtype):
        return torch.from_numpy(np.concatenate(parts)).to(device=device, dtype=dtype)

    return TokenStore(put(ids, torch.int32), put(types, torch.uint8), put(word_start, torch.bool),
                      put(maskable, torch.bool), put(turn_starts, torch.int64), slices)


def gather_windows(store: TokenStore, starts: torch.Tensor, max_len: int) -> dict[str, torch.Tensor]:
    """Windows of max_len tokens at `starts` (turn markers), first token [CLS] with type 0."""
    index = starts[:, None] + torch.arange(max_len, device=starts.device)[None, :]
    ids = store.ids[index].long()
    types = store.types[index].long()
    word_start = store.word_start[index]
    maskable = store.maskable[index]
    ids[:, 0], types[:, 0], maskable[:, 0], word_start[:, 0] = CLS_ID, 0, False, True
    return {"ids": ids, "types": types, "word_start": word_start, "maskable": maskable}


def sample_starts(store: TokenStore, batch_size: int, generator: torch.Generator, max_len: int) -> torch.Tensor:
    """Sources by probability, a uniform position inside, moved back to the start of its turn."""
    device = store.ids.device
    probabilities, lows, spans = store.draw_tensors(max_len)
    which = torch.multinomial(probabilities, batch_size, replacement=True, generator=generator)
    offsets = (torch.rand(batch_size, device=device, generator=generator) * spans[which]).long()
    position = lows[which] + offsets
    turn = torch.searchsorted(store.turn_starts, position, right=True) - 1
    return store.turn_starts[turn.clamp_min(0)]


def whole_word_mask(window: dict[str, torch.Tensor], mask_prob: float, generator: torch.Generator,
                    vocab_size: int, whole_word: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, labels): each word is chosen with mask_prob (so is each token, on average); a chosen word's
    tokens all become [MASK] (80 %), a random token (10 %) or stay (10 %)."""
    ids, maskable = window["ids"], window["maskable"]
    batch, length = ids.shape
    device = ids.device
    positions = torch.arange(length, device=device).expand(batch, length)
    starts = window["word_start"] if whole_word else torch.ones_like(window["word_start"])
    word_first = torch.cummax(torch.where(starts, positions, torch.zeros_like(positions)), dim=1).values
    choose = torch.rand(batch, length, device=device, generator=generator).gather(1, word_first)
    how = torch.rand(batch, length, device=device, generator=generator).gather(1, word_first)
    selected = (choose < mask_prob) & maskable
    labels = torch.where(selected, ids, torch.full_like(ids, IGNORE))
    random_ids = torch.randint(FIRST_NORMAL_ID, vocab_size, (batch, length), device=device, generator=generator)
    inputs = torch.where(selected & (how < 0.8), torch.full_like(ids, MASK_ID), ids)
    inputs = torch.where(selected & (how >= 0.8) & (how < 0.9), random_ids, inputs)
    return inputs, labels


def eval_starts(store: TokenStore, piece: SourceSlice, n_windows: int, max_len: int) -> list[int]:
    """Consecutive windows from the start of a source's held-out stream, each starting at a turn."""
    starts_all = store.turn_starts.cpu().numpy()
    inside = starts_all[(starts_all >= piece.start) & (starts_all < piece.end)]
    chosen, position = [], piece.start
    while len(chosen) < n_windows and position < piece.end - 1:
        chosen.append(int(position))
        later = inside[(inside > position) & (inside <= position + max_len - 1)]
        if len(later):
            position = int(later[-1])
        else:
            after = inside[inside > position]
            if not len(after):
                break
            position = int(after[0])
    return chosen


@dataclass
class EvalSet:
    batches: list[dict]     # per source: masked ids, types, labels (on the device)
    names: list[str]


def build_eval_set(store: TokenStore, n_windows: int, max_len: int, mask_prob: float, vocab_size: int,
                   whole_word: bool, seed: int = 1234) -> EvalSet:
    generator = torch.Generator().manual_seed(seed)  # masks drawn on the CPU: the same set on every device
    device = store.ids.device
    batches, names = [], []
    for piece in store.sources:
        starts = eval_starts(store, piece, n_windows, max_len)
        if not starts:
            continue
        window = {k: v.cpu() for k, v in gather_windows(store, torch.tensor(starts, device=device), max_len).items()}
        inputs, labels = whole_word_mask(window, mask_prob, generator, vocab_size, whole_word)
        if int((labels != IGNORE).sum()) == 0:
            continue
        batches.append({"ids": inputs.to(device), "types": window["types"].to(device), "labels": labels.to(device)})
        names.append(piece.name)
    return EvalSet(batches, names)


def unigram_baseline(store: TokenStore, eval_set: EvalSet, vocab_size: int) -> dict:
    """Always predict by corpus token frequency (add-one smoothed): the no-context floor."""
    ids = store.ids[: store.tokens].long()
    counts = torch.bincount(ids[store.maskable[: store.tokens]], minlength=vocab_size).double().cpu() + 1
    counts[:FIRST_NORMAL_ID] = 0  # never predicted ([UNK] is rare enough not to matter)
    log_probs = (counts / counts.sum()).clamp_min(1e-12).log()
    top = int(log_probs.argmax())
    targets = torch.cat([b["labels"][b["labels"] != IGNORE].cpu() for b in eval_set.batches])
    return {"loss": float(-log_probs[targets].mean()), "accuracy": float((targets == top).float().mean()),
            "masked_tokens": int(targets.numel())}


# ----------------------------------------------------------------------------- model

def masked_lm_loss(model, inputs, types, labels, max_predictions: int | None = None):
    """(mean loss, correct predictions, masked count) as tensors; the vocabulary projection runs on masked
    positions only. Windows are always full, so there is no attention mask (SDPA can use its fastest kernels).

    max_predictions: project a fixed number of positions (the masked ones first, then ignored filler) instead of
    exactly the masked ones; the shapes then do not depend on the data, so the GPU never has to report how many
    positions were masked before the step can go on. It must exceed the masked count (else some are dropped)."""
    hidden = model.bert(input_ids=inputs, token_type_ids=types).last_hidden_state
    if max_predictions is None:
        selected = labels != IGNORE
        logits = model.cls(hidden[selected]).float()
        targets = labels[selected]
    else:
        flat = labels.reshape(-1)
        index = torch.topk((flat != IGNORE).float(), min(max_predictions, flat.numel()), sorted=False).indices
        logits = model.cls(hidden.reshape(-1, hidden.shape[-1])[index]).float()
        targets = flat[index]
    valid = targets != IGNORE
    loss = torch.nn.functional.cross_entropy(logits, targets, ignore_index=IGNORE)
    return loss, ((logits.argmax(-1) == targets) & valid).sum(), valid.sum()


@torch.no_grad()
def evaluate(model, eval_set: EvalSet, autocast, batch_size: int = 64) -> dict:
    model.eval()
    per_source = {}
    total_loss = total_hits = total_n = 0.0
    for name, batch in zip(eval_set.names, eval_set.batches):
        loss_sum = hits_sum = n_sum = 0.0
        for lo in range(0, len(batch["ids"]), batch_size):
            part = {k: v[lo:lo + batch_size] for k, v in batch.items()}
            if int((part["labels"] != IGNORE).sum()) == 0:
                continue
            with autocast():
                loss, hits, n = masked_lm_loss(model, part["ids"], part["types"], part["labels"])
            loss_sum += float(loss) * int(n)
            hits_sum += int(hits)
            n_sum += int(n)
        per_source[name] = {"loss": round(loss_sum / n_sum, 4), "accuracy": round(hits_sum / n_sum, 4),
                            "masked_tokens": int(n_sum)}
        total_loss += loss_sum
        total_hits += hits_sum
        total_n += n_sum
    model.train()
    macro_acc = sum(v["accuracy"] for v in per_source.values()) / len(per_source)
    macro_loss = sum(v["loss"] for v in per_source.values()) / len(per_source)
    return {"loss": total_loss / total_n, "accuracy": total_hits / total_n, "masked_tokens": int(total_n),
            "macro_loss": macro_loss, "macro_accuracy": macro_acc, "per_source": per_source}


def build_model(settings: TrainSettings, vocab_size: int):
    from transformers import BertConfig, BertForMaskedLM

    attention = "eager" if settings.safe else "sdpa"
    if settings.base_model:
        return BertForMaskedLM.from_pretrained(str(settings.base_model), dtype=torch.float32,
                                               attn_implementation=attention)
    config = BertConfig(vocab_size=vocab_size, hidden_size=settings.hidden, num_hidden_layers=settings.layers,
                        num_attention_heads=settings.heads, intermediate_size=settings.intermediate,
                        max_position_embeddings=max(128, settings.max_len), type_vocab_size=2,
                        pad_token_id=PAD_ID, hidden_dropout_prob=settings.dropout,
                        attention_probs_dropout_prob=settings.dropout, attn_implementation=attention)
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


# ----------------------------------------------------------------------------- checkpoints (no pickle)

def save_checkpoint(path: Path, model, optimizer, generator: torch.Generator, state: dict) -> None:
    """model.safetensors + training_state.pt (tensors, numbers and strings only) + state.json; the old files are
    replaced only when the new ones are complete."""
    from safetensors.torch import save_model

    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_model(model, str(tmp / "model.safetensors"))
    torch.save({"optimizer": optimizer.state_dict(), "generator": generator.get_state()}, tmp / "training_state.pt")
    (tmp / "config.json").write_text(model.config.to_json_string(), encoding="utf-8")
    (tmp / "state.json").write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
    if path.exists():
        shutil.rmtree(path)
    tmp.replace(path)


def load_checkpoint(path: Path, model, optimizer, generator: torch.Generator, device: torch.device) -> dict:
    """Restore what save_checkpoint wrote. torch.load runs with weights_only=True: a checkpoint that holds any
    pickled object other than tensors and plain containers is refused (UnpicklingError), never executed."""
    from safetensors.torch import load_model

    load_model(model, str(path / "model.safetensors"), device=str(device))
    saved = torch.load(path / "training_state.pt", map_location=device, weights_only=True)
    optimizer.load_state_dict(saved["optimizer"])
    generator.set_state(saved["generator"].cpu())
    return json.loads((path / "state.json").read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- final model

def save_final(out_dir: Path, model, tokenizer_dir: Path | None, summary: dict,
               max_shard_size: str | None = None) -> Path:
    """HF directory: fp16 weights (config says float32, so they load as fp32), tokenizer, card, manifest.
    max_shard_size splits the weights (e.g. "12MB" to return files under a size limit); with no tokenizer_dir
    only weights, config.json and summary.json are written (a snapshot to fetch from a GPU machine)."""
    from transformers import BertForMaskedLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    half = BertForMaskedLM(model.config)
    half.load_state_dict({k: v.detach().float().cpu() for k, v in model.state_dict().items()})
    half.half()
    kwargs = {"max_shard_size": max_shard_size} if max_shard_size else {}
    half.save_pretrained(str(tmp), safe_serialization=True, **kwargs)
    config = json.loads((tmp / "config.json").read_text(encoding="utf-8"))
    config["dtype"] = "float32"  # stored as fp16 to halve the file, loaded as fp32 by default
    config["architectures"] = ["BertForMaskedLM"]
    (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if tokenizer_dir is None:
        (tmp / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    else:
        copy_tokenizer(tokenizer_dir, tmp)
        write_card_and_manifest(tmp, summary)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.replace(out_dir)
    return out_dir


def copy_tokenizer(source: Path, target: Path) -> None:
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if (source / name).exists():
            shutil.copyfile(source / name, target / name)


def sha256_file(path: Path) -> str:  # (sdk.model_manifest has the same; not imported so a GPU run needs no sdk)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    unigram_row = (f"| unigram baseline (corpus token frequencies) | {base['mlm_loss']:.3f} | "
                   f"{base['masked_token_accuracy']:.3f} | |")
    history = "\n".join(f"| {h['step']:,} | {h['tokens_seen'] / 1e6:,.1f} | {h['minutes']:.1f} | {h['loss']:.3f} | "
                        f"{h['accuracy']:.3f} | {h.get('macro_accuracy', float('nan')):.3f} |"
                        for h in summary["eval_history"])
    per_source = "\n".join(f"| {name} | {m['masked_tokens']:,} | {m['loss']:.3f} | {m['accuracy']:.3f} |"
                           + (f" {summary['compare'][name]['accuracy']:.3f} |" if name in summary.get("compare", {})
                              else " |")
                           for name, m in held["per_source"].items())
    compare_name = summary.get("compare_name", "")
    sources = summary["corpus"]["sources"]
    source_rows = "\n".join(
        f"| {s['name']} | {s['kind']} | {s['weight']} | {s.get('sampling_share') or 0:.3f} | "
        f"{s['train']['tokens']:,} | {s.get('shard_fraction') or 1.0:.2f} | {s['licence']} |" for s in sources)
    notes = "".join(f"- {note}\n" for note in summary.get("notes", []))
    notes = f"## Notes\n\n{notes}\n" if notes else ""
    commands = "\n".join(summary.get("reproduce", [summary["command"]]))
    return f"""# {summary['name']}: small Chinese BERT pretrained in-house (dialogue-aware whole-word masked LM)

A {arch['layers']}-layer, {arch['hidden']}-hidden, {arch['heads']}-head BERT (FFN {arch['intermediate']},
{arch['parameters'] / 1e6:.2f} M parameters, {arch['max_position_embeddings']} positions) with the bert-base-chinese
WordPiece vocabulary ({arch['vocab_size']:,} tokens, Apache-2.0; same ids, so its tokenizer files are interchangeable
with public Chinese BERTs and the SDK's), trained from scratch by whole-word masked language modelling on
{summary['tokens_seen'] / 1e6:,.0f} M tokens ({summary['steps']:,} steps of {summary['training']['batch_size']} x
{summary['training']['max_len']} tokens, {summary['train_minutes']:.1f} minutes on {summary['device']}).

Inputs are dialogue-aware: windows start at a turn and pack turns as `[CLS] turn [SEP] turn [SEP] ...`, with
token_type 0 for the customer/user/client side and 1 for the agent/system/counsellor side (the SDK feeds
`[CLS] context [SEP] utterance [SEP]` with the same types). Whole words (jieba) are masked 80/10/10, drawn anew
for every window.

## Use

```python
from transformers import AutoModel, AutoTokenizer
tokenizer = AutoTokenizer.from_pretrained("models/base/{summary['name']}")
model = AutoModel.from_pretrained("models/base/{summary['name']}")  # fp32; the pooler is newly initialised
```
Weights are stored as fp16 safetensors and load as fp32 (`config.json` says `float32`); `AutoModelForMaskedLM`
loads the MLM head too. Nothing is downloaded.

## Held-out masked-LM quality

Fixed windows and masks from the held-out documents of every source (1 % of each source's documents, never
trained on); {held['masked_tokens']:,} masked tokens. Micro = pooled over all masked tokens, macro = mean over sources.

| model | MLM loss (micro) | masked-token accuracy (micro) | accuracy (macro) |
| --- | --- | --- | --- |
| {summary['name']} | {held['mlm_loss']:.3f} | {held['masked_token_accuracy']:.3f} | {held['macro_accuracy']:.3f} |
{summary.get('compare_row', '')}{unigram_row}

Curve (held-out, same windows and masks at every point):

| step | tokens seen (M) | minutes | loss | accuracy (micro) | accuracy (macro) |
| --- | --- | --- | --- | --- | --- |
{history}

Per source (final):

| source | masked tokens | loss | accuracy | {compare_name} accuracy |
| --- | --- | --- | --- | --- |
{per_source}

## Corpus (`python -m training.corpus`, see data/corpus/manifest.json)

Draw probability per source = weight x full-corpus tokens (share below). `shard` = the fraction of the source's
training documents in the copy that was trained on (a GPU call carries a sample; 1.00 = all).

| source | kind | weight | share | train tokens | shard | licence |
| --- | --- | --- | --- | --- | --- | --- |
{source_rows}

Test (and dev) files of the labelled sets are never read, and any line also found in them, in
`data/splits/*_{{dev,test}}.jsonl` or in the blind set `data/heldout/` is dropped. Most sources are research-only or
state no licence, so **these weights are for research and internal evaluation until the sources are cleared**;
`--permissive-only` (corpus and pretraining) uses the CC0 / Apache / MIT / CC BY sources alone.

{notes}## Reproduce

```
{commands}
```
Training stops by wall-clock time (`--max-minutes`, `--deadline`), so the step count depends on the machine; for a
step-exact rerun give `--max-steps {summary['steps']} --max-minutes 0`. Seed {summary['training']['seed']};
torch {summary['versions']['torch']}, transformers {summary['versions']['transformers']}.
"""


# ----------------------------------------------------------------------------- training loop

def train(settings: TrainSettings, log=print) -> dict:
    from transformers import AutoTokenizer

    use_cuda = torch.cuda.is_available()
    device = torch.device("cuda" if use_cuda else "cpu")
    use_bf16 = use_cuda and not settings.safe
    if use_cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    generator = torch.Generator(device=device).manual_seed(settings.seed)

    def autocast():
        return torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else torch.autocast(device.type, enabled=False)

    if not (settings.corpus_dir / "manifest.json").exists():  # one-command reproduction: build the corpus first
        from training.corpus import DEFAULT_SHARED, build

        log(f"building the corpus into {settings.corpus_dir}")
        build(DEFAULT_SHARED, settings.corpus_dir, permissive_only=settings.permissive_only, log=log)
    manifest = json.loads((settings.corpus_dir / "manifest.json").read_text(encoding="utf-8"))
    tokenizer_dir = settings.corpus_dir / "tokenizer"
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    expected = {"[PAD]": PAD_ID, "[UNK]": UNK_ID, "[CLS]": CLS_ID, "[SEP]": SEP_ID, "[MASK]": MASK_ID}
    actual = {token: tokenizer.convert_tokens_to_ids(token) for token in expected}
    if actual != expected:
        raise ValueError(f"tokenizer in {tokenizer_dir} has special ids {actual}, expected {expected} "
                         "(the bert-base-chinese vocabulary)")
    vocab_size = len(tokenizer)
    sources = select_sources(manifest, settings.permissive_only)
    started = time.monotonic()
    train_store = load_store(settings.corpus_dir, sources, "train", settings.max_len, device)
    heldout_store = load_store(settings.corpus_dir, [s for s in sources if s["heldout"].get("file")], "heldout",
                               settings.max_len, device)
    eval_set = build_eval_set(heldout_store, settings.eval_windows, settings.max_len, settings.mask_prob, vocab_size,
                              settings.whole_word)
    baseline = unigram_baseline(train_store, eval_set, vocab_size)
    log(f"corpus {settings.corpus_dir}: {train_store.tokens:,} train tokens in {len(train_store.sources)} sources, "
        f"{len(eval_set.names)} held-out sources ({baseline['masked_tokens']:,} masked tokens); unigram baseline "
        f"loss {baseline['loss']:.3f} acc {baseline['accuracy']:.4f}; loaded in {time.monotonic() - started:.1f}s")

    model = build_model(settings, vocab_size).to(device)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "LayerNorm" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "LayerNorm" not in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": settings.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=settings.lr, betas=(0.9, 0.98),
                                  eps=1e-6, **({"fused": True} if use_cuda and not settings.safe else {}))
    state = {"step": 0, "tokens_seen": 0, "elapsed_s": 0.0, "history": []}
    checkpoint = settings.out / CHECKPOINT_DIR
    if settings.resume and (checkpoint / "state.json").exists():
        state = load_checkpoint(checkpoint, model, optimizer, generator, device)
        log(f"resumed from {checkpoint} at step {state['step']} ({state['tokens_seen']:,} tokens, "
            f"{state['elapsed_s'] / 60:.1f} min done)")
    n_params = sum(p.numel() for p in model.parameters())
    config = model.config
    log(f"model: {config.num_hidden_layers}x{config.hidden_size} heads={config.num_attention_heads} "
        f"ffn={config.intermediate_size} params={n_params / 1e6:.2f}M device={device} "
        f"batch={settings.batch_size}x{settings.max_len}")
    settings.out.mkdir(parents=True, exist_ok=True)

    def record_eval() -> dict:
        metrics = evaluate(model, eval_set, autocast)
        entry = {"step": state["step"], "tokens_seen": state["tokens_seen"],
                 "minutes": round(state["elapsed_s"] / 60, 2), **metrics}
        state["history"].append(entry)
        log(f"eval step {entry['step']} tokens {entry['tokens_seen'] / 1e6:.1f}M: held-out loss {metrics['loss']:.3f} "
            f"acc {metrics['accuracy']:.4f} (macro {metrics['macro_accuracy']:.4f}; "
            f"unigram {baseline['accuracy']:.4f})")
        return entry

    def summary_now(final: dict) -> dict:
        return run_summary(settings, model, n_params, state, final, baseline, manifest, sources, device,
                           train_store, tokens_per_s)

    def save_all(final_eval: dict | None = None) -> None:
        save_checkpoint(checkpoint, model, optimizer, generator, state)
        if settings.snapshot_dir:
            entry = final_eval or (state["history"][-1] if state["history"] else record_eval())
            save_final(settings.snapshot_dir, model, None, summary_now(entry), max_shard_size="12MB")

    deadline_reserve = 45.0  # seconds kept for the final evaluation and saves
    # GPU: a fixed number of projected positions (masked ones first), 1.4x the expected masked count
    fixed = use_cuda if settings.fixed_predictions is None else settings.fixed_predictions
    max_predictions = math.ceil(1.4 * settings.mask_prob * settings.batch_size * settings.max_len) if fixed else None
    model.train()
    session_start = time.monotonic() - state["elapsed_s"]
    last_eval = last_save = last_log = state["elapsed_s"]
    running = [0.0, 0, 0]
    if not state["history"]:
        record_eval()
    session_tokens, paused = 0, 0.0  # tokens/s counts training steps only, not evaluations and saves
    session_t0 = time.monotonic()
    tokens_per_s = 0.0
    stop_reason = "max steps"
    try:
        while True:
            elapsed = time.monotonic() - session_start
            if settings.max_steps > 0 and state["step"] >= settings.max_steps:
                break
            if settings.max_minutes > 0 and elapsed >= settings.max_minutes * 60:
                stop_reason = "max minutes"
                break
            if settings.deadline and time.time() >= settings.deadline - deadline_reserve:
                stop_reason = "deadline"
                break
            lr = learning_rate(settings, state["step"], elapsed)
            for group in optimizer.param_groups:
                group["lr"] = lr
            starts = sample_starts(train_store, settings.batch_size, generator, settings.max_len)
            window = gather_windows(train_store, starts, settings.max_len)
            inputs, labels = whole_word_mask(window, settings.mask_prob, generator, vocab_size, settings.whole_word)
            with autocast():
                loss, hits, n_masked = masked_lm_loss(model, inputs, window["types"], labels, max_predictions)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            state["step"] += 1
            batch_tokens = settings.batch_size * settings.max_len
            state["tokens_seen"] += batch_tokens
            session_tokens += batch_tokens
            state["elapsed_s"] = time.monotonic() - session_start
            if state["step"] % 20 == 0 or state["step"] <= 2:  # reading the loss waits for the device: not every step
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise FloatingPointError(f"training loss became {value} at step {state['step']}; lower --lr")
                running[0] += value * int(n_masked)
                running[1] += int(hits)
                running[2] += int(n_masked)
            if state["elapsed_s"] - last_log >= 30 or state["step"] == 1:
                if use_cuda:
                    torch.cuda.synchronize()
                tokens_per_s = session_tokens / max(time.monotonic() - session_t0 - paused, 1e-9)
                log(f"step {state['step']} lr {lr:.2e} train loss {running[0] / max(running[2], 1):.3f} "
                    f"acc {running[1] / max(running[2], 1):.4f} tokens {state['tokens_seen'] / 1e6:.1f}M "
                    f"({tokens_per_s:,.0f} tok/s)")
                running = [0.0, 0, 0]
                last_log = state["elapsed_s"]
            if state["elapsed_s"] - last_eval >= settings.eval_every_minutes * 60:
                pause_start = time.monotonic()
                record_eval()
                last_eval = state["elapsed_s"]
                paused += time.monotonic() - pause_start
            if state["elapsed_s"] - last_save >= settings.save_every_minutes * 60:
                pause_start = time.monotonic()
                save_all()
                last_save = state["elapsed_s"]
                paused += time.monotonic() - pause_start
    except Exception as error:  # keep what was learnt: evaluate and save below, then report the failure
        if state["step"] == 0:
            raise
        stop_reason = f"error at step {state['step'] + 1}: {type(error).__name__}: {error}"
        log("training stopped by an error; saving the model of the last completed step\n" + traceback.format_exc())
        optimizer.zero_grad(set_to_none=True)
    if session_tokens:
        tokens_per_s = session_tokens / max(time.monotonic() - session_t0 - paused, 1e-9)
    log(f"stopped ({stop_reason}) at step {state['step']}, {state['tokens_seen']:,} tokens, "
        f"{tokens_per_s:,.0f} tok/s this session")
    last = state["history"][-1] if state["history"] else None
    final = last if last and last["step"] == state["step"] else record_eval()
    save_all(final)
    summary = summary_now(final)
    summary["stop_reason"] = stop_reason
    final_dir = save_final(settings.out / FINAL_DIR, model, tokenizer_dir, summary)
    (settings.out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1) + "\n",
                                               encoding="utf-8")
    log(f"saved {final_dir}")
    if settings.ship_dir:
        ship(final_dir, settings.ship_dir, summary)
        log(f"shipped to {settings.ship_dir}")
    return summary


def run_summary(settings, model, n_params, state, final, baseline, manifest, sources, device, store,
                tokens_per_s) -> dict:
    import transformers

    config = model.config
    name = settings.name or (settings.ship_dir.name if settings.ship_dir else settings.out.name)
    training = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()}
    return {
        "name": name,
        "architecture": {"model_type": "bert", "class": "BertForMaskedLM", "layers": config.num_hidden_layers,
                         "hidden": config.hidden_size, "heads": config.num_attention_heads,
                         "intermediate": config.intermediate_size, "vocab_size": config.vocab_size,
                         "max_position_embeddings": config.max_position_embeddings, "parameters": n_params,
                         "stored_dtype": "float16", "load_dtype": "float32"},
        "training": training,
        "whole_word_masking": "jieba word boundaries precomputed in the corpus" if settings.whole_word else "tokens",
        "inputs": "windows from a turn start, turns packed [CLS] t [SEP] t [SEP]..., token_type = role "
                  "(customer side 0, agent side 1), masks drawn on the device per window",
        "steps": state["step"], "tokens_seen": state["tokens_seen"],
        "train_minutes": round(state["elapsed_s"] / 60, 2), "device": device_name(device),
        "tokens_per_second_last_session": round(tokens_per_s),
        "heldout": {"mlm_loss": final["loss"], "masked_token_accuracy": final["accuracy"],
                    "macro_loss": final["macro_loss"], "macro_accuracy": final["macro_accuracy"],
                    "masked_tokens": final["masked_tokens"], "per_source": final["per_source"],
                    "windows_per_source": settings.eval_windows},
        "unigram_baseline": {"mlm_loss": baseline["loss"], "masked_token_accuracy": baseline["accuracy"],
                             "how": "add-one smoothed token frequencies of the training streams; predicts the most "
                                    "frequent token"},
        "eval_history": [{k: v for k, v in h.items() if k != "per_source"} for h in state["history"]],
        "corpus": {"builder": manifest.get("builder"), "totals": manifest.get("totals"),
                   "permissive_only": settings.permissive_only or manifest.get("permissive_only", False),
                   "train_tokens_loaded": store.tokens, "licence_summary": manifest.get("licence_summary"),
                   "sources": [{k: s.get(k) for k in ("name", "licence", "permissive", "kind", "weight",
                                                      "sampling_share", "shard_fraction")}
                               | {"train": {"tokens": s["train"]["tokens"]}} for s in sources]},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "python": sys.version.split()[0]},
        "command": "python -m training.pretrain " + " ".join(sys.argv[1:]),
    }


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def ship(final_dir: Path, ship_dir: Path, summary: dict | None = None, tokenizer_dir: Path | None = None) -> Path:
    """Copy a final model dir (sharded or not) to ship_dir as one fp16 model.safetensors + tokenizer + card."""
    from transformers import BertForMaskedLM

    if summary is None:  # a snapshot has summary.json, a final dir manifest.json
        source = final_dir / "summary.json"
        summary = json.loads((source if source.exists() else final_dir / "manifest.json").read_text(encoding="utf-8"))
        summary.pop("files", None)
    summary["name"] = ship_dir.name
    model = BertForMaskedLM.from_pretrained(str(final_dir), dtype=torch.float32)
    tokenizer_source = tokenizer_dir or final_dir
    if not (tokenizer_source / "tokenizer.json").exists():
        raise FileNotFoundError(f"no tokenizer.json in {tokenizer_source}; give --tokenizer-dir")
    return save_final(ship_dir, model, tokenizer_source, summary)


def evaluate_models(model_dirs: list[Path], corpus_dir: Path, eval_windows: int, max_len: int,
                    permissive_only: bool, threads: int, log=print) -> dict:
    """Held-out MLM metrics of saved models on the fixed windows and masks that training reports."""
    from transformers import BertForMaskedLM

    torch.set_num_threads(threads)
    manifest = json.loads((corpus_dir / "manifest.json").read_text(encoding="utf-8"))
    sources = [s for s in select_sources(manifest, permissive_only) if s["heldout"].get("file")]
    store = load_store(corpus_dir, sources, "heldout", max_len, torch.device("cpu"))
    train_store = load_store(corpus_dir, select_sources(manifest, permissive_only), "train", max_len,
                             torch.device("cpu"))
    results = {}
    for model_dir in model_dirs:
        model = BertForMaskedLM.from_pretrained(str(model_dir), dtype=torch.float32)
        vocab_size = model.config.vocab_size
        eval_set = build_eval_set(store, eval_windows, max_len, TrainSettings.mask_prob, vocab_size, True)
        if "unigram_baseline" not in results:
            results["unigram_baseline"] = unigram_baseline(train_store, eval_set, vocab_size)
        metrics = evaluate(model, eval_set, lambda: torch.autocast("cpu", enabled=False))
        results[str(model_dir)] = metrics
        log(f"{model_dir}: held-out loss {metrics['loss']:.3f} acc {metrics['accuracy']:.4f} "
            f"(macro {metrics['macro_accuracy']:.4f})")
    return results


def parse_args(argv: list[str] | None = None) -> tuple[TrainSettings, argparse.Namespace]:
    defaults = TrainSettings(out=Path("."))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="run dir: checkpoint/, final/, summary.json")
    parser.add_argument("--corpus-dir", type=Path, default=DEFAULT_CORPUS)
    for name in ("layers", "hidden", "heads", "intermediate", "max_len", "batch_size", "warmup_steps", "max_steps",
                 "eval_windows", "threads", "seed"):
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(defaults, name))
    for name in ("lr", "min_lr_ratio", "weight_decay", "mask_prob", "max_minutes", "deadline", "eval_every_minutes",
                 "save_every_minutes", "dropout"):
        parser.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(defaults, name))
    parser.add_argument("--char-masking", action="store_true", help="mask single tokens instead of whole words")
    parser.add_argument("--safe", action="store_true", help="fp32, eager attention, unfused AdamW (GPU fallback)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint/")
    parser.add_argument("--permissive-only", action="store_true", help="train on CC0/Apache/MIT/CC BY sources only")
    parser.add_argument("--base-model", type=Path, help="continue MLM training from a local HF BERT dir")
    parser.add_argument("--ship-dir", type=Path, help="copy the final model here (e.g. models/base/NAME)")
    parser.add_argument("--ship-from", type=Path, help="only ship: a final model dir (e.g. one returned by a GPU run)")
    parser.add_argument("--tokenizer-dir", type=Path, help="with --ship-from: where tokenizer.json is")
    parser.add_argument("--snapshot-dir", type=Path, help="also write the current model here at every save")
    parser.add_argument("--name", default="")
    parser.add_argument("--evaluate", type=Path, nargs="+", metavar="MODEL_DIR",
                        help="only measure these HF BERT MLM dirs on the held-out set (same windows and masks)")
    args = parser.parse_args(argv)
    if args.evaluate:
        return defaults, args
    if args.ship_from:
        if not args.ship_dir:
            parser.error("--ship-from needs --ship-dir")
        return defaults, args
    if not args.out:
        parser.error("--out is required")
    values = {k: v for k, v in vars(args).items()
              if k not in ("char_masking", "ship_from", "tokenizer_dir", "evaluate")}
    values["whole_word"] = not args.char_masking
    return TrainSettings(**values), args


def main(argv: list[str] | None = None) -> int:
    settings, args = parse_args(argv)

    def log(message: str) -> None:
        print(time.strftime("%H:%M:%S"), message, flush=True)

    if args.evaluate:
        results = evaluate_models(args.evaluate, args.corpus_dir, args.eval_windows, args.max_len,
                                  args.permissive_only, args.threads, log)
        print(json.dumps(results, ensure_ascii=False, indent=1))
        return 0
    if args.ship_from:
        path = ship(args.ship_from, args.ship_dir, tokenizer_dir=args.tokenizer_dir)
        log(f"shipped {args.ship_from} to {path}")
        return 0
    try:
        summary = train(settings, log)
    except Exception:  # the log (often a GPU lease's only output) must say why
        log("training failed:\n" + traceback.format_exc())
        return 1
    print(json.dumps({"steps": summary["steps"], "tokens_seen": summary["tokens_seen"],
                      "tokens_per_second": summary["tokens_per_second_last_session"],
                      "heldout": {k: v for k, v in summary["heldout"].items() if k != "per_source"},
                      "unigram_baseline": summary["unigram_baseline"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
