"""The HTTP service under load, against the in-process Checker, in one run (loopback only).

    python benchmarks/bench_server.py                        # 10 s per load level, workers 1 and 2
    python benchmarks/bench_server.py --seconds 20 --workers 2
    python benchmarks/bench_server.py --soak 600 --workers 2  # 10-minute soak: RSS growth after warm-up, errors
    python benchmarks/bench_server.py --engine rules          # no model: what the HTTP layer itself costs

What it measures, each step bounded in time and stopping by itself:
1. in-process ``Checker.check_batch`` (threads = the CPU count) over the same records, in batches of 64;
2. ``cs-qa serve`` started as a subprocess on 127.0.0.1 (one config per ``--workers`` value: N worker
   processes with CPU/N inference threads each), then single ``POST /v1/check`` requests at concurrency
   1, 8 and 32 (requests/s, p50, p99, errors) and ``POST /v1/check_batch`` with 64 items per request at
   concurrency 1 and 2 (items/s, and the ratio to in-process check_batch);
3. the server is stopped with SIGTERM and must exit 0.

Records: distinct (utterance, context) pairs of the compliance splits, so caches keyed on text do not
flatter the numbers. Load generator: ``wrk`` (C, one thread, `apt-get install wrk`) when on PATH, else
an asyncio HTTP/1.1 client in this process (``--client python``); the report says which. The machine is
shared: the load average (``os.getloadavg``) is printed before and after each step.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from training.dataset import split_path  # noqa: E402
from training.validate import open_text  # noqa: E402
BATCH = 64
Pair = Tuple[str, Any]


def records(limit: int = 4000) -> List[Pair]:
    seen, out = set(), []
    for split in ("test", "dev", "train"):
        with open_text(split_path("compliance", split)) as fh:  # the train split is .jsonl.xz
            for r in map(json.loads, fh):
                pair = (r["utterance"], r.get("context"))  # contexts: strings or lists of turns
                key = json.dumps(pair, ensure_ascii=False)
                if key not in seen:
                    seen.add(key)
                    out.append(pair)
    return out[:limit]


def body(pair: Pair) -> bytes:
    d: Dict[str, Any] = {"utterance": pair[0]}
    if pair[1]:
        d["context"] = pair[1]
    return json.dumps(d, ensure_ascii=False).encode()


def load() -> str:
    return "load %.2f %.2f %.2f" % os.getloadavg()


# ---------------------------------------------------------------- in-process baseline


def in_process(pairs: List[Pair], threads: int, seconds: float, engine: str) -> Dict[str, Any]:
    """check_batch items/s in batches of BATCH (as /v1/check_batch gets them), bounded by ``seconds``."""
    import warnings

    from sdk import Checker

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checker = Checker(engine=engine, threads=threads)
    checker.check_batch(pairs[:BATCH])  # warm-up
    done, start = 0, time.perf_counter()
    i = 0
    while time.perf_counter() - start < seconds:
        chunk = [pairs[(i + k) % len(pairs)] for k in range(BATCH)]
        checker.check_batch(chunk)
        done += len(chunk)
        i += BATCH
    return {"items_per_s": done / (time.perf_counter() - start), "engine": checker.engine}


# ---------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, workers: int, threads: int, extra: List[str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sdk",
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--log-level",
                "warning",
                *extra,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.workers = workers

    def wait_ready(self, seconds: float = 120) -> Dict[str, Any]:
        import urllib.request

        deadline = time.monotonic() + seconds
        pids = set()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited: {self.proc.stderr.read() if self.proc.stderr else ''}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                    health = json.loads(r.read())
                pids.add(health["pid"])
                if len(self.pids()) >= self.workers:
                    return dict(health)
            except OSError:
                pass
            time.sleep(0.3)
        raise SystemExit("server did not become ready")

    def pids(self) -> List[int]:
        """The server process and its worker processes."""
        out = [self.proc.pid]
        try:
            out += [int(p) for p in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()]
        except OSError:
            pass
        return out if self.workers > 1 else out[:1]

    def rss_mb(self) -> float:
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total / 1024

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9


# ---------------------------------------------------------------- load generators

LUA = """
local bodies = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", "%s", {["Content-Type"] = "application/json"}, bodies[(i %% #bodies) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\nRESULT {"requests": %%d, "seconds": %%f, "p50_ms": %%f, "p99_ms": %%f, "errors": %%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.timeout + e.status))
end
"""


def lua_string(b: bytes) -> str:
    return "[==[" + b.decode("utf-8") + "]==]"


def run_wrk(url: str, path: str, bodies: List[bytes], concurrency: int, seconds: float) -> Dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False, encoding="utf-8") as fh:
        fh.write(LUA % (",".join(lua_string(b) for b in bodies), path))
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:.0f}s", "--timeout", "10s", "-s", fh.name, url],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        ).stdout
    finally:
        os.unlink(fh.name)
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    r = json.loads(line[len("RESULT ") :])
    return {
        "rps": r["requests"] / r["seconds"],
        "p50_ms": r["p50_ms"],
        "p99_ms": r["p99_ms"],
        "errors": r["errors"],
        "requests": r["requests"],
    }


async def _python_load(port: int, path: str, bodies: List[bytes], concurrency: int, seconds: float) -> Dict[str, float]:
    lat: List[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def conn(k: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        while time.perf_counter() < deadline:
            b = bodies[i % len(bodies)]
            i += concurrency
            head = (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(b)}\r\n\r\n"
            ).encode()
            t0 = time.perf_counter()
            writer.write(head + b)
            try:
                await writer.drain()
                raw = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(h.split(b":")[1]) for h in raw.split(b"\r\n") if h.lower().startswith(b"content-length")
                )
                await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, StopIteration):
                errors += 1
                break
            lat.append(time.perf_counter() - t0)
            if raw[9:12] != b"200":
                errors += 1
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(conn(k) for k in range(concurrency)))
    elapsed = time.perf_counter() - start
    lat.sort()
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [lat[0] if lat else 0.0] * 99
    return {
        "rps": len(lat) / elapsed,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "errors": errors,
        "requests": len(lat),
    }


def drive(
    client: str, server: Server, path: str, bodies: List[bytes], concurrency: int, seconds: float
) -> Dict[str, float]:
    if client == "wrk":
        return run_wrk(server.url, path, bodies, concurrency, seconds)
    return asyncio.run(_python_load(server.port, path, bodies, concurrency, seconds))


# ---------------------------------------------------------------- runs


def bench(args: argparse.Namespace, client: str) -> None:
    pairs = records()
    cpus = os.cpu_count() or 1
    singles = [body(p) for p in pairs]
    batches = [
        json.dumps(
            {"items": [json.loads(singles[(i + k) % len(singles)]) for k in range(BATCH)]}, ensure_ascii=False
        ).encode()
        for i in range(0, len(singles), BATCH)
    ]
    print(
        f"# bench_server: {len(pairs)} distinct records, {cpus} CPUs, load generator: {client}, "
        f"{args.seconds:.0f} s per level; {load()}"
    )
    rows: List[str] = []
    for workers in args.workers:
        threads = max(1, cpus // workers)
        before = in_process(pairs, cpus, args.seconds, args.engine)["items_per_s"]
        server = Server(workers, threads, ["--engine", args.engine, *args.serve_args])
        server.wait_ready()
        drive(client, server, "/v1/check", singles, 8, 3)  # warm-up
        runs = [("/v1/check", 1, c, drive(client, server, "/v1/check", singles, c, args.seconds)) for c in (1, 8, 32)]
        runs += [
            (f"/v1/check_batch ({BATCH})", BATCH, c, drive(client, server, "/v1/check_batch", batches, c, args.seconds))
            for c in sorted({1, workers, 2})
        ]
        code = server.stop()
        after = in_process(pairs, cpus, args.seconds, args.engine)["items_per_s"]
        base = (before + after) / 2  # in-process before and after the server ran: the CPU's share drifts
        print(
            f"# workers={workers} x threads={threads}: in-process check_batch (threads={cpus}, batches of "
            f"{BATCH}) {before:,.0f} items/s before, {after:,.0f} after; server SIGTERM -> exit {code} "
            f"{' (uvicorn re-raises the signal after its graceful shutdown)' if code == -15 else ''}; {load()}",
            flush=True,
        )
        for endpoint, per, c, r in runs:
            items = r["rps"] * per
            rows.append(
                f"| {workers} x {threads} | {endpoint} | {c} | {r['rps']:,.1f} | {items:,.0f} | "
                f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']:.0f} | {items / base:.2f} |"
            )
    print("| workers x threads | endpoint | concurrency | req/s | items/s | p50 ms | p99 ms | errors | vs in-process |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


def soak(args: argparse.Namespace, client: str) -> None:
    pairs = records()
    singles = [body(p) for p in pairs]
    cpus = os.cpu_count() or 1
    workers = args.workers[0]
    server = Server(workers, max(1, cpus // workers), ["--engine", args.engine, *args.serve_args])
    server.wait_ready()
    slice_s, warmup_s = 30.0, 60.0
    print(
        f"# soak: {args.soak:.0f} s of /v1/check at concurrency 32 in {slice_s:.0f} s slices, workers={workers}, "
        f"load generator {client}; RSS of all server processes after each slice; {load()}"
    )
    print("| t (s) | req/s | p99 ms | errors | RSS MB | load |")
    print("| --- | --- | --- | --- | --- | --- |")
    start, errors = time.monotonic(), 0
    samples: List[Tuple[float, float]] = []
    while time.monotonic() - start < args.soak:
        r = drive(client, server, "/v1/check", singles, 32, min(slice_s, args.soak - (time.monotonic() - start) + 1))
        errors += int(r["errors"])
        samples.append((time.monotonic() - start, server.rss_mb()))
        t, rss = samples[-1]
        print(
            f"| {t:.0f} | {r['rps']:,.0f} | {r['p99_ms']:.1f} | {r['errors']:.0f} | {rss:.0f} | "
            f"{os.getloadavg()[0]:.2f} |",
            flush=True,
        )
    code = server.stop()
    end = samples[-1][1]
    print(
        f"soak: {time.monotonic() - start:.0f} s, errors {errors}, SIGTERM -> exit {code}; RSS growth to the end "
        f"({end:.0f} MB) from the first sample after:"
    )
    for warm in (warmup_s, args.soak / 3, args.soak / 2):
        base = next((rss for t, rss in samples if t >= warm), end)
        print(f"  {warm:.0f} s: {base:.0f} MB -> {(end - base) / base * 100:+.1f} %")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=10.0, help="seconds per load level")
    p.add_argument("--workers", default="1,2", help="comma-separated worker counts to run (default 1,2)")
    p.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--soak", type=float, help="soak for this many seconds instead (e.g. 600)")
    p.add_argument(
        "--engine",
        choices=("auto", "onnx", "rules"),
        default="auto",
        help="rules: the service's own overhead dominates (no model)",
    )
    p.add_argument("--serve-args", default="", help="more cs-qa serve options, e.g. '--batch-wait-ms 1'")
    args = p.parse_args()
    args.workers = [int(w) for w in args.workers.split(",")]
    args.serve_args = args.serve_args.split()
    client = args.client if args.client != "auto" else ("wrk" if shutil.which("wrk") else "python")
    if args.soak:
        soak(args, client)
    else:
        bench(args, client)


if __name__ == "__main__":
    main()
