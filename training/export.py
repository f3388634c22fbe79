"""Export fine-tuned checkpoints to one int8 ONNX model directory the SDK can ship.

    python -m training.export --compliance runs/compliance --emotion runs/emotion --out models/default
    python -m training.export ... --keep-fp32 build/onnx_fp32      # also keep the fp32 ONNX (benchmarks)

Per task: torch.onnx.export (dynamic batch and sequence axes) -> ONNX Runtime
transformer graph optimisation (fused attention, layer norm, GELU) -> dynamic
int8 quantisation. A parity gate then runs PyTorch and the int8 model on the
test split: they must agree on >= 99% of labels and macro-F1 may drop by at
most 1 point. If quantising the embedding table breaks parity, the export
retries with embeddings left in fp32; if that fails too, the export fails
(exit code 3) and nothing is written to --out.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from sdk.engines.onnx_engine import TaskModel, load_tokenizer, make_session
from sdk.tasks import TASK_LABELS
from sdk.model_manifest import TASK_INPUTS, sha256_file, write_manifest

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "models" / "default"
DEFAULT_OPSET = 17
LABELS = TASK_LABELS
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
# Files an export may replace in --out; anything else there makes the export refuse to touch it.
OWNED_PATTERNS = ("*.onnx", "tokenizer.json", "manifest.json", "README.md", "*.png")
# Ensemble members (training.ensemble) are fitted against one exported model: a new export makes
# their dev-chosen weight stale, so they are removed and `python -m training.ensemble` must be re-run.
STALE_PATTERNS = ("ngram_*.json", "ngram_*.f16")


class ParityError(RuntimeError):
    """The int8 model disagrees with PyTorch more than the gate allows."""


@dataclass
class QuantSettings:
    """How the int8 model was made; stored in the manifest next to the artifact."""
    method: str = "onnxruntime.quantization.quantize_dynamic"
    weight_type: str = "QInt8"
    activations: str = "uint8, dynamic per-batch scale"
    per_channel: bool = False
    reduce_range: bool = False
    quantize_embeddings: bool = True
    op_types: List[str] = field(default_factory=lambda: ["MatMul", "Attention", "Gather", "EmbedLayerNormalization"])

    def for_embeddings(self, on: bool) -> "QuantSettings":
        ops = [op for op in self.op_types if op not in ("Gather", "EmbedLayerNormalization")]
        if on:
            ops += ["Gather", "EmbedLayerNormalization"]
        return QuantSettings(**{**asdict(self), "quantize_embeddings": on, "op_types": ops})


@dataclass
class Gate:
    min_agreement: float = 0.99
    max_f1_drop: float = 0.01  # absolute, i.e. 1 point of macro-F1

    def __post_init__(self):
        if not 0 < self.min_agreement <= 1:
            raise ValueError(f"min_agreement must be in (0, 1], got {self.min_agreement!r}")
        if not 0 <= self.max_f1_drop < 1:
            raise ValueError(f"max_f1_drop must be in [0, 1), got {self.max_f1_drop!r}")

    def failures(self, parity: dict) -> List[str]:
        out = []
        if parity["agreement"] < self.min_agreement:
            out.append(f"int8 and PyTorch agree on {parity['agreement']:.2%} of labels "
                       f"(gate: >= {self.min_agreement:.0%})")
        if parity["macro_f1_drop"] > self.max_f1_drop:
            out.append(f"macro-F1 drops by {parity['macro_f1_drop'] * 100:.2f} points "
                       f"({parity['macro_f1_torch']:.4f} -> {parity['macro_f1_int8']:.4f}; gate: <= "
                       f"{self.max_f1_drop * 100:.1f})")
        return out


# ---------------------------------------------------------------- steps

def load_torch_model(model_dir: Path, task: str):
    import torch
    from transformers import AutoModelForSequenceClassification

    from training.train import quiet_transformers

    quiet_transformers()
    # Eager attention traces to the MatMul/Softmax pattern ORT's optimizer fuses into one Attention op.
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, attn_implementation="eager",
                                                               dtype=torch.float32).eval()
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    if labels != list(LABELS[task]):
        raise ValueError(f"{model_dir} is not a {task} model: its labels are {labels}, expected "
                         f"{list(LABELS[task])} (in that order)")
    return model


def export_fp32(model, path: Path, opset: int) -> None:
    import torch

    ids = torch.tensor([[101, 2110, 102, 2769, 102, 0], [101, 872, 1962, 102, 0, 0]], dtype=torch.long)
    ids = ids % model.config.vocab_size
    mask = (ids != 0).long()
    types = torch.tensor([[0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 0, 0]], dtype=torch.long)
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}
    axes["logits"] = {0: "batch"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about python-side shape checks
        torch.onnx.export(model, (ids, mask, types), str(path), dynamo=False, opset_version=opset,
                          input_names=list(INPUT_NAMES), output_names=["logits"], dynamic_axes=axes,
                          do_constant_folding=True)


# Left unfused: ONNX Runtime's CPU SkipLayerNormalization kernel measured 4-5x slower than the plain
# Add + LayerNormalization it replaces (ORT 1.32, hidden 256: 83 vs 20 us for 54 tokens), which made
# the whole 2-layer int8 model ~30% slower. The SDK's sessions disable the same fusion at load time.
UNFUSED = ("SkipLayerNormalization",)


def optimize_graph(src: Path, dst: Path, config) -> Dict[str, int]:
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.enable_skip_layer_norm = False
    optimized = optimize_model(str(src), model_type="bert", num_heads=config.num_attention_heads,
                               hidden_size=config.hidden_size, optimization_options=options)
    optimized.save_model_to_file(str(dst))
    return {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}


def quantize(src: Path, dst: Path, settings: QuantSettings) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=getattr(QuantType, settings.weight_type),
                     per_channel=settings.per_channel, reduce_range=settings.reduce_range,
                     op_types_to_quantize=settings.op_types,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def torch_logits(model, tokenizer, task: str, records: Sequence[dict], max_len: int,
                 input_format: str = "raw") -> np.ndarray:
    from training.train import Batches, predict_logits

    return predict_logits(model, Batches(tokenizer, task, records, max_len, input_format), 64, "cpu")


def onnx_logits(path: Path, tokenizer, task: str, records: Sequence[dict], max_len: int,
                threads: Optional[int] = None, input_format: str = "raw") -> np.ndarray:
    from training.train import record_inputs

    texts, contexts, _ = record_inputs(task, records)
    runner = TaskModel(make_session(path, threads), tokenizer, LABELS[task], max_len, TASK_INPUTS[task] == "pair",
                       task, batch_size=64, input_format=input_format)
    return runner.predict_logits(texts, contexts)[0]


def parity_report(reference: np.ndarray, candidate: np.ndarray, gold: np.ndarray) -> dict:
    from training.train import macro_f1

    ref_pred, cand_pred = reference.argmax(-1), candidate.argmax(-1)
    f1_ref = macro_f1(gold, ref_pred, reference.shape[1])
    f1_cand = macro_f1(gold, cand_pred, reference.shape[1])
    return {"n": int(len(gold)), "agreement": round(float((ref_pred == cand_pred).mean()), 4),
            "macro_f1_torch": round(f1_ref, 4), "macro_f1_int8": round(f1_cand, 4),
            "macro_f1_drop": round(f1_ref - f1_cand, 4),
            "max_abs_logit_diff": round(float(np.abs(reference - candidate).max()), 4)}


# ---------------------------------------------------------------- one task

def export_task(task: str, model_dir: Path, work: Path, records: Sequence[dict], max_len: int, opset: int,
                quant: QuantSettings, gate: Gate, log=print, input_format: str = "raw") -> dict:
    """Export, optimise, quantise and gate one task; returns its manifest entry (file in ``work``)."""
    from training.train import record_inputs

    model = load_torch_model(model_dir, task)
    tokenizer = load_tokenizer(model_dir / "tokenizer.json")
    raw, fp32, int8 = work / f"{task}.raw.onnx", work / f"{task}.fp32.onnx", work / f"{task}.int8.onnx"
    t0 = time.monotonic()
    export_fp32(model, raw, opset)
    fused = optimize_graph(raw, fp32, model.config)
    log(f"{task}: exported and optimised in {time.monotonic() - t0:.1f}s; fused ops {fused}")
    reference = torch_logits(model, tokenizer, task, records, max_len, input_format)
    gold = record_inputs(task, records)[2]
    fp32_parity = parity_report(reference, onnx_logits(fp32, tokenizer, task, records, max_len,
                                                       input_format=input_format), gold)
    log(f"{task}: fp32 ONNX vs PyTorch {fp32_parity}")

    attempts = [quant.for_embeddings(True), quant.for_embeddings(False)] if quant.quantize_embeddings \
        else [quant.for_embeddings(False)]
    problems = []
    for settings in attempts:
        quantize(fp32, int8, settings)
        parity = parity_report(reference, onnx_logits(int8, tokenizer, task, records, max_len,
                                                      input_format=input_format), gold)
        failed = gate.failures(parity)
        log(f"{task}: int8 (embeddings {'int8' if settings.quantize_embeddings else 'fp32'}) vs PyTorch {parity}")
        if not failed:
            return {"file": int8.name, "labels": list(LABELS[task]), "max_len": max_len,
                    "inputs": TASK_INPUTS[task], "input_format": input_format,
                    "quantization": asdict(settings), "fused_ops": fused,
                    "unfused_on_purpose": list(UNFUSED),
                    "parity": {"int8_vs_torch": parity, "fp32_onnx_vs_torch": fp32_parity,
                               "records": "test split" if records else "none"},
                    "bytes": int8.stat().st_size, "fp32_bytes": fp32.stat().st_size}
        problems.append(f"embeddings {'int8' if settings.quantize_embeddings else 'fp32'}: " + "; ".join(failed))
    raise ParityError(f"{task}: int8 model fails the parity gate on {len(records)} test records: "
                      + " | ".join(problems))


RUN_ONLY_SETTINGS = ("task", "out", "base_model", "data_dir", "device", "threads", "eval_batch_size")


def training_info(model_dir: Path) -> dict:
    path = model_dir / "train_report.json"
    if not path.is_file():
        return {}
    report = json.loads(path.read_text(encoding="utf-8"))
    keep = ("best", "records", "data_sources", "base_model", "architecture", "stop_reason", "minutes", "device")
    info = {k: report[k] for k in keep if k in report}
    # Every setting that changes the model; where and how fast it ran (paths, device, threads) does not.
    info["settings"] = {k: v for k, v in report.get("settings", {}).items() if k not in RUN_ONLY_SETTINGS}
    return info


def prepare_out(out: Path, log=print) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for path in out.iterdir():
        if not any(path.match(p) for p in OWNED_PATTERNS + STALE_PATTERNS):
            raise ValueError(f"refusing to export into {out}: it holds {path.name}, which an export does not "
                             f"write; use an empty directory or one made by training.export")
    stale = [p for pattern in STALE_PATTERNS for p in out.glob(pattern)]
    if stale:
        log(f"removed ensemble members fitted to the previous model ({', '.join(p.name for p in stale)}); "
            "re-run `python -m training.ensemble` after this export")
    for path in list(out.glob("*.onnx")) + stale:
        path.unlink()


def reused_tasks(reuse: Path, out: Path, retrained: Sequence[str]) -> Dict[str, dict]:
    """The manifest entries of ``reuse``'s tasks that are not being retrained (its files verified)."""
    from sdk.model_manifest import load_manifest

    if Path(reuse).resolve() == Path(out).resolve():
        raise ValueError(f"--reuse {reuse} is the --out directory; export into another one")
    manifest = load_manifest(reuse)  # verifies every file's sha256 and refuses pickles
    return {t: dict(e) for t, e in manifest.data["tasks"].items() if t not in retrained}


