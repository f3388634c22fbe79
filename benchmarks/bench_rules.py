"""Rules-engine speed, measured in one run: single-check latency, batch
throughput and `import sdk` time.  Usage: python benchmarks/bench_rules.py

Targets (issue 2): median check ≤ 100 µs, `import sdk` ≤ 300 ms without
torch or onnxruntime imported.
"""
from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
import time

# Typical agent turns, with and without context: the mix a QA run sees.
INPUTS = [
    ("您好，很高兴为您服务，请问有什么可以帮您？", None),
    ("好的，我帮您查一下。", "[客户已等待约2分钟] 喂？还有人吗？"),
    ("对不起，让您久等了，您的订单已经在配送中了。", "[通话保持中，客户等待了90秒]"),
    ("不知道，你自己去营业厅问吧。", "我这个月话费怎么多扣了三十块？"),
    ("感谢您的宝贵建议，我们会反馈给相关部门。", "我建议你们周末也开门"),
    ("好的，那就这样。", "没有其他问题了，谢谢啊"),
    ("喂，说话呀！", None),
    ("嗯。", "我想问一下退款什么时候到账"),
    ("非常抱歉给您带来不便，维修人员预计下午三点前到达，请您保持电话畅通。", "停电都三个小时了还没人来修！"),
    ("请您提供一下您的身份证后四位，我帮您核实一下。", "我要查一下我的社保缴费记录"),
]


def import_time(runs: int = 5) -> tuple[float, list]:
    code = ("import time, sys; t = time.perf_counter(); import sdk; dt = time.perf_counter() - t; "
            "print(dt, [m for m in ('torch', 'onnxruntime', 'transformers') if m in sys.modules])")
    times, heavy = [], []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(" ", 1)
        times.append(float(out[0]))
        heavy = json.loads(out[1].replace("'", '"'))
    return statistics.median(times), heavy


def main() -> None:
    from sdk import Checker

    t = time.perf_counter()
    checker = Checker(engine="rules")
    checker.check("您好")
    load_s = time.perf_counter() - t

    for u, c in INPUTS * 20:  # warm-up
        checker.check(u, c)
    lat = []
    for _ in range(200):
        for u, c in INPUTS:
            t = time.perf_counter_ns()
            checker.check(u, c)
            lat.append((time.perf_counter_ns() - t) / 1000)
    lat.sort()
    p50, p99 = lat[len(lat) // 2], lat[int(len(lat) * 0.99)]

    batch = INPUTS * 500
    t = time.perf_counter()
    checker.check_batch(batch)
    batch_s = time.perf_counter() - t
    loop_t = time.perf_counter()
    for u, c in batch[:1000]:
        checker.check(u, c)
    loop_rate = 1000 / (time.perf_counter() - loop_t)

    imp, heavy = import_time()
    print(f"machine: {platform.processor() or platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}")
    print(f"rulebook load + first check: {load_s * 1000:.1f} ms")
    print(f"rules check latency: p50 {p50:.1f} µs, p99 {p99:.1f} µs  (target p50 ≤ 100 µs; "
          f"p50/target = {p50 / 100:.2f})")
    print(f"rules check_batch throughput: {len(batch) / batch_s:,.0f} utterances/s "
          f"(loop of check(): {loop_rate:,.0f}/s, batch/loop = {len(batch) / batch_s / loop_rate:.2f})")
    print(f"import sdk: {imp * 1000:.1f} ms (target ≤ 300 ms; ratio {imp * 1000 / 300:.2f}); heavy modules imported: {heavy}")


if __name__ == "__main__":
    main()
