"""A call (phone) or session (chat) as validated, immutable data.

``parse_call`` accepts the dict of ../shared/API.md ("Whole conversations") or
a bare list of turns, and raises ``ValueError`` naming the turn index and the
field of the first malformed turn (``TypeError`` for a value that is not a
call at all). Times are seconds from the answer (phone) or from the start of
the session (chat); they are optional, but where given they must be
non-negative, ``end >= start``, and starts must not go backwards (turns may
overlap: that is what an interruption is).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..normalize import to_simplified_halfwidth

ROLES = ("agent", "customer", "event")
CHANNELS = ("phone", "chat")
# Event texts of API.md. Others are kept (as free-text annotations) and reported in the audit's warnings.
KNOWN_EVENTS = ("hold", "mute", "transfer", "agent_hangup", "customer_hangup")
HOLD_EVENTS = ("hold", "mute")
# Marked silences (not in API.md's list, but common in ASR exports): the dead-air check measures them.
SILENCE_EVENTS = ("silence", "dead_air", "静默", "沉默", "无声")
KNOWN_NOTES = SILENCE_EVENTS  # read by the checks, so no "unknown event" warning
# Calls longer than this are refused rather than audited slowly.
MAX_TURNS = 50_000
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Turn:
    index: int
    role: str  # "agent" | "customer" | "event"
    text: str
    start: Optional[float] = None
    end: Optional[float] = None
    speaker: Optional[str] = None  # an agent id or name, when the input has one

    @property
    def event(self) -> Optional[str]:
        """The event name ("hold", ...) of an event turn, else None."""
        return self.text.strip().lower() if self.role == "event" else None

    @cached_property
    def norm(self) -> str:
        """The text for pattern matching: half-width, simplified, lower case, no spaces."""
        return _SPACE.sub("", to_simplified_halfwidth(self.text))

    @property
    def duration(self) -> Optional[float]:
        if self.start is None or self.end is None:
            return None
        return self.end - self.start

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"role": self.role, "text": self.text}
        if self.start is not None:
            out["start"] = self.start
        if self.end is not None:
            out["end"] = self.end
        return out


@dataclass(frozen=True)
class Call:
    turns: Tuple[Turn, ...]
    channel: str = "phone"
    id: Optional[str] = None
    ring_seconds: Optional[float] = None
    rings: Optional[int] = None
    agent_id: Optional[str] = None
    meta: Dict[str, Any] = field(default_factory=dict)  # other fields of the input, echoed

    def of_role(self, role: str) -> List[Turn]:
        return [t for t in self.turns if t.role == role]

    @property
    def timed(self) -> bool:
        """Every spoken turn has a start time."""
        return all(t.start is not None for t in self.turns if t.role != "event")


def _seconds(value: Any, where: str, name: str) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(
            f"{where} field {name!r} must be a number of seconds or null, got {type(value).__name__}: {value!r:.40}"
        )
    if math.isnan(value) or math.isinf(value) or value < 0:
        raise ValueError(f"{where} field {name!r} must be a finite, non-negative number of seconds, got {value!r}")
    return float(value)


def parse_turn(raw: Any, index: int) -> Turn:
    where = f"turn {index}"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where} must be a dict with 'role' and 'text', got {type(raw).__name__}: {raw!r:.60}")
    if "role" not in raw:
        raise ValueError(f"{where} field 'role' is missing; expected one of {', '.join(ROLES)} (keys: {sorted(raw)})")
    role = raw["role"]
    if role not in ROLES:
        raise ValueError(f"{where} field 'role' must be one of {', '.join(ROLES)}, got {role!r}")
    if "text" not in raw:
        raise ValueError(f"{where} field 'text' is missing (keys: {sorted(raw)})")
    text = raw["text"]
    if not isinstance(text, str):
        raise ValueError(f"{where} field 'text' must be a str, got {type(text).__name__}: {text!r:.60}")
    # A customer turn may be empty (a silent caller); an agent turn or event must say something.
    if role != "customer" and not text.strip():
        raise ValueError(
            f"{where} field 'text' is empty; an {role} turn needs text"
            + (f" (one of {', '.join(KNOWN_EVENTS)})" if role == "event" else "")
        )
    start = _seconds(raw.get("start"), where, "start")
    end = _seconds(raw.get("end"), where, "end")
    if start is not None and end is not None and end < start:
        raise ValueError(f"{where} field 'end' ({end}) is before its 'start' ({start})")
    speaker = raw.get("speaker", raw.get("agent_id"))
    return Turn(index, role, text, start, end, None if speaker is None else str(speaker))


# A call dict of API.md, or its list of turns (anything else is refused with a clear error).
CallInput = Any


def parse_call(call: CallInput, channel: Optional[str] = None) -> Call:
    """A validated :class:`Call` from an API.md call dict or a list of turns."""
    if isinstance(call, Call):
        return call
    if isinstance(call, (str, bytes)):
        raise TypeError(
            f"a call must be a dict with 'turns' or a list of turns, got a {type(call).__name__}; "
            f"read transcripts with sdk.audit.readers"
        )
    if isinstance(call, Mapping):
        raw = dict(call)
        if "turns" not in raw:
            raise ValueError(f"call {raw.get('id')!r}: field 'turns' is missing (keys: {sorted(raw)})")
        turns_in = raw.pop("turns")
    elif isinstance(call, Sequence):
        raw, turns_in = {}, call
    else:
        raise TypeError(f"a call must be a dict with 'turns' or a list of turns, got {type(call).__name__}")
    cid = raw.pop("id", None)
    label = f"call {cid!r}: " if cid is not None else ""
    if not isinstance(turns_in, Sequence) or isinstance(turns_in, (str, bytes)):
        raise ValueError(f"{label}field 'turns' must be a list of turns, got {type(turns_in).__name__}")
    if not turns_in:
        raise ValueError(f"{label}field 'turns' is empty; a call needs at least one turn")
    if len(turns_in) > MAX_TURNS:
        raise ValueError(
            f"{label}field 'turns' has {len(turns_in)} turns; at most {MAX_TURNS} are audited (split the transcript)"
        )
    ch = raw.pop("channel", None)
    if channel is not None and ch is not None and ch != channel:
        raise ValueError(f"{label}field 'channel' is {ch!r} but channel={channel!r} was passed")
    ch = ch or channel or "phone"
    if ch not in CHANNELS:
        raise ValueError(f"{label}field 'channel' must be one of {', '.join(CHANNELS)}, got {ch!r}")
    try:
        ring = _seconds(raw.pop("ring_seconds", None), "call", "ring_seconds")
        rings = raw.pop("rings", None)
        if rings is not None and (isinstance(rings, bool) or not isinstance(rings, int) or rings < 0):
            raise ValueError(f"call field 'rings' must be a non-negative int or null, got {rings!r}")
        turns = []
        last_start, last_index = None, None
        for i, t in enumerate(turns_in):
            turn = parse_turn(t, i)
            if turn.start is not None:
                if last_start is not None and turn.start < last_start:
                    raise ValueError(
                        f"turn {i} field 'start' ({turn.start}) is before the start of turn "
                        f"{last_index} ({last_start}); turns must be in time order"
                    )
                last_start, last_index = turn.start, i
            turns.append(turn)
    except ValueError as exc:
        raise ValueError(f"{label}{exc}") from None
    agent_id = raw.pop("agent_id", None)
    return Call(
        tuple(turns),
        ch,
        None if cid is None else str(cid),
        ring,
        rings,
        None if agent_id is None else str(agent_id),
        raw,
    )