def export(model_dirs: Dict[str, Path], out: Path, opset: int = DEFAULT_OPSET, quant: Optional[QuantSettings] = None,
           gate: Optional[Gate] = None, keep_fp32: Optional[Path] = None, data_dir: Optional[Path] = None,
           version: str = "0.1.0", records: Optional[Dict[str, Sequence[dict]]] = None, log=print,
           reuse: Optional[Path] = None) -> dict:
    """Export every task in ``model_dirs`` into ``out`` (all tasks must share one tokenizer); with ``reuse``, a
    model directory's other tasks are copied over as they are (retrain one task, keep the other)."""
    from training.dataset import load

    if opset < 14:
        raise ValueError(f"opset must be >= 14 (fused attention and int8 ops need it), got {opset}")
    quant, gate = quant or QuantSettings(), gate or Gate()
    reused = reused_tasks(reuse, out, list(model_dirs)) if reuse else {}
    tokenizer_hashes = {task: sha256_file(Path(d) / "tokenizer.json") for task, d in model_dirs.items()}
    tokenizer_hashes.update({task: sha256_file(Path(reuse) / "tokenizer.json") for task in reused})
    if len(set(tokenizer_hashes.values())) != 1:
        raise ValueError(f"the tasks' tokenizer.json files differ ({tokenizer_hashes}); one model directory "
                         "ships one tokenizer, so fine-tune every task from the same base model")
    tasks, infos = {}, {}
    with tempfile.TemporaryDirectory(prefix="export-") as tmp:
        work = Path(tmp)
        for task, model_dir in model_dirs.items():
            model_dir = Path(model_dir)
            info = training_info(model_dir)
            max_len = int(info.get("settings", {}).get("max_len") or 128)
            test = records[task] if records else load(task, "test", data_dir=data_dir)
            input_format = info.get("settings", {}).get("input_format") or "raw"  # runs before issue 11: raw
            tasks[task] = export_task(task, model_dir, work, test, max_len, opset, quant, gate, log, input_format)
            tasks[task]["training"] = info
            infos[task] = info
        prepare_out(out, log)
        for task, entry in tasks.items():
            shutil.copyfile(work / entry["file"], out / entry["file"])
            if keep_fp32:
                Path(keep_fp32).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(work / f"{task}.fp32.onnx", Path(keep_fp32) / f"{task}.fp32.onnx")
        fp32_tasks = {t: dict(e, file=f"{t}.fp32.onnx", quantization=None) for t, e in tasks.items()}
        for task, entry in reused.items():
            shutil.copyfile(Path(reuse) / entry["file"], out / entry["file"])
            tasks[task], infos[task] = entry, entry.get("training", {})
            log(f"{task}: reused from {reuse} as it is")
        shutil.copyfile(Path(next(iter(model_dirs.values()))) / "tokenizer.json", out / "tokenizer.json")
        if keep_fp32:
            shutil.copyfile(out / "tokenizer.json", Path(keep_fp32) / "tokenizer.json")
    tasks = {t: tasks[t] for t in LABELS if t in tasks}  # the tasks' usual order, reused ones included
    manifest = build_manifest(tasks, infos, opset, version)
    write_manifest(out, manifest)
    if keep_fp32:  # the tasks exported now (a reused one has no fp32 graph here)
        write_manifest(keep_fp32, build_manifest(fp32_tasks, {t: infos[t] for t in fp32_tasks}, opset, version,
                                                   note="fp32, not shipped"))
    return manifest


