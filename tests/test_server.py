"""The HTTP service through FastAPI's TestClient: results equal the SDK's, bad input is 422 naming the
field, oversize is 413 naming the limit, never a 500; micro-batching, /healthz, /metrics, /docs."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from sdk.server.app import create_app  # noqa: E402
from sdk.server.config import ServerConfig  # noqa: E402

CHECKS = [
    {"utterance": "喂，说话呀！"},
    {"utterance": "好的，我帮您查一下。", "context": "[客户已等待约2分钟] 喂？还有人吗？"},
    {"utterance": "好的", "context": [{"role": "customer", "text": "我建议你们周末也开门"}]},
    {
        "utterance": "让您久等了。",
        "context": [
            {"role": "agent", "text": "请您稍等"},
            {"role": "event", "text": "hold", "start": 5.0, "end": 130.0},
            {"role": "customer", "text": "喂？"},
        ],
    },
]
TEXTS = ["什么破公司！我要投诉你们！", "谢谢你啊", "怎么还没到"]


def roundtrip(d):
    return json.loads(json.dumps(d, ensure_ascii=False))


@pytest.fixture(scope="module")
def client(rules_checker):
    config = ServerConfig(engine="rules", max_body_bytes=20_000, max_batch_items=50)
    with TestClient(create_app(config, checker=rules_checker)) as c:
        yield c


@pytest.mark.parametrize("body", CHECKS)
def test_check_equals_the_sdk(client, rules_checker, body):
    r = client.post("/v1/check", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == roundtrip(rules_checker.check(body["utterance"], body.get("context")).to_dict())


def test_batches_equal_the_sdk_in_order(client, rules_checker):
    r = client.post("/v1/check_batch", json={"items": CHECKS})
    assert r.status_code == 200
    want = [roundtrip(x.to_dict()) for x in rules_checker.check_batch(CHECKS)]
    assert r.json() == {"results": want}
    r = client.post("/v1/emotion_batch", json={"texts": TEXTS})
    assert r.json() == {"results": [roundtrip(x.to_dict()) for x in rules_checker.emotion_batch(TEXTS)]}
    r = client.post("/v1/emotion", json={"text": TEXTS[0]})
    assert r.json() == roundtrip(rules_checker.emotion(TEXTS[0]).to_dict())
    assert client.post("/v1/check_batch", json={"items": []}).json() == {"results": []}


@pytest.mark.parametrize(
    "path,body,field,says",
    [
        ("/v1/check", {}, "utterance", "Field required"),
        ("/v1/check", {"utterance": 3}, "utterance", "valid string"),
        ("/v1/check", {"utterance": "   "}, "utterance", "whitespace-only"),
        ("/v1/check", {"utterance": ""}, "utterance", "at least 1 character"),
        ("/v1/check", {"utterance": "好", "context": 5}, "context", "a string, a list of turns"),
        ("/v1/check", {"utterance": "好", "context": [{"role": "boss", "text": "x"}]}, "context.0.role", "'customer'"),
        ("/v1/check", {"utterance": "好", "context": [{"role": "customer"}]}, "context.0.text", "Field required"),
        (
            "/v1/check",
            {"utterance": "好", "context": [{"role": "event", "text": "hold", "start": -1}]},
            "context.0.start",
            "greater than or equal to 0",
        ),
        (
            "/v1/check",
            {"utterance": "好", "context": [{"role": "event", "text": "hold", "start": 9, "end": 2}]},
            "context.0",
            "before 'start'",
        ),
        ("/v1/check", {"utterence": "好"}, "utterence", "Extra inputs"),
        ("/v1/check", [1, 2], "body", "should be an object"),
        ("/v1/check_batch", {"items": [{"utterance": "好"}, {"utterance": " "}]}, "items.1.utterance", "whitespace"),
        ("/v1/check_batch", {"items": "好"}, "items", "valid array"),
        ("/v1/emotion", {"text": None}, "text", "valid string"),
        ("/v1/emotion_batch", {"texts": ["好", 7]}, "texts.1", "valid string"),
    ],
)
def test_bad_input_is_422_naming_the_field(client, path, body, field, says):
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text
    errors = r.json()["detail"]
    assert any(e["field"] == field and says in e["msg"] for e in errors), errors


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe\x00",
        b"",
        b"null",
        b"[]",
        b'"just a string"',
        b'{"utterance": {"nested": [1, 2]}}',
        b'{"utterance": 1e999}',
        b'{"utterance": "\\ud800"}',
        b"{" * 5000 + b"}" * 5000,
    ],
)
def test_garbage_never_makes_a_500(client, content):
    for path in ("/v1/check", "/v1/check_batch", "/v1/emotion", "/v1/emotion_batch"):
        r = client.post(path, content=content, headers={"content-type": "application/json"})
        assert r.status_code in (413, 422), (path, content[:30], r.status_code, r.text)
        assert r.json()["detail"]


def test_body_over_the_limit_is_413_naming_it(client):
    r = client.post("/v1/check", json={"utterance": "好" * 30_000})
    assert r.status_code == 413
    assert "20,000" in r.json()["detail"] and "max_body_bytes" in r.json()["detail"]


def test_chunked_body_over_the_limit_is_413(client):
    def chunks():
        for _ in range(30):
            yield b" " * 1000

    r = client.post("/v1/check", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "max_body_bytes" in r.json()["detail"]


def test_batch_over_the_limit_is_413_naming_it(client):
    r = client.post("/v1/check_batch", json={"items": [{"utterance": "好"}] * 51})
    assert r.status_code == 413
    assert "51 items" in r.json()["detail"] and "max_batch_items" in r.json()["detail"]
    assert client.post("/v1/emotion_batch", json={"texts": ["好"] * 51}).status_code == 413


def test_healthz_names_engine_and_rulebook(client):
    h = client.get("/healthz").json()
    assert h["status"] == "ok" and h["engine"] == "rules" and h["model"] is None
    assert h["rulebook"]["sources"][0].endswith("default.yaml") and h["rulebook"]["rules"] > 0
    assert h["limits"] == {"max_body_bytes": 20_000, "max_batch_items": 50}


def test_healthz_names_the_model_version_and_manifest_hash():
    pytest.importorskip("onnxruntime")
    from sdk import Checker, ModelUnavailable
    from sdk.model_manifest import sha256_file

    try:
        checker = Checker(engine="onnx", threads=1)
    except ModelUnavailable as exc:
        pytest.skip(f"no model: {exc}")
    with TestClient(create_app(ServerConfig(), checker=checker)) as c:
        h = c.get("/healthz").json()
        manifest = checker._engine.onnx.manifest
        assert h["engine"] == "onnx" and h["model"]["version"] == manifest.version
        assert h["model"]["manifest_sha256"] == sha256_file(manifest.model_dir / "manifest.json")
        r = c.post("/v1/check", json=CHECKS[1]).json()
        assert r == roundtrip(checker.check(CHECKS[1]["utterance"], CHECKS[1]["context"]).to_dict())


def metric(text: str, name: str, **labels) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def test_metrics_count_requests_errors_latency_and_fallbacks(tmp_path):
    from sdk import Checker

    with pytest.warns(RuntimeWarning, match="falling back"):
        checker = Checker(engine="auto", model_dir=tmp_path / "no-model")
    with TestClient(create_app(ServerConfig(), checker=checker)) as c:
        for _ in range(3):
            assert c.post("/v1/check", json=CHECKS[0]).status_code == 200
        c.post("/v1/check", json={"utterance": 1})
        c.post("/v1/check_batch", json={"items": CHECKS})
        c.get("/no/such/path")
        text = c.get("/metrics").text
        assert c.get("/healthz").json()["fell_back"] is True
    assert metric(text, "cs_qa_requests_total", endpoint="/v1/check", status="200") == 3
    assert metric(text, "cs_qa_requests_total", endpoint="/v1/check", status="422") == 1
    assert metric(text, "cs_qa_errors_total", endpoint="/v1/check", kind="invalid_input") == 1
    assert metric(text, "cs_qa_errors_total", endpoint="other", kind="not_found") == 1
    assert metric(text, "cs_qa_request_duration_seconds_count", endpoint="/v1/check") == 4
    assert metric(text, "cs_qa_items_total", kind="check") == 3 + len(CHECKS)
    assert metric(text, "cs_qa_engine_fallbacks_total") == 3 + len(CHECKS)
    assert metric(text, "cs_qa_model_loaded") == 0


def test_docs_and_openapi(client):
    assert client.get("/docs").status_code == 200
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    for path in ("/v1/check", "/v1/check_batch", "/v1/emotion", "/v1/emotion_batch", "/v1/audit", "/v1/audit_batch"):
        op = doc["paths"][path]["post"]
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.rsplit("/", 1)[1] in schemas, ref
        assert {"200", "413", "422"} <= set(op["responses"])
    assert "utterance" in schemas["CheckRequest"]["properties"] and "TurnIn" in schemas
    assert "/healthz" in doc["paths"] and "/metrics" in doc["paths"]
    refs = [m for m in json.dumps(doc).split('"$ref": "')[1:]]
    assert all(r.split('"')[0].rsplit("/", 1)[1] in schemas for r in refs)  # every reference resolves


def test_no_request_is_left_counted_as_coming(client):
    app = client.app
    client.post("/v1/check", json={"utterance": " "})
    client.post("/v1/check", json={"utterance": "好" * 30_000})
    client.get("/healthz")
    tracker = next(m.kwargs["tracker"] for m in app.user_middleware if "tracker" in m.kwargs)
    assert tracker.coming == 0


class RecordingChecker:
    """The rules checker, with each model pass recorded and slowed to a real model's pace."""

    def __init__(self, inner, seconds: float = 0.01):
        self.inner, self.seconds, self.batches = inner, seconds, []
        self.engine, self.requested_engine, self.fell_back = "rules", "rules", False
        self._engine = inner._engine

    def check_batch(self, items):
        self.batches.append(len(items))
        time.sleep(self.seconds)
        return self.inner.check_batch(items)

    def emotion_batch(self, texts):
        self.batches.append(len(texts))
        return self.inner.emotion_batch(texts)


