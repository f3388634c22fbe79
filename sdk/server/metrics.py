"""Prometheus metrics of one app: requests, latency, errors, items checked, engine fallbacks.

Each app has its own registry (tests build many apps in one process). With several worker
processes ``cs-qa serve`` sets PROMETHEUS_MULTIPROC_DIR and /metrics sums every worker's values.
"""

from __future__ import annotations

import os
import time
from typing import Iterable, Optional, Tuple

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000)


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


class Metrics:
    def __init__(self, endpoints: Iterable[str]) -> None:
        self.endpoints = frozenset(endpoints)
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "cs_qa_requests", "HTTP requests by endpoint and status code", ("endpoint", "status"), registry=r
        )
        self.latency = Histogram(
            "cs_qa_request_duration_seconds",
            "HTTP request latency by endpoint",
            ("endpoint",),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "cs_qa_errors",
            "Requests answered with an error, by endpoint and kind "
            "(invalid_input 422, too_large 413, not_found 404/405, internal 5xx)",
            ("endpoint", "kind"),
            registry=r,
        )
        self.items = Counter("cs_qa_items", "Utterances, texts or calls checked, by kind", ("kind",), registry=r)
        self.fallbacks = Counter(
            "cs_qa_engine_fallbacks",
            "Results decided by the rules because the model could not be loaded (engine='auto' fell back)",
            registry=r,
        )
        self.batch_size = Histogram(
            "cs_qa_model_batch_size",
            "Items per model pass (micro-batched single requests, or one batch request)",
            ("kind",),
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.model_loaded = Gauge(
            "cs_qa_model_loaded",
            "1 when the model engine serves, 0 when the rules do",
            registry=r,
            multiprocess_mode="min",
        )

    def endpoint(self, path: str) -> str:
        """A bounded label: unknown paths (scanners, typos) share one."""
        return path if path in self.endpoints else "other"

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)
        kind = _error_kind(status)
        if kind:
            self.errors.labels(endpoint, kind).inc()

    def render(self) -> Tuple[bytes, str]:
        if multiprocess_dir():
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _error_kind(status: int) -> str:
    if status == 422 or status == 400:
        return "invalid_input"
    if status == 413:
        return "too_large"
    if status in (404, 405):
        return "not_found"
    if status >= 500:
        return "internal"
    return ""


ARRIVED = "cs_qa.arrived"  # scope key: set while a request is received but not yet queued for the model


class Tracker:
    """The app's metrics (set once the app starts) and how many requests are received but not yet
    queued for the model (``coming``: the micro-batcher waits, briefly, for those)."""

    def __init__(self) -> None:
        self.metrics: Optional[Metrics] = None
        self.coming = 0

    def arrived(self, scope: Scope) -> None:
        scope[ARRIVED] = True
        self.coming += 1

    def queued(self, scope: Scope) -> None:
        """The request reached a batcher (or needs no model): stop counting it as coming."""
        if scope.pop(ARRIVED, False):
            self.coming -= 1


class MetricsMiddleware:
    """Pure ASGI middleware: status and latency of every HTTP request (and the Tracker's count)."""

    def __init__(self, app: ASGIApp, tracker: Tracker) -> None:
        self.app, self.tracker = app, tracker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        self.tracker.arrived(scope)

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.tracker.queued(scope)
            m = self.tracker.metrics
            if m is not None:
                m.observe(m.endpoint(scope["path"]), status, time.perf_counter() - started)
