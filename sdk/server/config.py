"""What a server process needs to know: which checker to build and the limits it enforces.

``cs-qa serve`` passes the settings to each worker process through one environment variable
(uvicorn starts workers from an import string, so they cannot receive Python objects).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, List, Optional

from ..labels import ENGINES

ENV_VAR = "CS_QA_SERVER_CONFIG"


@dataclass(frozen=True)
class ServerConfig:
    """engine / model_dir / rulebook / scorecard / threads: as for ``sdk.Checker``.

    max_body_bytes: a request body above this is answered 413. max_batch_items: a batch request
    (check_batch, emotion_batch, audit_batch) with more items is answered 413.
    batch_wait_ms: how long a single request may wait for others to share its model pass.
    micro_batch_max: at most this many single requests go into one model pass.
    """

    engine: str = "auto"
    model_dir: Optional[str] = None
    rulebook: List[str] = field(default_factory=list)
    scorecard: Optional[str] = None
    threads: Optional[int] = None
    max_body_bytes: int = 1_048_576
    max_batch_items: int = 1000
    batch_wait_ms: float = 2.0
    micro_batch_max: int = 64

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}, got {self.engine!r}")
        rulebook: object = self.rulebook
        if isinstance(rulebook, str):  # one path given as a string
            object.__setattr__(self, "rulebook", [rulebook])
        for name in ("max_body_bytes", "max_batch_items", "micro_batch_max"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.threads is not None and (
            isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1
        ):
            raise ValueError(f"threads must be a positive int or None, got {self.threads!r}")
        wait = self.batch_wait_ms
        if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= 2:
            raise ValueError(f"batch_wait_ms must be a number from 0 to 2 (milliseconds), got {wait!r}")

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, environ: Optional[Dict[str, str]] = None) -> "ServerConfig":
        raw = (environ if environ is not None else os.environ).get(ENV_VAR)
        if not raw:
            return cls()
        data: Dict[str, Any] = json.loads(raw)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{ENV_VAR} has unknown settings {unknown}; known: {sorted(known)}")
        return cls(**data)