async def _concurrently(app, bodies):
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await asyncio.gather(*[c.post("/v1/check", json=b) for b in bodies])


def test_concurrent_single_requests_share_model_passes(rules_checker):
    checker = RecordingChecker(rules_checker)
    app = create_app(ServerConfig(threads=1), checker=checker)
    bodies = [{"utterance": f"好的，第{i}位客户，我帮您查一下。"} for i in range(40)] + [{"utterance": " "}]
    responses = asyncio.run(_concurrently(app, bodies))
    assert [r.status_code for r in responses] == [200] * 40 + [422]  # the bad one sinks nobody else
    assert [r.json()["utterance"] for r in responses[:40]] == [b["utterance"] for b in bodies[:40]]
    assert sum(checker.batches) == 40 and len(checker.batches) < 20 and max(checker.batches) > 1


def test_graceful_model_error_is_a_500_without_internals(rules_checker):
    class Broken(RecordingChecker):
        def check_batch(self, items):
            raise RuntimeError("secret internals")

    with TestClient(create_app(ServerConfig(), checker=Broken(rules_checker)), raise_server_exceptions=False) as c:
        r = c.post("/v1/check", json=CHECKS[0])
        assert r.status_code == 500 and "secret" not in r.text and "RuntimeError" in r.json()["detail"]
        assert c.post("/v1/check", json={"utterance": 1}).status_code == 422


