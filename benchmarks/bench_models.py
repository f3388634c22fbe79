"""Latency, throughput and memory of every engine, on the same inputs, in one run.

    python benchmarks/bench_models.py                          # models/default + build/onnx_fp32 + runs/*
    python benchmarks/bench_models.py --fp32-dir build/onnx_fp32 \
        --torch-compliance runs/compliance --torch-emotion runs/emotion --write benchmarks/RESULTS.md

Each engine runs in its own subprocess (so peak RSS is its own): it loads both
task models, then measures
- single-utterance latency: one (context, utterance) pair per call, 1 thread, p50 / p99;
- batch throughput: all inputs through check_batch in length-sorted batches of 16, 2 threads, utterances/s
  (the SDK's ONNX engine runs 2 one-thread sessions over the batches; `pytorch_fp32` uses torch's 2
  intra-op threads, `pytorch_fp32_workers` the SDK's scheme: 2 one-thread workers over the batches);
- peak RSS (ru_maxrss) of the process at the end.
Also: the time of `import sdk` and of building a Checker(engine="auto"), each
in a fresh interpreter. Targets: p50 <= 3 ms (int8, 1 thread), >= 1,500/s
(int8, 2 threads), int8 >= 4x faster than PyTorch fp32, RSS <= 250 MB.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SAMPLE = [  # used when data/splits is absent
    (None, "您好，很高兴为您服务，请问有什么可以帮您？"), ("[客户已等待约2分钟] 喂？还有人吗？", "好的，我帮您查一下。"),
    ("我的宽带又断了", "喂，说话呀！"), ("我的号码是13800000000", "好的，已经为您登记了，还有其他问题吗？"),
    ("你们服务真好", "不客气，这是我们应该做的。"), ("这都第三次了，什么时候能修好？", "这不归我管，您打别的电话吧。"),
]
HAND_WRITTEN = "<!-- hand-written below: kept when the table above is regenerated -->"
TARGETS = {"p50_ms": 3.0, "throughput": 1500.0, "speedup_vs_torch": 4.0, "rss_mb": 250.0}


# ---------------------------------------------------------------- workers (run in subprocesses)

def _load_inputs(path: str):
    return [tuple(pair) for pair in json.loads(Path(path).read_text(encoding="utf-8"))]


def _torch_engine(dirs: dict, threads: int, workers: bool = False):
    """A minimal engine around the PyTorch checkpoints, same encoding as the SDK. With ``workers``,
    torch gets one intra-op thread and ``threads`` Python threads run the batches (torch releases the GIL
    inside its kernels), the same scheme as the SDK's ONNX engine."""
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification

    from sdk.engines.onnx_engine import WorkerPool, encode, length_batches, pad_batch
    from training.train import load_tokenizer

    torch.set_num_threads(1 if workers else threads)
    pool = WorkerPool(threads) if workers and threads > 1 else None
    models = {t: AutoModelForSequenceClassification.from_pretrained(d).eval() for t, d in dirs.items()}
    tokenizer = load_tokenizer(Path(dirs["compliance"]))
    max_len = json.loads((Path(dirs["compliance"]) / "train_report.json").read_text())["settings"]["max_len"]

    class TorchCompliance:
        def check_batch(self, items, batch_size=16):
            enc = encode(tokenizer, [u for _, u in items], [c for c, _ in items], max_len)
            labels = [None] * len(items)
            if pool is not None:
                batch_size = max(1, min(batch_size, -(-len(items) // threads)))

            def run(index):
                ids, mask, types = (torch.from_numpy(a) for a in pad_batch(
                    [enc.ids[i] for i in index], [enc.type_ids[i] for i in index], 0))
                with torch.inference_mode():
                    logits = models["compliance"](input_ids=ids, attention_mask=mask, token_type_ids=types).logits
                for i, row in zip(index, np.asarray(logits.argmax(-1))):
                    labels[i] = int(row)

            batches = length_batches([len(r) for r in enc.ids], batch_size)
            if pool is None:
                for index in batches:
                    run(index)
            else:
                pool.run_all(run, batches)
            return labels

    return TorchCompliance()


def _engine(kind: str, args):
    from sdk.engines.base import CheckInput

    if kind in ("pytorch_fp32", "pytorch_fp32_workers"):
        engine = _torch_engine({"compliance": args.torch_compliance, "emotion": args.torch_emotion}, args.threads,
                               workers=kind == "pytorch_fp32_workers")
        return lambda pairs: engine.check_batch(pairs)
    if kind == "rules":
        from sdk.engines.rules_engine import RulesEngine

        engine = RulesEngine()
    elif kind in ("onnx_int8", "onnx_int8_bert", "onnx_fp32"):
        from sdk.engines.onnx_engine import OnnxEngine

        engine = OnnxEngine(args.fp32_dir if kind == "onnx_fp32" else args.model_dir, threads=args.threads)
        if kind == "onnx_int8_bert":
            engine.ensemble = {}  # the BERT heads alone: the like-for-like comparison with fp32 and PyTorch
    elif kind == "sdk_auto":
        import sdk

        checker = sdk.Checker(engine="auto", model_dir=args.model_dir, threads=args.threads)
        assert checker.engine == "onnx", f"sdk fell back to {checker.engine}"
        return lambda pairs: checker.check_batch([(u, c) for c, u in pairs])
    else:
        raise ValueError(f"unknown engine {kind!r}")
    return lambda pairs: engine.check_batch([CheckInput(u, c) for c, u in pairs])


def worker(args) -> dict:
    pairs = _load_inputs(args.inputs)
    t0 = time.perf_counter()
    run = _engine(args.worker, args)
    load_s = time.perf_counter() - t0
    out = {"engine": args.worker, "threads": args.threads, "load_s": round(load_s, 3)}
    if args.mode == "latency":
        for pair in pairs[:20]:  # warm-up
            run([pair])
        times = []
        for pair in pairs[:args.single]:
            t = time.perf_counter()
            run([pair])
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        out.update(n=len(times), p50_ms=round(statistics.median(times), 3),
                   p99_ms=round(times[min(len(times) - 1, int(0.99 * len(times)))], 3),
                   mean_ms=round(statistics.fmean(times), 3))
    else:
        run(pairs[:64])  # warm-up
        best = 0.0
        for _ in range(args.repeats):
            t = time.perf_counter()
            run(pairs)
            best = max(best, len(pairs) / (time.perf_counter() - t))
        out.update(n=len(pairs), per_s=round(best, 1))
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def peak_rss_mb() -> float:
    """This process's own peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork+exec,
    so a child would report its parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# ---------------------------------------------------------------- driver

def _inputs(n: int) -> List[list]:
    path = REPO / "data" / "splits" / "compliance_test.jsonl"
    pairs = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            pairs.append([rec.get("context"), rec["utterance"]])
    pairs = pairs or [list(p) for p in SAMPLE]
    while len(pairs) < n:
        pairs += pairs
    return pairs[:n]


def _spawn(args, engine: str, mode: str, threads: int, inputs: str) -> Optional[dict]:
    cmd = [sys.executable, __file__, "--worker", engine, "--mode", mode, "--threads", str(threads),
           "--inputs", inputs, "--single", str(args.single), "--repeats", str(args.repeats),
           "--model-dir", str(args.model_dir), "--fp32-dir", str(args.fp32_dir)]
    if args.torch_compliance:
        cmd += ["--torch-compliance", str(args.torch_compliance), "--torch-emotion", str(args.torch_emotion)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONWARNINGS="ignore", TOKENIZERS_PARALLELISM="false")
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    if run.returncode != 0:
        print(f"  {engine} {mode} failed:\n{run.stderr[-1500:]}", file=sys.stderr)
        return None
    return json.loads(run.stdout.strip().splitlines()[-1])


def _timed_python(code: str, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        run = subprocess.run([sys.executable, "-c", f"import time; t=time.perf_counter(); {code}; "
                              "print(time.perf_counter()-t)"], capture_output=True, text=True, cwd=REPO,
                             env=dict(os.environ, PYTHONWARNINGS="ignore"))
        if run.returncode != 0:
            raise RuntimeError(run.stderr[-800:])
        times.append(float(run.stdout.strip().splitlines()[-1]) * 1000)
    return round(statistics.median(times), 1)


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "os": platform.platform(),
            "load_avg_before": os.getloadavg()}
    for package in ("onnxruntime", "torch"):  # versions without importing them into the driver
        try:
            info[package] = version(package)
        except PackageNotFoundError:
            info[package] = "not installed"
    return info


def markdown(result: dict) -> str:
    m = result["machine"]
    rows = result["engines"]
    lines = ["# Benchmarks: rules vs ONNX int8 vs ONNX fp32 vs PyTorch fp32", "",
             f"Run: `python benchmarks/bench_models.py` ({result['date']}). Same {result['n_batch']} "
             f"(context, utterance) pairs from `data/splits/compliance_test.jsonl` for every engine; compliance "
             "task; each engine in its own process with both task models loaded.", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['os']}; Python {m['python']}, onnxruntime "
             f"{m['onnxruntime']}, torch {m.get('torch', '–')}. Load average before {m['load_avg_before']}, "
             f"after {m.get('load_avg_after')} (the CPU is shared with other jobs, so absolute numbers are "
             "pessimistic).", "",
             "| engine | p50 ms (1 thread) | p99 ms (1 thread) | batch /s (2 threads) | load s | peak RSS MB |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, r in rows.items():
        lat, thr = r.get("latency") or {}, r.get("throughput") or {}
        rss = max(lat.get("peak_rss_mb", 0), thr.get("peak_rss_mb", 0)) or "–"
        lines.append(f"| {name} | {lat.get('p50_ms', '–')} | {lat.get('p99_ms', '–')} | {thr.get('per_s', '–')} | "
                     f"{lat.get('load_s', '–')} | {rss} |")
    lines += ["", f"`import sdk`: {result['import_ms']} ms; `import sdk` + `Checker(engine='auto')` (loads the "
                  f"rulebook and both int8 models): {result['checker_ms']} ms (medians of 5 fresh interpreters).",
              "", "Ratios and targets:", ""]
    lines += [f"- {line}" for line in result["verdicts"]]
    lines += ["", "Notes:", "",
              "- `onnx_int8` is the shipped model engine: int8 BERT blended with the n-gram ensemble member "
              "(numpy) where the manifest has one; `onnx_int8_bert` is the int8 BERT head alone, the "
              "like-for-like comparison with `onnx_fp32` and `pytorch_fp32` (BERT only).",
              "- Latency is one `check_batch([pair])` call on the engine (tokenise, run, softmax, build the "
              "result); `sdk_auto` is the public `Checker(engine='auto').check_batch` path: ONNX + rules + "
              "the emotion of the context's customer words, so it runs two models per call.",
              "- PyTorch fp32 runs the same checkpoints with the same tokenisation and length-sorted batches "
              "(`torch.inference_mode`, SDPA attention); every engine batches 16 at a time, length-sorted. "
              "The ONNX engines spread the batches over 2 one-thread sessions; `pytorch_fp32` uses torch's "
              "2 intra-op threads and `pytorch_fp32_workers` the ONNX engine's scheme (2 one-thread workers); "
              "the 4x verdicts compare with the faster of the two.",
              "- Peak RSS is VmHWM of the engine's own process after both runs' work (both task models "
              "loaded).", "",
              "Reproduce (after `training.export ... --keep-fp32 build/onnx_fp32` and `training.ensemble`, "
              "see `models/default/README.md`):", "", "```", result["command"], "```"]
    return "\n".join(lines) + "\n"


def verdicts(engines: dict) -> List[str]:
    def get(name, mode, key):
        return (engines.get(name, {}).get(mode) or {}).get(key)

    out = []
    p50 = get("onnx_int8", "latency", "p50_ms")
    if p50 is not None:
        out.append(f"ONNX int8 p50 {p50} ms with 1 thread: {'meets' if p50 <= TARGETS['p50_ms'] else 'MISSES'} "
                   f"the <= {TARGETS['p50_ms']} ms target")
    thr = get("onnx_int8", "throughput", "per_s")
    if thr is not None:
        out.append(f"ONNX int8 batch throughput {thr}/s on 2 threads: "
                   f"{'meets' if thr >= TARGETS['throughput'] else 'MISSES'} the >= {TARGETS['throughput']:.0f}/s target")
    for other in ("pytorch_fp32", "pytorch_fp32_workers", "onnx_fp32", "rules"):
        base = "onnx_int8_bert" if other != "rules" and get("onnx_int8_bert", "latency", "p50_ms") else "onnx_int8"
        a, b = get(base, "latency", "p50_ms"), get(other, "latency", "p50_ms")
        ta, tb = get(base, "throughput", "per_s"), get(other, "throughput", "per_s")
        if a and b:
            line = f"{other} / {base} latency (p50): {b / a:.2f}x"
            if ta and tb:
                line += f"; {base} / {other} throughput: {ta / tb:.2f}x"
            out.append(line)
    # The 4x target, against PyTorch's best configuration on each measure (the faster of its two batch schemes).
    base = "onnx_int8_bert" if get("onnx_int8_bert", "latency", "p50_ms") else "onnx_int8"
    torch_p50 = [v for v in (get(n, "latency", "p50_ms") for n in ("pytorch_fp32", "pytorch_fp32_workers")) if v]
    torch_thr = [v for v in (get(n, "throughput", "per_s") for n in ("pytorch_fp32", "pytorch_fp32_workers")) if v]
    a, ta = get(base, "latency", "p50_ms"), get(base, "throughput", "per_s")
    target = TARGETS["speedup_vs_torch"]
    if a and torch_p50:
        r = min(torch_p50) / a
        out.append(f"int8 vs PyTorch fp32, single-utterance latency: {r:.2f}x "
                   f"({'meets' if r >= target else 'MISSES'} the >= {target:.0f}x target)")
    if ta and torch_thr:
        r = ta / max(torch_thr)
        out.append(f"int8 vs PyTorch fp32 (its faster scheme), batch throughput: {r:.2f}x "
                   f"({'meets' if r >= target else 'MISSES'} the >= {target:.0f}x target)")
    rss = max((get("onnx_int8", m, "peak_rss_mb") or 0) for m in ("latency", "throughput"))
    if rss:
        out.append(f"ONNX int8 peak RSS with both models loaded {rss} MB: "
                   f"{'meets' if rss <= TARGETS['rss_mb'] else 'MISSES'} the <= {TARGETS['rss_mb']:.0f} MB target")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", type=Path, default=REPO / "models" / "default")
    ap.add_argument("--fp32-dir", type=Path, default=REPO / "build" / "onnx_fp32")
    ap.add_argument("--torch-compliance", type=Path, default=REPO / "runs" / "compliance")
    ap.add_argument("--torch-emotion", type=Path, default=REPO / "runs" / "emotion")
    ap.add_argument("--engines",
                    default="rules,onnx_int8,onnx_int8_bert,onnx_fp32,pytorch_fp32,pytorch_fp32_workers,sdk_auto")
    ap.add_argument("--single", type=int, default=300, help="single-utterance calls timed per engine")
    ap.add_argument("--batch", type=int, default=1024, help="pairs in the throughput run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--write", type=Path, help="write the markdown report here (e.g. benchmarks/RESULTS.md)")
    ap.add_argument("--json", type=Path, help="also write the raw results as JSON")
    # worker mode (internal)
    ap.add_argument("--worker")
    ap.add_argument("--mode", choices=("latency", "throughput"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--inputs")
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0

    engines = [e for e in args.engines.split(",") if e]
    if not (args.torch_compliance / "config.json").is_file():
        for name in ("pytorch_fp32", "pytorch_fp32_workers"):
            if name in engines:
                print(f"skipping {name}: no checkpoint at {args.torch_compliance}", file=sys.stderr)
                engines.remove(name)
        args.torch_compliance = None
    if "onnx_fp32" in engines and not (args.fp32_dir / "manifest.json").is_file():
        print(f"skipping onnx_fp32: no model at {args.fp32_dir} (export with --keep-fp32)", file=sys.stderr)
        engines.remove("onnx_fp32")
    info = machine()
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": info, "engines": {},
              "n_batch": args.batch, "command": " ".join(["python benchmarks/bench_models.py", *(argv or sys.argv[1:])])}
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "inputs.json"
        inputs.write_text(json.dumps(_inputs(max(args.batch, args.single + 20)), ensure_ascii=False),
                          encoding="utf-8")
        for engine in engines:
            print(f"{engine} ...", file=sys.stderr)
            result["engines"][engine] = {
                "latency": _spawn(args, engine, "latency", 1, str(inputs)),
                "throughput": _spawn(args, engine, "throughput", 2, str(inputs)),
            }
            print(f"  {result['engines'][engine]}", file=sys.stderr)
    result["import_ms"] = _timed_python("import sdk")
    result["checker_ms"] = _timed_python(f"import sdk; sdk.Checker(engine='auto', model_dir={str(args.model_dir)!r})")
    info["load_avg_after"] = os.getloadavg()
    result["verdicts"] = verdicts(result["engines"])
    text = markdown(result)
    print(text)
    if args.write:
        # Keep the hand-written analysis below the marker across re-runs.
        old = args.write.read_text(encoding="utf-8") if args.write.is_file() else ""
        if HAND_WRITTEN in old:
            text += "\n" + old[old.index(HAND_WRITTEN):]
        args.write.write_text(text, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
