"""The HTTP service: ``create_app()`` builds the FastAPI app around one Checker per worker process.

Every model call runs on an inference thread (``Lanes``), never on the event loop; single
/v1/check and /v1/emotion requests that arrive together share one model pass (``MicroBatcher``).
Input errors are answered 422 naming the field and what was expected, oversize requests 413
naming the limit; a 500 means a bug in the service, never bad input.
"""

from __future__ import annotations

import json
import logging
import os
import re
from contextlib import asynccontextmanager
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Dict,
    List,
    Optional,
    Sequence,
    Set,
    Tuple,
    Type,
    TypeVar,
    Union,
)

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.routing import Route

from .. import __version__
from ..records import check_input, emotion_input
from .batching import Lanes, MicroBatcher
from .config import ServerConfig
from .limits import BodyLimitMiddleware, too_large
from .metrics import Metrics, MetricsMiddleware, Tracker
from .schemas import (
    UNION_TAGS,
    AuditBatchOut,
    AuditBatchRequest,
    CallIn,
    CheckBatchOut,
    CheckBatchRequest,
    CheckOut,
    CheckRequest,
    EmotionBatchOut,
    EmotionBatchRequest,
    EmotionOut,
    EmotionRequest,
    TooLargeOut,
    ValidationErrorOut,
)

log = logging.getLogger("sdk.server")

ENDPOINTS = (
    "/v1/check",
    "/v1/check_batch",
    "/v1/emotion",
    "/v1/emotion_batch",
    "/v1/audit",
    "/v1/audit_batch",
    "/healthz",
    "/metrics",
    "/docs",
    "/openapi.json",
)
ERRORS: Dict[Union[int, str], Dict[str, Any]] = {
    422: {"model": ValidationErrorOut, "description": "bad input: the field and what was expected"},
    413: {"model": TooLargeOut, "description": "body or batch over the configured limit"},
}


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json")


class Invalid(Exception):
    """Bad input found after the request parsed (by the SDK's own checks): answered 422."""

    def __init__(self, errors: List[Dict[str, Any]]):
        self.errors = errors


class TooLarge(Exception):
    def __init__(self, message: bytes):
        self.message = message


def _error(loc: Sequence[Any], message: str, kind: str) -> Dict[str, Any]:
    return {"loc": list(loc), "field": ".".join(str(p) for p in loc[1:]) or str(loc[0]), "msg": message, "type": kind}


def _pydantic_error(e: Dict[str, Any]) -> Dict[str, Any]:
    """FastAPI's error, with the union branch tags dropped from its location and JSON errors explained."""
    loc = [p for i, p in enumerate(e["loc"]) if not (p in UNION_TAGS and i and e["loc"][i - 1] == "context")]
    if e["type"] == "json_invalid":
        reason = (e.get("ctx") or {}).get("error", "")
        return _error(
            ["body"],
            f'the body is not valid JSON ({reason}); expected a JSON object such as {{"utterance": "..."}}',
            "json_invalid",
        )
    return _error(loc, e["msg"], e["type"])


def _sdk_error(exc: Exception, loc: Sequence[Any]) -> Dict[str, Any]:
    return _error(loc, str(exc), "type_error" if isinstance(exc, TypeError) else "value_error")


_TURN_FIELD = re.compile(r"\bturn (\d+) field '(\w+)'")


def _call_error(exc: Exception, loc: Sequence[Any]) -> Dict[str, Any]:
    """The audit's error for a call, located at the turn and field it names."""
    found = _TURN_FIELD.search(str(exc))
    where = [*loc, "turns", int(found.group(1)), found.group(2)] if found else list(loc)
    return _sdk_error(exc, where)


def _call_dict(call: CallIn) -> Dict[str, Any]:
    return call.model_dump(exclude_none=True)


M = TypeVar("M", bound=BaseModel)
_In = TypeVar("_In")
_Out = TypeVar("_Out")