def test_requests_from_many_threads(client, rules_checker):
    out = {}

    def post(i):
        out[i] = client.post("/v1/check", json={"utterance": f"您好，{i}号为您服务"}).json()["utterance"]

    threads = [threading.Thread(target=post, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {i: f"您好，{i}号为您服务" for i in range(16)}


def test_server_config_is_validated():
    with pytest.raises(ValueError, match="batch_wait_ms"):
        ServerConfig(batch_wait_ms=5)
    with pytest.raises(ValueError, match="engine"):
        ServerConfig(engine="gpu")
    with pytest.raises(ValueError, match="max_batch_items"):
        ServerConfig(max_batch_items=0)
    c = ServerConfig(engine="rules", rulebook=["a.yaml"], threads=2)
    assert ServerConfig.from_env({"CS_QA_SERVER_CONFIG": c.to_env()}) == c
    with pytest.raises(ValueError, match="unknown settings"):
        ServerConfig.from_env({"CS_QA_SERVER_CONFIG": '{"engin": "rules"}'})


CALL = {
    "id": "c-0001",
    "channel": "phone",
    "ring_seconds": 12.0,
    "turns": [
        {"role": "agent", "text": "您好，星河电力客服中心，工号1023，很高兴为您服务。", "start": 0.4, "end": 4.1},
        {"role": "customer", "text": "我家停电两天了，怎么还没人来修？", "start": 4.6, "end": 8.0},
        {"role": "agent", "text": "对不起，请您稍等片刻，好吗？我帮您查一下。", "start": 8.3, "end": 10.9},
        {"role": "event", "text": "hold", "start": 11.0, "end": 84.0},
        {"role": "agent", "text": "让您久等了，抢修人员预计下午三点前到达。", "start": 84.5, "end": 89.0},
    ],
}
CHAT = {
    "id": 7,
    "channel": "chat",
    "turns": [
        {"role": "customer", "text": "在吗"},
        {"role": "agent", "text": "您好，请问有什么可以帮您？", "speaker": "a1"},
    ],
}


def test_audit_equals_the_sdk(client, rules_checker):
    r = client.post("/v1/audit", json=CALL)
    assert r.status_code == 200, r.text
    assert r.json() == roundtrip(rules_checker.audit(CALL).to_dict())
    r = client.post("/v1/audit_batch", json={"calls": [CALL, CHAT]})
    assert r.json() == {"results": [roundtrip(a.to_dict()) for a in rules_checker.audit_batch([CALL, CHAT])]}


@pytest.mark.parametrize(
    "path,body,field,says",
    [
        ("/v1/audit", {"turns": []}, "turns", "at least 1 item"),
        ("/v1/audit", {"turns": [{"role": "agent", "text": "  "}]}, "turns.0.text", "needs text"),
        ("/v1/audit", {"channel": "fax", "turns": [{"role": "agent", "text": "您好"}]}, "channel", "'phone' or 'chat'"),
        (
            "/v1/audit",
            {"turns": [{"role": "agent", "text": "a", "start": 5}, {"role": "agent", "text": "b", "start": 1}]},
            "turns.1.start",
            "time order",
        ),
        (
            "/v1/audit_batch",
            {"calls": [CALL, {"turns": [{"role": "boss", "text": "x"}]}]},
            "calls.1.turns.0.role",
            "'agent'",
        ),
    ],
)
def test_bad_call_is_422_naming_the_field(client, path, body, field, says):
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text
    assert any(e["field"] == field and says in e["msg"] for e in r.json()["detail"]), r.json()


def test_audit_batch_over_the_limit_is_413(client):
    r = client.post("/v1/audit_batch", json={"calls": [CHAT] * 51})
    assert r.status_code == 413 and "max_batch_items" in r.json()["detail"]
