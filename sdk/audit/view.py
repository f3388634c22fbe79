"""What the call-level checks share, worked out once per call: compiled patterns, holds
(events and announced waits), whether the caller was silent, how the call ended."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Pattern, Sequence, Tuple

from .config import AnswerRings, CallConfig, DeadAir, expand_lexicons
from .model import HOLD_EVENTS, Call, Turn

# Characters that count as spoken/typed content (speech rate, single-character replies).
_CONTENT = re.compile(r"[\u3400-\u9fff\uf900-\ufaffA-Za-z0-9]")
# A customer reply that only acknowledges ("好的", "嗯", "可以"): the agent may go on holding.
_ACK = re.compile(
    r"^(好|好的|好吧|行|可以|嗯|嗯嗯|哦|噢|ok|okay|没问题|没事|麻烦(你|您)了?|谢谢|那好|那行|等)+[,.!~]*$"
)


def content_chars(text: str) -> int:
    return len(_CONTENT.findall(text))


class Patterns:
    """Every regex field of every check, compiled once per (config, lexicons)."""

    def __init__(self, config: CallConfig, lexicons: Mapping[str, Sequence[str]]):
        self._rx: Dict[Tuple[str, str], Pattern[str]] = {}
        for cid, settings in config.checks.items():
            for name, pats in settings.regex_fields().items():
                if pats:
                    expanded = [expand_lexicons(p, lexicons, repr(cid)) for p in pats]
                    self._rx[(cid, name)] = re.compile("|".join(f"(?:{p})" for p in expanded))

    def search(self, check_id: str, name: str, text: str) -> bool:
        rx = self._rx.get((check_id, name))
        return bool(rx and rx.search(text))


@dataclass(frozen=True)
class Hold:
    """A stretch where the customer waited for the agent: a hold/mute event, or an announced
    wait ("请您稍等") before the agent's next turn."""

    before: int  # index of the last turn before the wait (the event itself for an event hold)
    after: Optional[int]  # index of the first agent turn after it (None: the call ended)
    start: Optional[float]
    end: Optional[float]
    event: Optional[int]  # index of the hold/mute event, None for an announced wait
    request: Optional[int]  # the agent turn that announced it, if any

    @property
    def seconds(self) -> Optional[float]:
        if self.start is None or self.end is None:
            return None
        return self.end - self.start


@dataclass
class CallView:
    call: Call
    config: CallConfig
    rx: Patterns
    holds: List[Hold]
    silent_caller: bool
    rings: Optional[int]
    company: Optional[str] = None
    _spoken: Optional[List[Turn]] = None  # cached: every check reads them
    _agents: Optional[List[Turn]] = None
    _silence: Optional[Dict[int, bool]] = None  # is_silence per turn index, asked ~5 times per turn

    @property
    def channel(self) -> str:
        return self.call.channel

    def spoken(self) -> List[Turn]:
        if self._spoken is None:
            self._spoken = [t for t in self.call.turns if t.role != "event"]
        return self._spoken

    def agent_turns(self) -> List[Turn]:
        if self._agents is None:
            self._agents = [t for t in self.call.turns if t.role == "agent"]
        return self._agents

    def events(self, name: str) -> List[Turn]:
        return [t for t in self.call.turns if t.event == name]

    def next_agent(self, after: int) -> Optional[Turn]:
        for t in self.call.turns[after + 1 :]:
            if t.role == "agent":
                return t
        return None

    def is_silence(self, turn: Turn) -> bool:
        """A customer turn with no words (a silent caller's line)."""
        if self._silence is None:
            self._silence = {}
        known = self._silence.get(turn.index)
        if known is None:
            known = self._silence[turn.index] = turn.role == "customer" and (
                not turn.text.strip() or self.rx.search("silent_call.procedure", "silence_markers", turn.norm)
            )
        return known


def build_view(call: Call, config: CallConfig, rx: Patterns, company: Optional[str] = None) -> CallView:
    view = CallView(call, config, rx, [], False, None, company)
    customers = [t for t in call.turns if t.role == "customer"]
    view.silent_caller = call.channel == "phone" and all(view.is_silence(t) for t in customers)
    view.rings = _rings(call, config)
    view.holds = _holds(view)
    return view


def _rings(call: Call, config: CallConfig) -> Optional[int]:
    if call.rings is not None:
        return call.rings
    if call.ring_seconds is None:
        return None
    per = config.of("answer.rings", AnswerRings).seconds_per_ring
    # Rings start at 0, per, 2*per, ...: the number begun before the answer.
    return max(1, math.ceil(call.ring_seconds / per - 1e-9)) if call.ring_seconds > 0 else 0


def _end_of(turn: Turn) -> Optional[float]:
    return turn.end if turn.end is not None else turn.start


def _holds(view: CallView) -> List[Hold]:
    call, turns = view.call, view.call.turns
    holds: List[Hold] = []
    covered = set()  # agent turns already explained by an event hold
    for t in turns:
        if t.event in HOLD_EVENTS:
            nxt = view.next_agent(t.index)
            end = t.end if t.end is not None else (nxt.start if nxt is not None else None)
            request = _last_agent_before(turns, t.index)
            holds.append(
                Hold(t.index - 1 if t.index else t.index, nxt.index if nxt else None, t.start, end, t.index, request)
            )
            if nxt is not None:
                covered.add(nxt.index)
    # Announced waits: an agent turn asking the customer to wait, then the agent's next turn with only
    # the customer's acknowledgements between (and, on a timed phone call, a real gap).
    request_field = ("hold.consent", "request") if call.channel == "phone" else ("chat.reply_time", "hold_request")
    max_gap = view.config.of("silence.dead_air", DeadAir).max_gap_s
    for t in turns:
        if t.role != "agent" or not view.rx.search(*request_field, t.norm):
            continue
        between: List[Turn] = []
        nxt = None
        for u in turns[t.index + 1 :]:
            if u.role == "agent":
                nxt = u
                break
            between.append(u)
        if nxt is None or nxt.index in covered:
            continue
        if any(u.role == "event" for u in between):
            continue
        if any(u.role == "customer" and not view.is_silence(u) and not _ACK.match(u.norm) for u in between):
            continue  # the customer said something new: the agent's next turn answers that
        last = between[-1] if between else t
        start, end = _end_of(last), nxt.start
        if call.channel == "phone" and start is not None and end is not None and end - start <= max_gap:
            continue  # a timed call shows no real wait
        holds.append(Hold(last.index, nxt.index, start, end, None, t.index))
    holds.sort(key=lambda h: h.before)
    return holds


def _last_agent_before(turns: Sequence[Turn], index: int) -> Optional[int]:
    for u in reversed(turns[:index]):
        if u.role == "agent":
            return u.index
        if u.event in HOLD_EVENTS:
            return None
    return None