async def _parse(request: Request, model: Type[M]) -> M:
    """The body validated against ``model``; 422 naming each bad field (loc starts with "body", as FastAPI's)."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        errors = [_pydantic_error({**e, "loc": ("body", *e["loc"])}) for e in exc.errors(include_url=False)]
        raise Invalid(errors) from None


def _schema_ref(model: Type[BaseModel]) -> Dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}


def _operation(model: Type[BaseModel], response: Optional[Type[BaseModel]], tag: str, summary: str) -> Dict[str, Any]:
    ok = _schema_ref(response) if response is not None else {"content": {"application/json": {"schema": {}}}}
    return {
        "tags": [tag],
        "summary": summary,
        "operationId": f"{tag}_{model.__name__}",
        "requestBody": {"required": True, **_schema_ref(model)},
        "responses": {
            "200": {"description": "the result (the SDK's to_dict())", **ok},
            "413": {"description": ERRORS[413]["description"], **_schema_ref(TooLargeOut)},
            "422": {"description": ERRORS[422]["description"], **_schema_ref(ValidationErrorOut)},
        },
    }


def checker_info(checker: Any) -> Dict[str, Any]:
    """Engine, model version and manifest hash, rulebook sources: what /healthz reports."""
    from ..model_manifest import sha256_file

    engine = getattr(checker, "_engine", None)
    model = getattr(engine, "onnx", None)
    rules = getattr(engine, "rules", engine if getattr(engine, "name", "") == "rules" else None)
    info: Dict[str, Any] = {
        "engine": checker.engine,
        "requested_engine": getattr(checker, "requested_engine", None),
        "fell_back": bool(getattr(checker, "fell_back", False)),
        "model": None,
        "rulebook": None,
    }
    manifest = getattr(model, "manifest", None)
    if manifest is not None:
        path = manifest.model_dir / "manifest.json"
        info["model"] = {
            "dir": str(manifest.model_dir),
            "version": manifest.version,
            "manifest_sha256": sha256_file(path) if path.is_file() else None,
            "tasks": sorted(manifest.tasks),
            "policy": getattr(engine, "policy", None),
        }
    book = getattr(rules, "rulebook", None)
    if book is not None:
        info["rulebook"] = {
            "version": book.version,
            "company_name": book.company_name,
            "sources": list(book.sources),
            "rules": len(book.rules),
        }
    return info


class Service:
    """What one worker process holds: the checker, its inference lanes and batchers, the metrics."""

    def __init__(self, config: ServerConfig, checker: Any, tracker: Tracker):
        self.config, self.checker, self.tracker = config, checker, tracker
        self.metrics = Metrics(ENDPOINTS)
        tracker.metrics = self.metrics
        self.metrics.model_loaded.set(1 if checker.engine == "onnx" else 0)
        self.info = checker_info(checker)
        self.lanes = Lanes(config.threads or os.cpu_count() or 1)
        wait = config.batch_wait_ms / 1000
        self.check_batcher = MicroBatcher(
            self._check_json,
            self.lanes,
            config.micro_batch_max,
            wait,
            lambda: tracker.coming,
            self.metrics.batch_size.labels("check").observe,
        )
        self.emotion_batcher = MicroBatcher(
            self._emotion_json,
            self.lanes,
            config.micro_batch_max,
            wait,
            lambda: tracker.coming,
            self.metrics.batch_size.labels("emotion").observe,
        )

    # -- model passes (run on an inference thread): results as JSON, one per input
    def _check_json(self, items: List[Tuple[str, Any]]) -> List[bytes]:
        results = self.checker.check_batch(items)
        self._count("check", results)
        return [_dumps(r.to_dict()) for r in results]

    def _emotion_json(self, texts: List[str]) -> List[bytes]:
        results = self.checker.emotion_batch(texts)
        self._count("emotion", results)
        return [_dumps(r.to_dict()) for r in results]

    def _count(self, kind: str, results: Sequence[Any]) -> None:
        self.metrics.items.labels(kind).inc(len(results))
        fell_back = sum(1 for r in results if r.decided_by is not None and r.decided_by.fell_back)
        if fell_back:
            self.metrics.fallbacks.inc(fell_back)

    async def check_many(self, items: List[Tuple[str, Any]]) -> bytes:
        self.metrics.batch_size.labels("check").observe(len(items))
        return b'{"results":[' + b",".join(await self.lanes.run(self._check_json, items)) + b"]}"

    async def emotion_many(self, texts: List[str]) -> bytes:
        self.metrics.batch_size.labels("emotion").observe(len(texts))
        return b'{"results":[' + b",".join(await self.lanes.run(self._emotion_json, texts)) + b"]}"

    def _audit_json(self, calls: List[Dict[str, Any]]) -> List[bytes]:
        results = self.checker.audit_batch(calls)
        self.metrics.items.labels("audit").inc(len(results))
        fell_back = sum(
            1 for a in results for t in a.turns if getattr(t, "decided_by", None) is not None and t.decided_by.fell_back
        )
        if fell_back:
            self.metrics.fallbacks.inc(fell_back)
        return [_dumps(r.to_dict()) for r in results]

    async def audit_one(self, call: Dict[str, Any]) -> bytes:
        return (await self.lanes.run(self._audit_json, [call]))[0]

    async def audit_many(self, calls: List[Dict[str, Any]]) -> bytes:
        self.metrics.batch_size.labels("audit").observe(len(calls))
        return b'{"results":[' + b",".join(await self.lanes.run(self._audit_json, calls)) + b"]}"

    async def close(self) -> None:
        await self.check_batcher.close()
        await self.emotion_batcher.close()
        self.lanes.shutdown()


def build_checker(config: ServerConfig) -> Any:
    from ..checker import Checker

    kwargs: Dict[str, Any] = {
        "engine": config.engine,
        "model_dir": config.model_dir,
        "rulebook": list(config.rulebook) or None,
        "threads": config.threads,
    }
    if config.scorecard is not None:
        kwargs["scorecard"] = config.scorecard
    return Checker(**kwargs)


def _check_item(req: CheckRequest, loc: Sequence[Any]) -> Tuple[str, Any]:
    """(utterance, context) as the SDK takes it; the SDK's own input checks run here, per request."""
    context = (
        req.context if not isinstance(req.context, list) else [t.model_dump(exclude_none=True) for t in req.context]
    )
    try:
        check_input(req.utterance, context)
    except (TypeError, ValueError) as exc:
        raise Invalid([_sdk_error(exc, loc)]) from None
    return req.utterance, context


