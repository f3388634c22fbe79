"""The public Checker path, this tree against an older commit, measured in one run (one process).

    python benchmarks/bench_checker.py                  # against 56bf5fd (main before issue 9)
    python benchmarks/bench_checker.py --baseline REF --rounds 6 --n 120

The baseline commit's ``sdk/`` is extracted and imported under another name (``sdk_baseline``), so
both versions run in the same process on the same records and the same model (the baseline's
``models/default``), one thread each, alternating block by block: load on a shared CPU falls on
both alike. Each round uses records not seen before (the compliance train+dev+test splits, with
their string contexts), so neither side answers from its caches. Reported per engine ("rules";
"auto" = model + rules + context emotion): the median over rounds of the per-call p50 of
``check(u, context)`` and of ``check_batch`` throughput, and the ratios new / old.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from training.dataset import split_path  # noqa: E402
from training.validate import open_text  # noqa: E402
BASELINE = "56bf5fd"  # main before issue 9 ("Make room for conversations")
Pair = Tuple[str, Optional[str]]


def load_baseline(ref: str, root: Path) -> Tuple[Any, Path]:
    """The baseline's sdk package (imported as sdk_baseline) and its default model directory."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "sdk", "models/default"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    (root / "sdk").rename(root / "sdk_baseline")  # it imports itself relatively only
    sys.path.insert(0, str(root))
    return importlib.import_module("sdk_baseline"), root / "models" / "default"


def records(n_total: int) -> List[Pair]:
    out: List[Pair] = []
    for split in ("test", "dev", "train"):
        with open_text(split_path("compliance", split)) as fh:  # the train split is .jsonl.xz
            out.extend((r["utterance"], r.get("context")) for r in map(json.loads, fh))
    seen, unique = set(), []
    for pair in out:  # distinct records, so a later round never hits an earlier round's caches
        key = json.dumps(pair, ensure_ascii=False)  # a context may be a list of turns
        if key not in seen:
            seen.add(key)
            unique.append(pair)
    if len(unique) < n_total:
        raise SystemExit(f"only {len(unique)} distinct records; lower --n or --rounds")
    return unique[:n_total]


def single_p50_ms(checker: Any, pairs: List[Pair]) -> float:
    lat = []
    for u, c in pairs:
        t = time.perf_counter_ns()
        checker.check(u, c)
        lat.append(time.perf_counter_ns() - t)
    return statistics.median(lat) / 1e6


def batch_per_s(checker: Any, pairs: List[Pair]) -> float:
    t = time.perf_counter()
    checker.check_batch(pairs)
    return len(pairs) / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", default=BASELINE, help="git commit to compare against")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--n", type=int, default=120, help="records per side per round (single calls, then batch)")
    p.add_argument("--engines", nargs="+", default=["rules", "auto"])
    args = p.parse_args()
    sys.path.insert(0, str(REPO))
    import sdk

    with tempfile.TemporaryDirectory(prefix="bench_checker_") as tmp:
        old_sdk, model_dir = load_baseline(args.baseline, Path(tmp))
        per_engine = 4 * args.n * args.rounds  # each side: single + batch blocks, fresh records
        data = records(per_engine * len(args.engines))
        print(f"{args.baseline} (old) vs this tree (new): {args.rounds} rounds x {args.n} fresh compliance records "
              f"per side and mode, 1 thread, model {args.baseline}:models/default")
        summary: Dict[str, Dict[str, float]] = {}
        for e, engine in enumerate(args.engines):
            chunk = iter([data[i:i + args.n] for i in range(e * per_engine, (e + 1) * per_engine, args.n)])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                kwargs: Dict[str, Any] = {"engine": engine, "threads": 1}
                if engine != "rules":
                    kwargs["model_dir"] = model_dir
                sides = {"old": old_sdk.Checker(**kwargs), "new": sdk.Checker(**kwargs)}
            warm = data[:50]
            for checker in sides.values():  # load lazily built parts (rulebook, sessions) before timing
                checker.check_batch(warm)
            got: Dict[str, Dict[str, List[float]]] = {name: {"p50_ms": [], "per_s": []} for name in sides}
            for r in range(args.rounds):
                order = ("old", "new") if r % 2 == 0 else ("new", "old")
                for name in order:
                    got[name]["p50_ms"].append(single_p50_ms(sides[name], next(chunk)))
                for name in order:
                    got[name]["per_s"].append(batch_per_s(sides[name], next(chunk)))
            med = {name: {k: statistics.median(v) for k, v in d.items()} for name, d in got.items()}
            lat = med["new"]["p50_ms"] / med["old"]["p50_ms"]
            thr = med["new"]["per_s"] / med["old"]["per_s"]
            summary[engine] = {"latency_new_over_old": round(lat, 3), "throughput_new_over_old": round(thr, 3)}
            print(f"engine={engine:<5} [{sides['new'].engine}]  single-call p50: old {med['old']['p50_ms']:.3f} ms, "
                  f"new {med['new']['p50_ms']:.3f} ms, new/old {lat:.2f}  |  check_batch: old "
                  f"{med['old']['per_s']:.0f}/s, new {med['new']['per_s']:.0f}/s, new/old {thr:.2f}")
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
