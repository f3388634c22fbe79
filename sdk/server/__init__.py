"""The SDK as an HTTP service (``cs-qa serve``; needs the ``[server]`` extra: FastAPI, uvicorn,
prometheus-client).

    from sdk.server import create_app, ServerConfig
    app = create_app(ServerConfig(engine="auto"))   # any ASGI server can run it

Importing this package is cheap; FastAPI is imported with ``create_app``.
"""

from __future__ import annotations

from typing import Any

from .config import ServerConfig

__all__ = ["create_app", "ServerConfig", "serve"]


def __getattr__(name: str) -> Any:
    if name in ("create_app", "serve"):
        try:
            from . import app, run
        except ImportError as exc:  # fastapi / uvicorn / prometheus-client missing
            raise ImportError(
                f"the HTTP service needs the 'server' extra: pip install 'cs-qa-sdk[server]' ({exc})"
            ) from exc
        return app.create_app if name == "create_app" else run.serve
    raise AttributeError(f"module 'sdk.server' has no attribute {name!r}")
