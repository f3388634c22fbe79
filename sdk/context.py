"""What came before an agent utterance, parsed once.

A context arrives either as one string ("[客户已等待约2分钟] 喂？还有人吗？":
bracketed events and the customer's words) or as the preceding turns of a
conversation, oldest first (``[{"role": "customer", "text": ...}, ...]``, as
../shared/API.md says). Both become one :class:`Context`; every consumer (the
rules' cue detection, the context emotion, the model's input) reads the same
parsed value, so nothing is split or normalised twice.

What the existing checks look at is the *recent* part: the turns after the
agent last spoke (that is what a string context has always meant). The full
turn list stays available for dialogue-aware models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .bounded_repr import short_repr
from .normalize import Normalized, normalize, strip_events, to_simplified_halfwidth

ROLES = ("customer", "agent", "event")
# Event texts of ../shared/API.md, written the way the models and rules read events in a string context.
EVENT_TEXTS = {
    "hold": "保持等待",
    "mute": "静音",
    "transfer": "转接",
    "agent_hangup": "客服挂断",
    "customer_hangup": "客户挂断",
}

TurnLike = Union["Turn", Mapping[str, Any]]
ContextInput = Union[str, Sequence[TurnLike], "Context", None]


@dataclass(frozen=True)
class Turn:
    """One turn of a conversation: who spoke (or what happened), and optionally when (seconds)."""

    role: str  # "customer" | "agent" | "event"
    text: str
    start: Optional[float] = None
    end: Optional[float] = None

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"role": self.role, "text": self.text}
        if self.start is not None:
            out["start"] = self.start
        if self.end is not None:
            out["end"] = self.end
        return out


class Context:
    """A parsed context. ``source`` is what the caller gave (echoed in results); ``turns`` all the
    preceding turns, oldest first; ``events`` / ``words`` the recent events (each bracketed:
    "[客户已等待约2分钟]") and the customer's recent words.

    A plain class with slots, not a dataclass: one is built per checked utterance, and its
    normalised parts are computed on first use only.
    """

    __slots__ = ("source", "events", "words", "_turns", "_events_normalized", "_words_normalized")

    def __init__(
        self, turns: Optional[Tuple[Turn, ...]], source: Union[str, Tuple[Turn, ...]], events: str = "", words: str = ""
    ) -> None:
        self.source, self.events, self.words = source, events, words
        self._turns = turns  # None for a string context: built from events and words when asked for
        self._events_normalized: Optional[str] = None
        self._words_normalized: Union[Normalized, None, bool] = False  # False: not computed yet

    @property
    def turns(self) -> Tuple[Turn, ...]:
        if self._turns is None:
            self._turns = _turns_of_string(self.events, self.words)
        return self._turns

    @property
    def text(self) -> str:
        """The recent context as one string (events, then the customer's words): the model's input."""
        if isinstance(self.source, str):
            return self.source
        return " ".join(p for p in (self.events, self.words) if p)

    @property
    def events_normalized(self) -> str:
        if self._events_normalized is None:
            self._events_normalized = to_simplified_halfwidth(self.events)
        return self._events_normalized

    @property
    def words_normalized(self) -> Optional[Normalized]:
        """The customer's words normalised for matching, or None when there are none."""
        if self._words_normalized is False:
            self._words_normalized = normalize(self.words) if self.words.strip() else None
        return self._words_normalized  # type: ignore[return-value]

    def echo(self) -> Union[str, List[Dict[str, Any]]]:
        """JSON-ready form of what the caller gave."""
        if isinstance(self.source, str):
            return self.source
        return [t.to_dict() for t in self.source]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Context) and (self.source, self.events, self.words) == (
            other.source,
            other.events,
            other.words,
        )

    def __hash__(self) -> int:
        return hash((self.source, self.events, self.words))

    def __repr__(self) -> str:
        return f"Context(events={self.events!r}, words={self.words!r}, turns={len(self.turns)})"


