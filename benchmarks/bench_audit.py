"""Whole-call audit speed, measured in one run: 30-turn calls (15 agent + 15 customer turns, timed,
with a hold), audited through ``Checker.audit_batch``.

    python benchmarks/bench_audit.py [--calls 400] [--latency-runs 60] [--baseline DIR]

Reports calls/s with the model (``engine="auto"``, 2 threads) and rules-only (one process, and two
processes for the 2 cores), and the p50 / p90 of one 30-turn ``audit`` on 1 thread. Each mode runs in
its own process. Targets (issue 12): >= 100 calls/s with the model, >= 2,000 calls/s rules-only,
on 2 cores.

Every throughput row also gives the CPU time per call (the process's CPU seconds / calls): on a
machine shared with other jobs, calls/s measures the contention, CPU ms per call the work.
``--baseline DIR`` (a checkout of an earlier commit, e.g. ``git worktree add /tmp/base <rev>``) runs
every mode on that tree's ``sdk`` too, alternating with this tree's, and prints new/old ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from typing import List, Tuple

CUSTOMER = [
    "你好，我家停电了，想问一下什么时候能来电。", "我的订单号是{n}，一直没发货。", "我这个月话费怎么多扣了{k}块？",
    "好的。", "那大概要多久？", "你们这效率也太慢了吧，每次都说马上。", "身份证后四位是{k}{k}。", "可以，我等一下。",
    "地址是幸福路{k}号。", "我想改一下收货地址。", "好的，谢谢你。", "怎么还没到啊，我急着用。", "手机号是138{n}。",
    "没有了，谢谢。", "那我明天再打过来问问？", "我之前已经打过两次电话了。", "行，那你帮我登记一下。",
]
AGENT = [
    "好的，请您提供一下订单号，好吗？", "谢谢您，我帮您查询一下，对不起，请您稍等片刻，好吗？",
    "对不起，让您久等了，您的订单已经在配送中了，预计明天送达。", "非常抱歉给您带来不便，我马上为您登记加急处理。",
    "好的，谢谢您的配合，我已经为您修改了收货地址。", "请问还有什么可以帮您？", "不客气，感谢您的来电，再见！",
    "您好，请您把身份证后四位告诉我，我帮您核实一下。", "维修人员预计下午三点前到达，请您保持电话畅通。",
    "这个费用是上个月的流量套餐外费用，共{k}元。", "我理解您的心情，我会把您的情况反馈给相关部门。",
    "好的，已经为您记录下来了，谢谢您。", "对不起，给您添麻烦了，我们会在二十四小时内给您答复。",
]


def make_call(i: int, rng: random.Random) -> dict:
    turns, t = [], 0.5
    agent_text = "您好，星河电力客服中心，工号{}，很高兴为您服务，请问有什么可以帮您？".format(1000 + i % 900)
    for k in range(15):
        if k:
            agent_text = rng.choice(AGENT).format(k=rng.randint(10, 99), n=rng.randint(10 ** 7, 10 ** 8))
        dur = max(1.5, len(agent_text) / 4.5)
        turns.append({"role": "agent", "text": agent_text, "start": round(t, 2), "end": round(t + dur, 2)})
        t += dur + 0.4
        if k == 7:
            turns.append({"role": "event", "text": "hold", "start": round(t, 2), "end": round(t + 30, 2)})
            t += 30.5
        text = rng.choice(CUSTOMER).format(k=rng.randint(10, 99), n=rng.randint(10 ** 7, 10 ** 8))
        dur = max(1.0, len(text) / 4.5)
        turns.append({"role": "customer", "text": text, "start": round(t, 2), "end": round(t + dur, 2)})
        t += dur + 0.4
    return {"id": f"bench-{i}", "channel": "phone", "ring_seconds": 6.0, "agent_id": f"A{i % 7}", "turns": turns}


def calls(n: int, seed: int = 7) -> List[dict]:
    rng = random.Random(seed)
    return [make_call(i, rng) for i in range(n)]


# ----------------------------------------------------------------------------- workers (subprocesses)
def _throughput(engine: str, threads: int, n: int, chunk: int, part: int = 0, parts: int = 1) -> dict:
    import sdk

    checker = sdk.Checker(engine=engine, threads=threads if engine != "rules" else None)
    batch = calls(n)[part::parts]
    checker.audit_batch(batch[:chunk])  # warm-up: rulebook, sessions, caches
    t, cpu = time.perf_counter(), time.process_time()
    done = 0
    for k in range(0, len(batch), chunk):
        done += len(checker.audit_batch(batch[k:k + chunk]))
    dt = time.perf_counter() - t
    return {"engine": checker.engine, "calls": done, "seconds": dt, "calls_per_s": done / dt,
            "cpu_s": time.process_time() - cpu}


def _latency(engine: str, runs: int) -> dict:
    import sdk

    checker = sdk.Checker(engine=engine, threads=1 if engine != "rules" else None)
    batch = calls(runs + 5, seed=11)
    for c in batch[:5]:
        checker.audit(c)
    lat, cpu = [], []
    for c in batch[5:]:
        t, p = time.perf_counter(), time.process_time()
        checker.audit(c)
        lat.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - p) * 1000)
    lat.sort()
    return {"engine": checker.engine, "p50_ms": statistics.median(lat), "p90_ms": lat[int(len(lat) * 0.9)],
            "cpu_p50_ms": statistics.median(cpu)}


HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # this tree: its sdk is measured


def _env(tree: str) -> dict:
    # PYTHONPATH first: the venv's editable install may point at another checkout
    return dict(os.environ, PYTHONWARNINGS="ignore", TOKENIZERS_PARALLELISM="false", PYTHONPATH=tree)


def _spawn(args: List[str], tree: str = HERE) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True, text=True,
                         env=_env(tree), cwd=tree, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _parallel(args: List[str], parts: int, tree: str = HERE) -> dict:
    """``parts`` rules-only processes side by side, each on its share of the calls."""
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", *args, "--part", str(p), "--parts", str(parts)],
                              stdout=subprocess.PIPE, text=True, env=_env(tree), cwd=tree) for p in range(parts)]
    outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    total = sum(o["calls"] for o in outs)
    slowest = max(o["seconds"] for o in outs)
    return {"engine": outs[0]["engine"], "calls": total, "seconds": slowest, "calls_per_s": total / slowest,
            "cpu_s": sum(o["cpu_s"] for o in outs)}


def _modes(a: argparse.Namespace, tree: str) -> Tuple[dict, dict]:
    rows = {
        "model, 1 process, 2 threads": _spawn(["throughput", "auto", "2", "--calls", str(a.calls)], tree),
        "rules, 1 process": _spawn(["throughput", "rules", "1", "--calls", str(a.calls * 4)], tree),
        "rules, 2 processes": _parallel(["throughput", "rules", "1", "--calls", str(a.calls * 4)], 2, tree),
    }
    lat = {"model": _spawn(["latency", "auto", "--latency-runs", str(a.latency_runs)], tree),
           "rules": _spawn(["latency", "rules", "--latency-runs", str(a.latency_runs)], tree)}
    return rows, lat


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=400)
    p.add_argument("--latency-runs", type=int, default=60)
    p.add_argument("--chunk", type=int, default=32, help="calls per audit_batch")
    p.add_argument("--worker", nargs="*")
    p.add_argument("--part", type=int, default=0)
    p.add_argument("--parts", type=int, default=1)
    p.add_argument("--baseline", help="a checkout of an earlier commit: measure its sdk too, alternating")
    p.add_argument("--rounds", type=int, default=1, help="with --baseline: rounds of (this tree, baseline)")
    a = p.parse_args()
    if a.worker:
        kind, engine = a.worker[0], a.worker[1]
        if kind == "throughput":
            res = _throughput(engine, int(a.worker[2]), a.calls, a.chunk, a.part, a.parts)
        else:
            res = _latency(engine, a.latency_runs)
        print(json.dumps(res))
        return

    load = os.getloadavg()
    sample = calls(1)[0]
    n_turns = sum(t["role"] != "event" for t in sample["turns"])
    runs, base_runs = [], []
    for r in range(a.rounds if a.baseline else 1):
        if a.baseline and r % 2:
            base_runs.append(_modes(a, a.baseline))
        runs.append(_modes(a, HERE))
        if a.baseline and not r % 2:
            base_runs.append(_modes(a, a.baseline))
    rows, lat = _median_run(runs)
    print(f"# Audit throughput ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f}. Calls of {n_turns} turns "
          f"(15 agent, 15 customer) plus a hold event, `audit_batch` in chunks of {a.chunk}.\n")
    print("| mode | engine | calls | calls/s | CPU ms per call |\n| --- | --- | --- | --- | --- |")
    for name, r in rows.items():
        print(f"| {name} | {r['engine']} | {r['calls']} | {r['calls_per_s']:.1f} | "
              f"{1000 * r['cpu_s'] / r['calls']:.2f} |")
    print("\n| one 30-turn audit, 1 thread | engine | p50 ms | p90 ms | CPU p50 ms |\n| --- | --- | --- | --- | --- |")
    for name, r in lat.items():
        print(f"| {name} | {r['engine']} | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} | {r['cpu_p50_ms']:.1f} |")
    model = rows["model, 1 process, 2 threads"]["calls_per_s"]
    rules = rows["rules, 2 processes"]["calls_per_s"]
    print(f"\n- model: {model:.1f} calls/s vs target >= 100: {'meets' if model >= 100 else 'MISSES'} the target")
    print(f"- rules-only (2 processes): {rules:.1f} calls/s vs target >= 2000: "
          f"{'meets' if rules >= 2000 else 'MISSES'} the target")
    print(f"- rules / model throughput: {rules / model:.1f}x; 2 / 1 rules processes: "
          f"{rules / rows['rules, 1 process']['calls_per_s']:.2f}x")
    if base_runs:
        brows, blat = _median_run(base_runs)
        print(f"\n## This tree vs {a.baseline} ({len(runs)} + {len(base_runs)} runs, alternating; medians)\n")
        print("| mode | calls/s new / old | CPU per call old / new (speed-up) |\n| --- | --- | --- |")
        for name, r in rows.items():
            b = brows[name]
            print(f"| {name} | {r['calls_per_s']:.1f} / {b['calls_per_s']:.1f} = "
                  f"{r['calls_per_s'] / b['calls_per_s']:.2f}x | "
                  f"{1000 * b['cpu_s'] / b['calls']:.2f} / {1000 * r['cpu_s'] / r['calls']:.2f} ms = "
                  f"{(b['cpu_s'] / b['calls']) / (r['cpu_s'] / r['calls']):.2f}x |")
        for name, r in lat.items():
            b = blat[name]
            print(f"| one audit, {name}, p50 | {r['p50_ms']:.1f} / {b['p50_ms']:.1f} ms = "
                  f"{b['p50_ms'] / r['p50_ms']:.2f}x faster | CPU p50 {b.get('cpu_p50_ms', float('nan')):.1f} / "
                  f"{r['cpu_p50_ms']:.1f} ms |")
        print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


def _median_run(runs: List[Tuple[dict, dict]]) -> Tuple[dict, dict]:
    """Per mode, the run with the median calls/s (latency: the median p50)."""
    rows = {name: sorted((run[0][name] for run in runs), key=lambda r: r["calls_per_s"])[len(runs) // 2]
            for name in runs[0][0]}
    lat = {name: sorted((run[1][name] for run in runs), key=lambda r: r["p50_ms"])[len(runs) // 2]
           for name in runs[0][1]}
    return rows, lat


if __name__ == "__main__":
    main()