def build_manifest(tasks: dict, infos: dict, opset: int, version: str, note: Optional[str] = None) -> dict:
    import onnxruntime
    import torch
    import transformers

    sources: Dict[tuple, int] = {}
    for info in infos.values():
        for src in info.get("data_sources", []):
            key = (src["source"], src["license"])
            sources[key] = sources.get(key, 0) + src["records"]
    base = next((i["base_model"] for i in infos.values() if "base_model" in i), None)
    data = {
        "version": version,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tokenizer": "tokenizer.json",
        "opset": opset,
        "base_model": base,
        "tasks": tasks,
        "training_data": [{"source": s, "license": lic, "records": n} for (s, lic), n in sorted(sources.items())],
        "exported_with": {"torch": torch.__version__, "transformers": transformers.__version__,
                          "onnxruntime": onnxruntime.__version__},
    }
    if note:
        data["note"] = note
    return data


# ---------------------------------------------------------------- CLI

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compliance", type=Path, help="fine-tuned compliance model directory (training.train --out)")
    ap.add_argument("--emotion", type=Path, help="fine-tuned emotion model directory")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--keep-fp32", type=Path, help="also write the fp32 ONNX models here (not shipped)")
    ap.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    ap.add_argument("--no-quantize-embeddings", action="store_true", help="keep the embedding table in fp32")
    ap.add_argument("--per-channel", action="store_true")
    ap.add_argument("--min-agreement", type=float, default=0.99)
    ap.add_argument("--max-f1-drop", type=float, default=0.01, help="absolute macro-F1 drop allowed (0.01 = 1 point)")
    ap.add_argument("--data-dir", type=Path, help="directory holding splits/ (default: data/)")
    ap.add_argument("--version", default="0.1.0", help="model version written to the manifest")
    ap.add_argument("--reuse", type=Path, help="a model directory whose other tasks are copied as they are "
                                                "(e.g. --emotion runs/emotion-s4 --reuse models/default)")
    args = ap.parse_args(argv)
    model_dirs = {t: d for t, d in (("compliance", args.compliance), ("emotion", args.emotion)) if d}
    if not model_dirs:
        ap.error("give --compliance and/or --emotion model directories")
    try:
        quant = QuantSettings(per_channel=args.per_channel, quantize_embeddings=not args.no_quantize_embeddings)
        manifest = export(model_dirs, args.out, args.opset, quant, Gate(args.min_agreement, args.max_f1_drop),
                          args.keep_fp32, args.data_dir, args.version, reuse=args.reuse)
    except ParityError as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 3
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sizes = ", ".join(f"{t}: {e['bytes'] / 1e6:.1f} MB" for t, e in manifest["tasks"].items())
    print(f"wrote {args.out} ({sizes})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
