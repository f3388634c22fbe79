"""``cs-qa serve``: uvicorn running the app, one Checker per worker process.

uvicorn finishes in-flight requests on SIGTERM/SIGINT (up to ``graceful_timeout`` seconds) before
the app's shutdown drains the model queue; several workers share one port (uvicorn's supervisor).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from typing import Optional

from ..labels import ENGINES
from .config import ENV_VAR, ServerConfig

APP_FACTORY = "sdk.server.app:create_app"


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> argparse.ArgumentParser:
    """Register ``serve`` on the CLI's subparsers (the CLI imports no web framework for this)."""
    d = ServerConfig()
    s = sub.add_parser(
        "serve",
        help="run the HTTP service (needs the 'server' extra)",
        description="Serve /v1/check, /v1/check_batch, /v1/emotion, /v1/emotion_batch, /v1/audit, "
        "/v1/audit_batch, /healthz, /metrics and /docs over HTTP.",
    )
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=1, help="worker processes, each with its own model (default 1)")
    s.add_argument("--engine", choices=ENGINES, default=d.engine)
    s.add_argument("--model-dir", help="model directory (default: the embedded model)")
    s.add_argument("--rulebook", action="append", default=[], help="YAML rulebook overlay (repeatable)")
    s.add_argument("--scorecard", help="score card YAML for /v1/audit")
    s.add_argument("--threads", type=int, help="inference threads per worker (default: the CPU count)")
    s.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes)
    s.add_argument("--max-batch-items", type=int, default=d.max_batch_items)
    s.add_argument(
        "--batch-wait-ms",
        type=float,
        default=d.batch_wait_ms,
        help="how long a single request may wait for others to share its model pass (0-2 ms)",
    )
    s.add_argument("--micro-batch-max", type=int, default=d.micro_batch_max)
    s.add_argument("--graceful-timeout", type=int, default=30, help="seconds to finish in-flight requests on shutdown")
    s.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    s.set_defaults(run=main)
    return s


def main(args: argparse.Namespace) -> int:
    import sys

    try:
        config = ServerConfig(
            engine=args.engine,
            model_dir=args.model_dir,
            rulebook=list(args.rulebook),
            scorecard=args.scorecard,
            threads=args.threads,
            max_body_bytes=args.max_body_bytes,
            max_batch_items=args.max_batch_items,
            batch_wait_ms=args.batch_wait_ms,
            micro_batch_max=args.micro_batch_max,
        )
        if args.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {args.workers}")
    except ValueError as exc:
        print(f"cs-qa serve: {exc}", file=sys.stderr)
        return 2
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        print(
            f"cs-qa serve: the HTTP service needs the 'server' extra: pip install 'cs-qa-sdk[server]' ({exc})",
            file=sys.stderr,
        )
        return 2
    serve(
        config,
        host=args.host,
        port=args.port,
        workers=args.workers,
        graceful_timeout=args.graceful_timeout,
        log_level=args.log_level,
    )
    return 0


def serve(
    config: Optional[ServerConfig] = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    graceful_timeout: int = 30,
    log_level: str = "info",
) -> None:
    """Run the service until SIGINT/SIGTERM."""
    import uvicorn

    config = config or ServerConfig()
    os.environ[ENV_VAR] = config.to_env()
    metrics_dir = None
    if workers > 1:  # every worker writes its metrics here; /metrics sums them
        metrics_dir = tempfile.mkdtemp(prefix="cs-qa-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            timeout_graceful_shutdown=graceful_timeout,
            access_log=False,
        )
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