def _batch_limit(n: int, config: ServerConfig, field: str) -> None:
    if n > config.max_batch_items:
        raise TooLarge(too_large(f"the batch ('{field}')", f"{n:,} items", config.max_batch_items, "max_batch_items"))


def _validate_each(values: Sequence[_In], validate: Callable[[_In, Sequence[Any]], _Out], field: str) -> List[_Out]:
    """Every item validated; all the bad ones reported together (422), not just the first."""
    out: List[_Out] = []
    errors: List[Dict[str, Any]] = []
    for i, value in enumerate(values):
        try:
            out.append(validate(value, ("body", field, i)))
        except Invalid as exc:
            errors.extend(exc.errors)
    if errors:
        raise Invalid(errors)
    return out


def create_app(config: Optional[ServerConfig] = None, checker: Any = None) -> FastAPI:
    """The app. ``checker``: an existing Checker (or a test double); default: built from ``config``
    when the app starts, once per worker process."""
    config = config if config is not None else ServerConfig.from_env()
    tracker = Tracker()
    holder: Dict[str, Service] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = Service(config, checker if checker is not None else build_checker(config), tracker)
        holder["service"] = service
        log.info("cs-qa serving with engine=%s (pid %d)", service.checker.engine, os.getpid())
        try:
            yield
        finally:
            await service.close()

    app = FastAPI(
        title="cs-qa",
        version=__version__,
        lifespan=lifespan,
        description="Offline Chinese call-center compliance QA (客服质检) over HTTP. Results are the "
        "SDK's `to_dict()`; see the SDK's API for their fields.",
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_body_bytes)
    app.add_middleware(MetricsMiddleware, tracker=tracker)

    def service() -> Service:
        return holder["service"]

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        errors = [_pydantic_error(e) for e in exc.errors()]
        return _json(_dumps({"detail": errors}), 422)

    @app.exception_handler(Invalid)
    async def invalid_input(request: Request, exc: Invalid) -> Response:
        return _json(_dumps({"detail": exc.errors}), 422)

    @app.exception_handler(TooLarge)
    async def too_large_batch(request: Request, exc: TooLarge) -> Response:
        return _json(exc.message, 413)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s", request.url.path)
        return _json(_dumps({"detail": f"internal error ({type(exc).__name__}); see the server log"}), 500)

    docs: List[Tuple[str, Type[BaseModel], Optional[Type[BaseModel]], str, str]] = []

    def post(
        path: str, model: Type[M], response: Optional[Type[BaseModel]], tag: str, summary: str
    ) -> Callable[[Callable[[M, Request], Awaitable[Response]]], Callable[[M, Request], Awaitable[Response]]]:
        """A POST endpoint as a plain Starlette route: FastAPI's per-request machinery measured about twice
        the cost of the route itself (benchmarks/bench_server.py); the body is validated with the same
        pydantic model, and the OpenAPI document describes it (``openapi`` below)."""

        def register(fn: Callable[[M, Request], Awaitable[Response]]) -> Callable[[M, Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                return await fn(await _parse(request, model), request)

            app.router.routes.append(Route(path, endpoint, methods=["POST"], name=fn.__name__))
            docs.append((path, model, response, tag, summary))
            return fn

        return register

    @post("/v1/check", CheckRequest, CheckOut, "check", "Compliance of one agent utterance")
    async def check(req: CheckRequest, request: Request) -> Response:
        item = _check_item(req, ("body",))
        tracker.queued(request.scope)
        return _json(await service().check_batcher.submit(item))

    @post("/v1/check_batch", CheckBatchRequest, CheckBatchOut, "check", "Compliance of many agent utterances, in order")
    async def check_batch(req: CheckBatchRequest, request: Request) -> Response:
        tracker.queued(request.scope)
        _batch_limit(len(req.items), config, "items")
        return _json(await service().check_many(_validate_each(req.items, _check_item, "items")))

    @post("/v1/emotion", EmotionRequest, EmotionOut, "emotion", "Emotion of one customer utterance")
    async def emotion(req: EmotionRequest, request: Request) -> Response:
        try:
            emotion_input(req.text)
        except (TypeError, ValueError) as exc:
            raise Invalid([_sdk_error(exc, ("body", "text"))]) from None
        tracker.queued(request.scope)
        return _json(await service().emotion_batcher.submit(req.text))

    @post("/v1/emotion_batch", EmotionBatchRequest, EmotionBatchOut, "emotion", "Emotion of many customer utterances")
    async def emotion_batch(req: EmotionBatchRequest, request: Request) -> Response:
        tracker.queued(request.scope)
        _batch_limit(len(req.texts), config, "texts")
        return _json(await service().emotion_many(list(req.texts)))

    def valid_call(call: CallIn, loc: Sequence[Any]) -> Dict[str, Any]:
        from ..audit.model import parse_call

        raw = _call_dict(call)
        try:
            parse_call(raw)
        except (TypeError, ValueError) as exc:
            raise Invalid([_call_error(exc, loc)]) from None
        return raw

    @post("/v1/audit", CallIn, None, "audit", "Audit one call or chat: per-turn results, call-level findings, score")
    async def audit(call: CallIn, request: Request) -> Response:
        tracker.queued(request.scope)
        return _json(await service().audit_one(valid_call(call, ("body",))))

    @post("/v1/audit_batch", AuditBatchRequest, AuditBatchOut, "audit", "Audit many calls, in order")
    async def audit_batch(req: AuditBatchRequest, request: Request) -> Response:
        tracker.queued(request.scope)
        _batch_limit(len(req.calls), config, "calls")
        return _json(await service().audit_many(_validate_each(req.calls, valid_call, "calls")))

    def openapi() -> Dict[str, Any]:
        """FastAPI's document (healthz, metrics) plus the POST endpoints, from the same pydantic models."""
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            models: Set[Type[BaseModel]] = {m for _, model, response, _, _ in docs for m in (model, response) if m}
            models |= {ValidationErrorOut, TooLargeOut}
            inputs: List[Tuple[Type[BaseModel], JsonSchemaMode]] = [
                (m, "validation") for m in sorted(models, key=lambda m: m.__name__)
            ]
            _, defs = models_json_schema(
                inputs,
                ref_template="#/components/schemas/{model}",
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
            for path, model, response, tag, summary in docs:
                schema.setdefault("paths", {})[path] = {"post": _operation(model, response, tag, summary)}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/healthz", tags=["operations"], summary="Engine, model version and manifest hash, rulebook sources")
    async def healthz(request: Request) -> Response:
        tracker.queued(request.scope)
        s = service()
        body = {
            "status": "ok",
            "sdk_version": __version__,
            "pid": os.getpid(),
            **s.info,
            "scorecard": config.scorecard or "default",
            "limits": {"max_body_bytes": config.max_body_bytes, "max_batch_items": config.max_batch_items},
            "batching": {"wait_ms": config.batch_wait_ms, "max_items": config.micro_batch_max, "lanes": s.lanes.slots},
        }
        return _json(_dumps(body))

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics (text format)")
    async def metrics(request: Request) -> Response:
        tracker.queued(request.scope)
        body, content_type = service().metrics.render()
        return Response(body, media_type=content_type)

    return app
