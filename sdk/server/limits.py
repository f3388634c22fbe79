"""Request size limits, answered with 413 naming the limit (before any JSON is parsed), and bodies
that are not UTF-8 (as JSON must be), answered 422."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def too_large(what: str, size: str, limit: int, setting: str) -> bytes:
    return json.dumps(
        {
            "detail": f"{what} is {size}; the limit is {limit:,} ({setting}, set with "
            f"cs-qa serve --{setting.replace('_', '-')})"
        }
    ).encode()


class BodyLimitMiddleware:
    """Pure ASGI middleware: a body over ``max_bytes`` is refused with 413.

    A declared Content-Length over the limit is refused before the body is read; a chunked body is
    read up to the limit and refused as soon as it passes it. A body that is not UTF-8 is refused
    with 422. The body is then handed on as read.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, f"{int(declared):,} bytes")
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, f"over {self.max_bytes:,} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, sent = b"".join(chunks), False
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            why = f"the body is not UTF-8 (byte {exc.start}: {exc.reason}); JSON must be sent as UTF-8"
            error = {"loc": ["body"], "field": "body", "type": "json_invalid", "msg": why}
            await self._send(send, 422, json.dumps({"detail": [error]}).encode())
            return

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for a disconnect, as the server would say

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, size: str) -> None:
        await self._send(send, 413, too_large("the request body", size, self.max_bytes, "max_body_bytes"))

    @staticmethod
    async def _send(send: Send, status: int, body: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