def parse_context(value: ContextInput) -> Optional[Context]:
    """A :class:`Context` from a string, a list of turns or a Context; None for no context.

    Raises TypeError for a value of the wrong type and ValueError naming the index and field of a
    malformed turn.
    """
    if value is None or isinstance(value, Context):
        return value
    if isinstance(value, str):
        value = str.__str__(value)  # a str subclass is read as its characters
        if not value.strip():
            return None
        events, words = strip_events(value)
        return Context(None, value, events, words)
    if not isinstance(value, (list, tuple)):  # bytes, a dict, a number: not a context
        raise TypeError(f"context must be a str, a list of turns or None, got {short_repr(value)}")
    return context_of_turns(tuple(coerce_turn(t, i) for i, t in enumerate(value)))


def context_of_turns(turns: Tuple[Turn, ...], derived: Optional[Sequence[str]] = None) -> Optional[Context]:
    """The Context of turns that are already valid (:func:`coerce_turn`'s output). ``derived``: the
    events earlier turns imply (``sdk.dialogue.derived_events(turns)``), when the caller has them."""
    if not turns:
        return None
    if derived is None:
        from .dialogue import derived_events

        derived = derived_events(turns)
    recent = _recent(turns)
    # Recent events, then what earlier turns imply (a wait the agent asked for, data the customer
    # supplied as asked: LABELS.md section 3), so rules and models see them like written events.
    events = "".join(f"[{_event_text(t)}]" for t in recent if t.role == "event")
    events += "".join(f"[{e}]" for e in derived)
    words = " ".join(t.text.strip() for t in recent if t.role == "customer" and t.text.strip())
    return Context(turns=turns, source=turns, events=events, words=words)


def _turns_of_string(events: str, words: str) -> Tuple[Turn, ...]:
    out = [Turn("event", e) for e in _split_events(events)]
    if words:
        out.append(Turn("customer", words))
    return tuple(out)


def _split_events(events: str) -> List[str]:
    # strip_events joins the bracketed events; each keeps its brackets, so split after each closer.
    out, start = [], 0
    for i, ch in enumerate(events):
        if ch in "]】］":
            out.append(events[start + 1 : i])
            start = i + 1
    return out


def _recent(turns: Tuple[Turn, ...]) -> Tuple[Turn, ...]:
    """The turns after the agent last spoke: what the agent's next utterance answers."""
    for i in range(len(turns) - 1, -1, -1):
        if turns[i].role == "agent":
            return turns[i + 1 :]
    return turns


def _event_text(turn: Turn) -> str:
    text = EVENT_TEXTS.get(turn.text.strip(), turn.text.strip())
    if turn.start is not None and turn.end is not None and turn.end > turn.start:
        text += f"约{round(turn.end - turn.start)}秒"
    return text


def coerce_turn(value: Any, index: int) -> Turn:
    where = f"context turn {index}"
    if isinstance(value, Turn):
        raw: Mapping[str, Any] = value.to_dict()
    elif isinstance(value, Mapping):
        raw = value
    else:
        raise ValueError(f"{where} must be a dict with 'role' and 'text', got {short_repr(value)}")
    role = raw.get("role")
    if role not in ROLES:
        raise ValueError(f"{where} field 'role' must be one of {', '.join(ROLES)}, got {short_repr(role)}")
    text = raw.get("text")
    if not isinstance(text, str):
        raise ValueError(f"{where} field 'text' must be a str, got {short_repr(text)}")
    text = str.__str__(text)
    times = []
    for name in ("start", "end"):
        t = raw.get(name)
        seconds = _seconds(t)
        if t is not None and seconds is None:
            raise ValueError(
                f"{where} field {name!r} must be a non-negative number of seconds or None, got {short_repr(t)}"
            )
        times.append(seconds)
    if times[0] is not None and times[1] is not None and times[1] < times[0]:
        raise ValueError(f"{where} field 'end' ({times[1]}) is before 'start' ({times[0]})")
    return Turn(role, text, times[0], times[1])


def _seconds(value: Any) -> Optional[float]:
    """``value`` as a finite, non-negative float; None when it is not one (or is None)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
