"""The service on a real uvicorn server over loopback (127.0.0.1 only): HTTP end to end, graceful
shutdown finishing in-flight requests, and `cs-qa serve` as a process (SIGTERM, several workers)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")
import uvicorn  # noqa: E402

from sdk.server.app import create_app  # noqa: E402
from sdk.server.config import ServerConfig  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


class SlowChecker:
    """The rules checker with every model pass taking ``seconds``: requests stay in flight long enough
    to shut the server down under them."""

    def __init__(self, inner, seconds: float):
        self.inner, self.seconds = inner, seconds
        self.engine, self.requested_engine, self.fell_back, self._engine = "rules", "rules", False, inner._engine
        self.started = threading.Event()

    def check_batch(self, items):
        self.started.set()
        time.sleep(self.seconds)
        return self.inner.check_batch(items)

    def emotion_batch(self, texts):
        return self.inner.emotion_batch(texts)


class LiveServer:
    """uvicorn in a thread, on a socket bound to a free port of 127.0.0.1."""

    def __init__(self, app):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=10))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()


def test_real_server_over_loopback(rules_checker):
    with LiveServer(create_app(ServerConfig(engine="rules", max_body_bytes=10_000), checker=rules_checker)) as live:
        with httpx.Client(base_url=live.url, timeout=10) as c:
            r = c.post("/v1/check", json={"utterance": "好的，我帮您查一下。", "context": "[客户已等待约2分钟] 喂？"})
            assert r.status_code == 200 and r.headers["content-type"] == "application/json"
            assert r.json()["label"] == rules_checker.check("好的，我帮您查一下。", "[客户已等待约2分钟] 喂？").label
            assert c.post("/v1/check", json={"utterance": ""}).status_code == 422
            assert (
                c.post("/v1/check", content=b"x" * 20_000, headers={"content-type": "application/json"}).status_code
                == 413
            )
            assert c.get("/healthz").json()["engine"] == "rules"  # the connection survives a 413's close
            assert "cs_qa_requests_total" in c.get("/metrics").text


def test_shutdown_finishes_requests_in_flight(rules_checker):
    checker = SlowChecker(rules_checker, seconds=0.5)
    got = {}
    with LiveServer(create_app(ServerConfig(engine="rules"), checker=checker)) as live:

        def post():
            got["r"] = httpx.post(live.url + "/v1/check_batch", json={"items": [{"utterance": "您好"}] * 3}, timeout=10)

        t = threading.Thread(target=post)
        t.start()
        assert checker.started.wait(10)
        live.server.should_exit = True  # what SIGTERM does
        t.join(10)
        live.thread.join(10)
        assert not live.thread.is_alive()
    assert got["r"].status_code == 200 and len(got["r"].json()["results"]) == 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        try:
            return httpx.get(url + "/healthz", timeout=2).json()
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("server did not become healthy")


@pytest.mark.slow
def test_cs_qa_serve_with_two_workers_stops_on_sigterm(tmp_path):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sdk",
            "serve",
            "--engine",
            "rules",
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "warning",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        health = wait_healthy(url, proc)
        assert health["engine"] == "rules"
        # a new connection per request, so both workers answer some; /metrics sums what all of them counted
        labels = [httpx.post(url + "/v1/check", json={"utterance": "喂，说话呀！"}).json()["label"] for _ in range(20)]
        assert set(labels) == {"non_compliant"}
        assert httpx.post(url + "/v1/emotion", json={"text": 5}).status_code == 422
        text = httpx.get(url + "/metrics").text
        assert 'cs_qa_requests_total{endpoint="/v1/check",status="200"} 20.0' in text
        assert 'cs_qa_requests_total{endpoint="/v1/emotion",status="422"} 1.0' in text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, proc.stderr.read()


def test_cs_qa_serve_refuses_bad_settings():
    p = subprocess.run(
        [sys.executable, "-m", "sdk", "serve", "--batch-wait-ms", "9"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert p.returncode == 2 and "batch_wait_ms" in p.stderr
