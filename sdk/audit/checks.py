"""The call-level checks. Each one implements one item of the seed standards (its
``source`` in sdk/rules/call.yaml says which), reads its thresholds from the
``call:`` section, and returns findings, or raises :class:`Skip` when it cannot
run (no timestamps, no hang-up events): a time check is never silently passed.

A check that does not apply to a call (no holds, a chat-only check on a phone
call) returns no findings and is not listed as skipped.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Optional, Sequence

from ..normalize import to_simplified_halfwidth
from ..results import CheckResult, EmotionResult
from .config import (
    AnswerRings,
    ChatReply,
    ChatSingleChar,
    ClosingAskMore,
    ClosingHangup,
    ClosingThanks,
    DeadAir,
    EmotionEscalation,
    GreetingContent,
    GreetingTiming,
    HoldDuration,
    Interruption,
    SilentCall,
    SpeechRate,
)
from .model import SILENCE_EVENTS, Turn
from .results import CallFinding
from .view import CallView, Hold, content_chars

TurnResults = Sequence[Any]  # per turn: CheckResult (agent), EmotionResult (customer) or None


class Skip(Exception):
    """The check could not run on this call; the message says why."""


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def finding(
    view: CallView,
    check_id: str,
    turns: Sequence[int],
    start: Optional[float] = None,
    end: Optional[float] = None,
    label: Optional[str] = None,
    rule_ids: Sequence[str] = (),
    severity: Optional[str] = None,
    **values: Any,
) -> CallFinding:
    s = view.config[check_id]
    company = view.company or "XX"
    values = {k: _fmt(v) if isinstance(v, float) else v for k, v in values.items()}
    return CallFinding(
        check_id=check_id,
        turns=sorted(set(turns)),
        severity=severity or s.severity,
        message=s.message.format(company=company, **values),
        suggestion=s.suggestion.format(company=company, **values) if s.suggestion else None,
        start=start,
        end=end,
        source=s.source,
        label=label,
        rule_ids=list(rule_ids),
    )


def _at(turn: Turn) -> float:
    """The start of a turn a time check needs (Skip when it has none)."""
    if turn.start is None:
        raise Skip(f"没有时间戳：第{turn.index}轮没有开始时间")
    return turn.start


def _needs_times(turns: Sequence[Turn], what: str) -> None:
    if not turns:
        return
    if any(t.start is None for t in turns):
        raise Skip(f"没有时间戳：{what}")


# --------------------------------------------------------------------------- opening
def greeting_content(view: CallView, turn_results: TurnResults) -> List[CallFinding]:
    agents = view.agent_turns()
    if not agents:
        raise Skip("通话中没有坐席发言")
    first = agents[0]
    missing = []
    if not view.rx.search("greeting.content", f"patterns.{view.channel}", first.norm):
        missing.append("问候客户（您好）")
    identify = next(
        (v for k, v in view.config.of("greeting.content", GreetingContent).identify.items() if k == view.channel), None
    )
    company = view.company and re.sub(r"\s+", "", to_simplified_halfwidth(view.company))
    if identify and not view.rx.search("greeting.content", f"identify.{view.channel}", first.norm):
        if not (company and company in first.norm):
            missing.append("自报公司名称或工号")
    if not missing:
        return []
    return [finding(view, "greeting.content", [first.index], first.start, first.end, missing="、".join(missing))]


def greeting_timing(view: CallView, turn_results: TurnResults) -> List[CallFinding]:
    agents = view.agent_turns()
    if not agents:
        raise Skip("通话中没有坐席发言")
    first = agents[0]
    if first.start is None:
        raise Skip("没有时间戳：无法判断首次问候的时间")
    limits = view.config.of("greeting.timing", GreetingTiming).max_delay_s
    limit = next((v for k, v in limits.items() if k == view.channel), None)
    if limit is None:
        return []
    since = 0.0
    if view.channel == "chat":
        # A chat session starts when the customer first writes (or with the agent's own opening).
        opened = [t for t in view.spoken() if t.index < first.index and t.start is not None]
        since = _at(opened[0]) if opened else first.start
    delay = first.start - since
    if delay <= limit:
        return []
    return [finding(view, "greeting.timing", [first.index], since, first.start, seconds=delay, limit=limit)]


def answer_rings(view: CallView, turn_results: TurnResults) -> List[CallFinding]:
    if view.rings is None:
        raise Skip("没有振铃时长（ring_seconds 或 rings）")
    s = view.config.of("answer.rings", AnswerRings)
    if view.rings <= s.max_rings:
        return []
    agents = view.agent_turns()
    if not agents:
        return []
    first = agents[0]
    if view.rx.search("answer.rings", "apology", first.norm):
        return []
    seconds = view.call.ring_seconds if view.call.ring_seconds is not None else view.rings * s.seconds_per_ring
    return [
        finding(
            view,
            "answer.rings",
            [first.index],
            0.0,
            first.end,
            label="missing_apology",
            rings=view.rings,
            limit=s.max_rings,
            seconds=float(seconds),
        )
    ]


# --------------------------------------------------------------------------- holds
def _holds_for(view: CallView) -> List[Hold]:
    return [h for h in view.holds if not (view.silent_caller and h.event is None)]


def hold_consent(view: CallView, turn_results: TurnResults) -> List[CallFinding]:
    out = []
    turns = view.call.turns
    for hold in _holds_for(view):
        # The agent turns that prepared this hold: the last two before it, after any earlier hold.
        asks: List[Turn] = []
        for u in reversed(turns[: hold.before + 1]):
            if u.event in ("hold", "mute") and u.index != hold.event:
                break
            if u.role == "agent":
                asks.append(u)
                if len(asks) == 2:
                    break
        # Consent is asked in the turn just before the hold, or in the turn that announced the wait.
        asked = [
            u
            for k, u in enumerate(asks)
            if view.rx.search("hold.consent", "consent", u.norm)
            and (k == 0 or view.rx.search("hold.consent", "request", u.norm))
        ]
        where = [hold.event] if hold.event is not None else [hold.request] if hold.request is not None else []
        if not asked:
            turn_ids = ([asks[0].index] if asks else []) + [i for i in where if i is not None]
            out.append(finding(view, "hold.consent", turn_ids, hold.start, hold.end))
            continue
        ask = asked[0]
        if hold.event is not None and not any(
            u.role == "customer" and not view.is_silence(u) for u in turns[ask.index + 1 : hold.event]
        ):
            # Asked but did not wait for the answer: the hold began before the customer agreed.
            out.append(finding(view, "hold.consent", [ask.index] + where, hold.start, hold.end))
            continue
        refused = [
            u
            for u in turns[ask.index + 1 : hold.before + 1]
            if u.role == "customer" and view.rx.search("hold.consent", "refusal", u.norm)
        ]
        if refused:
            out.append(finding(view, "hold.consent", [ask.index, refused[0].index] + where, hold.start, hold.end))
    return out


def transfer_consent(view: CallView, turn_results: TurnResults) -> List[CallFinding]:
    """A transfer makes the customer wait for someone else: explain it and get the customer's consent
    first, as for a hold (the consent question, then the customer's answer, before the transfer)."""
    out = []
    turns = view.call.turns
    for t in view.events("transfer"):
        asks: List[Turn] = []  # the last two agent turns before the transfer, after any earlier event
        for u in reversed(turns[: t.index]):
            if u.role == "event":
                break
            if u.role == "agent":
                asks.append(u)
                if len(asks) == 2:
                    break
        asked = next((u for u in asks if view.rx.search("transfer.consent", "consent", u.norm)), None)
        if asked is None:
            out.append(finding(view, "transfer.consent", [u.index for u in asks[:1]] + [t.index], None, t.start))
            continue
        replies = [u for u in turns[asked.index + 1 : t.index] if u.role == "customer" and not view.is_silence(u)]
        if not replies or any(view.rx.search("transfer.consent", "refusal", u.norm) for u in replies):
            ids = [asked.index] + [u.index for u in replies] + [t.index]
            out.append(finding(view, "transfer.consent", ids, asked.start, t.start))
    return out


def hold_duration(view: CallView, turn_results: TurnResults) -> List[CallFinding]:
    out, untimed = [], []
    limit = view.config.of("hold.duration", HoldDuration).max_seconds
    for hold in _holds_for(view):
        if hold.seconds is None:
            untimed.append(hold.event if hold.event is not None else hold.before)
            continue
        if hold.seconds > limit:
            turn_ids = [i for i in (hold.event, hold.request, hold.after) if i is not None]
            out.append(
                finding(view, "hold.duration", turn_ids, hold.start, hold.end, seconds=hold.seconds, limit=limit)
            )
    if untimed and not out:
        raise Skip(f"等待没有起止时间（第{'、'.join(str(i) for i in untimed)}轮），无法判断是否超过{_fmt(limit)}秒")
    return out


def hold_return(view: CallView, turn_results: TurnResults) -> List[CallFinding]:
    out = []
    for hold in _holds_for(view):
        if hold.after is None:
            continue
        back = view.call.turns[hold.after]
        if view.rx.search("hold.return", "apology", back.norm):
            continue
        turn_ids = [i for i in (hold.event, hold.after) if i is not None]
        out.append(finding(view, "hold.return", turn_ids, back.start, back.end, label="missing_apology"))
    return out


def dead_air(view: CallView, turn_results: TurnResults) -> List[CallFinding]:
    if view.silent_caller:
        return []  # the silent-caller procedure has its own pauses
    limit = view.config.of("silence.dead_air", DeadAir).max_gap_s
    waits = {h.after for h in view.holds if h.after is not None}
    out = []
    # Silence marked as an event ("silence" / "静默", with start and end) counts by its own length.
    for t in view.call.turns:
        if t.event in SILENCE_EVENTS and t.duration is not None and t.duration > limit:
            nxt = view.next_agent(t.index)
            if nxt is None or nxt.index not in waits:
                out.append(
                    finding(
                        view,
                        "silence.dead_air",
                        [t.index] + ([nxt.index] if nxt else []),
                        t.start,
                        t.end,
                        seconds=t.duration,
                        limit=limit,
                    )
                )
    spoken = view.spoken()
    if any(t.start is None for t in spoken) or not any(t.end is not None for t in spoken):
        if out:
            return out
        _needs_times(spoken, "无法判断通话中的静默")
        raise Skip("没有结束时间（end）：无法判断通话中的静默")
    last_end: Optional[float] = None
    last_turn: Optional[Turn] = None
    event_since = False
    for t in view.call.turns:
        if t.role == "event":
            # a hold, mute or transfer explains the gap; a marked silence was counted above
            event_since = event_since or t.event not in SILENCE_EVENTS
            continue
        if (
            t.role == "agent"
            and last_end is not None
            and last_turn is not None
            and not event_since
            and t.index not in waits
            and _at(t) - last_end > limit
            and not any(f.turns[-1] == t.index for f in out)
        ):
            out.append(
                finding(
                    view,
                    "silence.dead_air",
                    [last_turn.index, t.index],
                    last_end,
                    t.start,
                    seconds=_at(t) - last_end,
                    limit=limit,
                )
            )
        end = t.end if t.end is not None else _at(t)
        if last_end is None or end >= last_end:
            last_end, last_turn = end, t
        event_since = False
    return out


# --------------------------------------------------------------------------- silent caller
def silent_call(view: CallView, turn_results: TurnResults) -> List[CallFinding]:
    if not view.silent_caller:
        return []
    s = view.config.of("silent_call.procedure", SilentCall)
    turns = view.call.turns
    customer_hangup = next((t.index for t in turns if t.event == "customer_hangup"), None)
    # Steps after the caller hung up are not owed.
    live = [t for t in turns if customer_hangup is None or t.index < customer_hangup]
    agents = [t for t in live if t.role == "agent"]
    explain = next((t for t in agents if view.rx.search("silent_call.procedure", "explain", t.norm)), None)
    prompts = [
        t
        for t in agents
        if (explain is None or t.index < explain.index) and view.rx.search("silent_call.procedure", "prompt", t.norm)
    ]
    hangup = next((t for t in live if t.event == "agent_hangup"), None)
    out = []
    min_gap = s.wait_s - s.tolerance_s
    last_agent = agents[-1] if agents else None

    def problem(text: str, turn_ids: List[int], start: Optional[float] = None, end: Optional[float] = None) -> None:
        out.append(finding(view, "silent_call.procedure", turn_ids, start, end, problem=text))

    if customer_hangup is not None and (explain is None or len(prompts) < s.min_prompts):
        return []  # the caller left before the procedure could be completed
    if len(prompts) < s.min_prompts:
        at = explain or hangup or last_agent
        problem(
            f"只问候了{len(prompts)}次（应至少{s.min_prompts}次，每次稍停{_fmt(s.wait_s)}秒）", [at.index] if at else []
        )
    if explain is None:
        at = hangup or last_agent
        problem("没有说明“您的电话没有声音，请您换一部电话再次打来”就结束", [at.index] if at else [])
    steps = prompts + ([explain] if explain is not None else [])
    for a, b in zip(steps, steps[1:]):
        if a.end is not None and b.start is not None and b.start - a.end < min_gap:
            problem(
                f"第{a.index}轮与第{b.index}轮之间只停了{_fmt(b.start - a.end)}秒（应稍停{_fmt(s.wait_s)}秒）",
                [a.index, b.index],
                a.end,
                b.start,
            )
    if hangup is not None:
        if explain is not None and hangup.index < explain.index:
            problem("未说明就直接挂机", [hangup.index])
        elif (
            explain is not None
            and explain.end is not None
            and hangup.start is not None
            and hangup.start - explain.end < min_gap
        ):
            problem(
                f"说明后{_fmt(hangup.start - explain.end)}秒就挂机（应再稍停{_fmt(s.wait_s)}秒）",
                [explain.index, hangup.index],
                explain.end,
                hangup.start,
            )
    return out


# --------------------------------------------------------------------------- listening
def interruption(view: CallView, turn_results: TurnResults) -> List[CallFinding]:
    spoken = view.spoken()
    _needs_times(spoken, "无法判断插话")
    if not any(t.end is not None for t in spoken if t.role == "customer"):
        raise Skip("客户发言没有结束时间（end）：无法判断插话")
    s = view.config.of("interruption", Interruption)
    out = []
    for prev, cur in zip(spoken, spoken[1:]):
        if prev.role != "customer" or cur.role != "agent" or prev.end is None:
            continue
        overlap = prev.end - _at(cur)
        if overlap <= s.min_overlap_s:
            continue
        emotion = turn_results[prev.index]
        upset = isinstance(emotion, EmotionResult) and emotion.label in ("dissatisfied", "angry")
        if upset and view.rx.search("interruption", "polite", cur.norm):
            continue  # 004: an agitated customer may be interrupted politely ("您好" / by name)
        out.append(
            finding(
                view,
                "interruption",
                [prev.index, cur.index],
                cur.start,
                prev.end,
                seconds=overlap,
                limit=s.min_overlap_s,
            )
        )
    return out


def speech_rate(view: CallView, turn_results: TurnResults) -> List[CallFinding]:
    s = view.config.of("speech_rate", SpeechRate)
    timed = [t for t in view.agent_turns() if t.duration is not None]
    if not timed:
        raise Skip("坐席发言没有起止时间：无法计算语速")
    out = []
    for t in timed:
        chars = content_chars(t.text)
        duration = t.duration
        if duration is None or chars < s.min_chars or duration <= 0:
            continue
        cps = chars / duration
        if cps > s.max_cps or cps < s.min_cps:
            out.append(
                finding(
                    view,
                    "speech_rate",
                    [t.index],
                    t.start,
                    t.end,
                    cps=cps,
                    low=s.min_cps,
                    high=s.max_cps,
                    chars=chars,
                    seconds=t.duration,
                )
            )
    return out


# --------------------------------------------------------------------------- closing
# What a customer says when the call is ending anyway (the agent owes no answer to it).
_CUSTOMER_BYE = re.compile(
    r"^(好的?|行|嗯+|哦|ok|没有?了?|没事了?|不用了|知道了|明白了|清楚了|谢谢(你|您)?|感谢|再见|拜拜|[,.!~])+$"
)


def _closing_owed(view: CallView) -> None:
    """Raise Skip when no closing is owed on this call."""
    turns = view.call.turns
    if view.silent_caller:
        raise Skip("无声电话：按无声电话流程检查")
    spoken = view.spoken()
    agents = [t.index for t in spoken if t.role == "agent"]
    if not agents:
        raise Skip("通话中没有坐席发言")
    last_agent = agents[-1]
    if any(t.event == "transfer" for t in turns[last_agent:]):
        raise Skip("通话已转接，结束语由接手的坐席负责")
    hung = next((t for t in turns if t.event == "customer_hangup"), None)
    if hung is not None and hung.index > last_agent:
        unanswered = [
            t
            for t in spoken
            if last_agent < t.index < hung.index
            and t.role == "customer"
            and not view.is_silence(t)
            and not _CUSTOMER_BYE.match(t.norm)
        ]
        if unanswered:
            raise Skip("客户在坐席回应前挂机，没有结束语环节")


def _closing_tail(view: CallView, last_agent_turns: int) -> List[Turn]:
    """The agent turns where the closing may be: the last few, and every agent turn after the
    customer last spoke (seed 000 五.3: after closing, "请问还有什么可以帮您？" / "对不起，我挂线了"
    may follow when the customer stays on the line)."""
    agents = view.agent_turns()
    spoken_customer = [t.index for t in view.spoken() if t.role == "customer" and not view.is_silence(t)]
    since = spoken_customer[-1] if spoken_customer else -1
    return [t for k, t in enumerate(agents) if k >= len(agents) - last_agent_turns or t.index > since]


def closing_ask_more(view: CallView, turn_results: TurnResults) -> List[CallFinding]:
    _closing_owed(view)
    s = view.config.of("closing.ask_more", ClosingAskMore)
    agents = view.agent_turns()
    tail = _closing_tail(view, s.last_agent_turns)
    if any(view.rx.search("closing.ask_more", "patterns", t.norm) for t in tail):
        return []
    last = agents[-1]
    return [finding(view, "closing.ask_more", [last.index], last.start, last.end)]


def closing_thanks(view: CallView, turn_results: TurnResults) -> List[CallFinding]:
    _closing_owed(view)
    s = view.config.of("closing.thanks", ClosingThanks)
    agents = view.agent_turns()
    tail = _closing_tail(view, s.last_agent_turns)
    if any(view.rx.search("closing.thanks", f"patterns.{view.channel}", t.norm) for t in tail):
        return []
    last = agents[-1]
    return [finding(view, "closing.thanks", [last.index], last.start, last.end, label="missing_thanks")]


def closing_hangup(view: CallView, turn_results: TurnResults) -> List[CallFinding]:
    if view.silent_caller:
        return []  # the silent-caller procedure says when the agent may hang up
    turns = view.call.turns
    hangups = [t for t in turns if t.event in ("agent_hangup", "customer_hangup")]
    if not hangups:
        raise Skip("没有挂机事件（agent_hangup / customer_hangup）：无法判断谁先挂机")
    first = hangups[0]
    if first.event == "customer_hangup":
        return []
    s = view.config.of("closing.hangup", ClosingHangup)
    agents = [t for t in turns[: first.index] if t.role == "agent"]
    announced = next((t for t in reversed(agents[-2:]) if view.rx.search("closing.hangup", "announce", t.norm)), None)
    last = agents[-1] if agents else None
    if announced is None:
        ids = [first.index] + ([last.index] if last else [])
        return [
            finding(view, "closing.hangup", ids, last.end if last else None, first.start, seconds=0.0, limit=s.wait_s)
        ]
    if announced.end is not None and first.start is not None:
        waited = first.start - announced.end
        if waited < s.wait_s - s.tolerance_s:
            return [
                finding(
                    view,
                    "closing.hangup",
                    [announced.index, first.index],
                    announced.end,
                    first.start,
                    seconds=waited,
                    limit=s.wait_s,
                )
            ]
    return []


# --------------------------------------------------------------------------- chat
def chat_reply_time(view: CallView, turn_results: TurnResults) -> List[CallFinding]:
    spoken = view.spoken()
    _needs_times(spoken, "无法计算回复时长")
    limit = view.config.of("chat.reply_time", ChatReply).max_reply_s
    out = []
    pending_since: Optional[float] = None
    pending_turn: Optional[int] = None
    for t in spoken:
        if t.role == "customer":
            if pending_since is None:
                pending_since = t.end if t.end is not None else t.start
                pending_turn = t.index
            continue
        if pending_since is not None and _at(t) - pending_since > limit:
            out.append(
                finding(
                    view,
                    "chat.reply_time",
                    [i for i in (pending_turn, t.index) if i is not None],
                    pending_since,
                    t.start,
                    seconds=_at(t) - pending_since,
                    limit=limit,
                )
            )
        pending_since = pending_turn = None
        if view.rx.search("chat.reply_time", "hold_request", t.norm):
            # "稍等，正在为您查询": the customer still waits for the answer.
            pending_since, pending_turn = (t.end if t.end is not None else t.start), t.index
    return out


def chat_closing_by_agent(view: CallView, turn_results: TurnResults) -> List[CallFinding]:
    spoken = view.spoken()
    if not spoken or spoken[-1].role == "agent":
        return []
    if not any(t.role == "agent" for t in spoken):
        return []
    last = spoken[-1]
    return [finding(view, "chat.closing_by_agent", [last.index], last.start, last.end)]


def chat_single_char(view: CallView, turn_results: TurnResults) -> List[CallFinding]:
    s = view.config.of("chat.single_char", ChatSingleChar)
    return [
        finding(view, "chat.single_char", [t.index], t.start, t.end, label="non_compliant")
        for t in view.agent_turns()
        if content_chars(t.text) <= s.max_chars
    ]


# --------------------------------------------------------------------------- emotion
def emotion_escalation(view: CallView, turn_results: TurnResults) -> List[CallFinding]:
    s = view.config.of("emotion.escalation", EmotionEscalation)
    out = []
    before: Optional[str] = None
    agent_since: Optional[int] = None
    for t in view.call.turns:
        if t.role == "agent":
            agent_since = t.index
            continue
        result = turn_results[t.index]
        if t.role != "customer" or not isinstance(result, EmotionResult):
            continue
        now = result.label
        if before in s.calm and now in s.upset and agent_since is not None:
            agent = turn_results[agent_since]
            agent_fault = isinstance(agent, CheckResult) and agent.label != "standard"
            if now in s.always or agent_fault:
                a = view.call.turns[agent_since]
                out.append(
                    finding(
                        view,
                        "emotion.escalation",
                        [agent_since, t.index],
                        a.start,
                        t.end,
                        before=_EMOTION_ZH.get(before, before),
                        after=_EMOTION_ZH.get(now, now),
                    )
                )
        before = now
        agent_since = None
    return out


_EMOTION_ZH = {"neutral": "平静", "satisfied": "满意", "anxious": "焦急", "dissatisfied": "不满", "angry": "愤怒"}


CheckFn = Callable[[CallView, TurnResults], List[CallFinding]]
CHECKS: Dict[str, CheckFn] = {
    "greeting.content": greeting_content,
    "greeting.timing": greeting_timing,
    "answer.rings": answer_rings,
    "hold.consent": hold_consent,
    "hold.duration": hold_duration,
    "hold.return": hold_return,
    "transfer.consent": transfer_consent,
    "silence.dead_air": dead_air,
    "silent_call.procedure": silent_call,
    "interruption": interruption,
    "speech_rate": speech_rate,
    "closing.ask_more": closing_ask_more,
    "closing.thanks": closing_thanks,
    "closing.hangup": closing_hangup,
    "chat.reply_time": chat_reply_time,
    "chat.closing_by_agent": chat_closing_by_agent,
    "chat.single_char": chat_single_char,
    "emotion.escalation": emotion_escalation,
}
