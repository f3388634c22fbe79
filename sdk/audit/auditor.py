"""``audit(call)``: per-turn results, call-level findings, the score card, the customer's emotion.

Per turn, a batch of calls costs two model passes in all: one ``check_batch``
over every agent turn (each judged with the turns before it as its context)
and one ``emotion_batch`` over every customer turn.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from ..context import EVENT_TEXTS, Context, context_of_turns
from ..context import Turn as ContextTurn
from ..dialogue import MAX_CONTEXT_TURNS, implied_events
from ..engines.base import CheckInput
from ..normalize import to_simplified_halfwidth
from ..records import MAX_CHARS, check_input
from ..result_builder import build_check_result
from ..results import CheckResult, EmotionResult
from .checks import CHECKS, Skip
from .config import AnswerRings, CallConfig, Scorecard, TurnRollup
from .model import KNOWN_EVENTS, KNOWN_NOTES, SILENCE_EVENTS, Call, CallInput, parse_call
from .results import AuditResult, CallEmotion, CallFinding, SkippedCheck
from .scoring import apply_scorecard
from .view import CallView, Patterns, build_view

# How many turns before an agent turn its context carries at most: as many as the models read
# (what an agent turn answers is recent; a bounded window keeps a 10,000-turn call linear).
CONTEXT_TURNS = MAX_CONTEXT_TURNS
_SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2}
_ROLLUP_LABELS = ("non_compliant", "missing_apology", "missing_thanks")


@dataclass(frozen=True)
class AuditError:
    """A call that could not be audited, in an ``audit_batch(..., errors="return")``."""

    index: int
    id: Optional[str]
    error: str

    def to_dict(self) -> Dict[str, Any]:
        return {"index": self.index, "id": self.id, "error": self.error}


class Auditor:
    def __init__(
        self,
        checker: Any,
        config: CallConfig,
        scorecard: Scorecard,
        lexicons: Mapping[str, Sequence[str]],
        company: Optional[str] = None,
    ):
        self.checker = checker
        self.config = config
        self.scorecard = scorecard
        self.company = company
        self.patterns = Patterns(config, lexicons)

    # ------------------------------------------------------------------ public
    def audit(self, call: CallInput, channel: Optional[str] = None) -> AuditResult:
        return self._audit_parsed([parse_call(call, channel)])[0]

    def audit_batch(
        self, calls: Iterable[CallInput], channel: Optional[str] = None, errors: str = "raise"
    ) -> List[Union[AuditResult, AuditError]]:
        if errors not in ("raise", "return"):
            raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")
        if isinstance(calls, (str, bytes, dict)):
            raise TypeError(
                f"audit_batch takes a list of calls, got a single {type(calls).__name__}; use audit() for one call"
            )
        parsed: List[Union[Call, AuditError]] = []
        for i, raw in enumerate(calls):
            try:
                parsed.append(parse_call(raw, channel))
            except (TypeError, ValueError) as exc:
                if errors == "raise":
                    raise type(exc)(f"call {i}: {exc}") from None
                cid = raw.get("id") if isinstance(raw, dict) else None
                parsed.append(AuditError(i, None if cid is None else str(cid), f"{type(exc).__name__}: {exc}"))
        good = [c for c in parsed if isinstance(c, Call)]
        results = iter(self._audit_parsed(good))
        return [c if isinstance(c, AuditError) else next(results) for c in parsed]

    # ------------------------------------------------------------------ work
    def _audit_parsed(self, calls: List[Call]) -> List[AuditResult]:
        views = [build_view(c, self.config, self.patterns, self.company) for c in calls]
        per_call: List[List[Any]] = [[None] * len(v.call.turns) for v in views]
        items: List[CheckInput] = []
        where_check: List[Tuple[int, int]] = []
        texts: Dict[str, None] = {}  # every distinct customer text, once
        where_emotion: List[Tuple[int, int, str]] = []
        simplify = _memo(to_simplified_halfwidth)  # a turn is read in up to CONTEXT_TURNS windows
        for k, view in enumerate(views):
            contexts = _contexts(view)
            forms: Dict[int, Optional[Tuple[str, str]]] = {}  # per context turn (alive with `contexts`)
            for t in view.call.turns:
                if t.role == "agent":
                    ctx = contexts.get(t.index)
                    if len(t.text) <= MAX_CHARS and all(len(c.text) <= MAX_CHARS for c in ctx or ()):
                        # validated by parse_call: parsed here, without a second validation pass
                        items.append(CheckInput(t.text, _parsed(ctx, simplify, forms)))
                    else:  # over-long text: truncated, with the note in the result's warnings
                        items.append(check_input(t.text, ctx, f"call {view.call.id!r} turn {t.index}"))
                    where_check.append((k, t.index))
                elif t.role == "customer" and (not view.is_silence(t) or _PUNCTUATION_ONLY.match(t.text)):
                    # "？？" counts as no words for the silent-caller check, but it is the customer's
                    # turn (impatience) and gets its emotion like any other (API.md)
                    texts.setdefault(t.text)
                    where_emotion.append((k, t.index, t.text))
        # Each agent turn's context emotion is that of the customer's words before it: almost always
        # one customer turn, already in the customer pass; joined words of several turns join the pass.
        for item in items:
            if item.parsed is not None and item.parsed.words.strip():
                texts.setdefault(item.parsed.words)
        unique = list(texts)
        felt = dict(zip(unique, self.checker.emotion_batch(unique))) if unique else {}
        verdicts = _verdicts(self.checker, items)
        fell_back = getattr(self.checker, "fell_back", False)
        for (k, i), item, verdict in zip(where_check, items, verdicts):
            words = item.parsed.words if item.parsed is not None else ""
            emotion = _copy(felt[words]) if words.strip() else None
            per_call[k][i] = build_check_result(item, verdict, emotion, fell_back)
        for k, i, text in where_emotion:
            per_call[k][i] = _copy(felt[text])
        return [self._finish(view, results) for view, results in zip(views, per_call)]

    def _finish(self, view: CallView, turn_results: List[Any]) -> AuditResult:
        call = view.call
        findings: List[CallFinding] = []
        skipped: List[SkippedCheck] = []
        for cid, fn in CHECKS.items():
            if not self.config.active(cid, call.channel):
                continue
            try:
                findings.extend(fn(view, turn_results))
            except Skip as why:
                skipped.append(SkippedCheck(cid, str(why)))
        findings.extend(self._rollup(view, turn_results, findings))
        findings.sort(key=lambda f: (min(f.turns) if f.turns else -1, f.check_id))
        score, passed, findings, lines, critical = apply_scorecard(self.scorecard, findings, turn_results)
        emotion = CallEmotion.of([(i, r) for i, r in enumerate(turn_results) if isinstance(r, EmotionResult)])
        warnings = [
            f"turn {t.index}: unknown event {t.text!r} kept as a note; known events: {', '.join(KNOWN_EVENTS)}"
            for t in call.turns
            if t.role == "event" and t.event not in KNOWN_EVENTS + KNOWN_NOTES
        ]
        agent_id = call.agent_id or next((t.speaker for t in call.turns if t.role == "agent" and t.speaker), None)
        return AuditResult(
            id=call.id,
            channel=call.channel,
            score=score,
            passed=passed,
            turns=turn_results,
            findings=findings,
            skipped=skipped,
            emotion=emotion,
            engine=self.checker.engine,
            scorecard=self.scorecard.name,
            pass_mark=self.scorecard.pass_mark,
            score_lines=lines,
            critical=critical,
            agent_id=agent_id,
            call={
                "turns": [t.to_dict() for t in call.turns],
                "ring_seconds": call.ring_seconds,
                "rings": view.rings,
                **({"meta": call.meta} if call.meta else {}),
            },
            warnings=warnings,
        )

    def _red_line_label(self, r: CheckResult, channel: str) -> Optional[str]:
        """The fault a rule located in the turn's words at or above its rollup's ``rules_min_severity``
        (严禁 wording such as "这不归我们管"), when the model outvoted it for the turn's own label: one
        turn's label is chosen for agreement with QA readers, a call's red lines are not negotiable."""
        for label in _ROLLUP_LABELS:
            cid = f"turn.{label}"
            if not self.config.active(cid, channel):
                continue
            floor = self.config.of(cid, TurnRollup).rules_min_severity
            if floor is None:
                continue
            if any(
                f.source == "rules"
                and f.label == label
                and f.start is not None
                and _SEVERITY_RANK.get(f.severity or "", 1) >= _SEVERITY_RANK[floor]
                for f in r.findings
            ):
                return label
        return None

    def _rollup(self, view: CallView, turn_results: List[Any], call_findings: List[CallFinding]) -> List[CallFinding]:
        """One finding per agent turn whose per-turn label is a fault, unless a call-level check
        already reported the same fault on that turn."""
        from .checks import finding

        covered = {(i, f.label) for f in call_findings if f.label for i in f.turns}
        out = []
        for i, r in enumerate(turn_results):
            if not isinstance(r, CheckResult):
                continue
            label = r.label if r.label in _ROLLUP_LABELS else self._red_line_label(r, view.channel)
            if label is None:
                continue
            cid = f"turn.{label}"
            if (i, label) in covered or not self.config.active(cid, view.channel):
                continue
            own = [f for f in r.findings if f.label == label]
            s = self.config.of(cid, TurnRollup)
            by_rules = [f for f in own if f.source == "rules"]
            if not by_rules and r.scores.get(r.label, 0.0) < s.min_model_confidence:
                continue  # a low-confidence model verdict: left on the turn, not a call-level fault
            if by_rules and all(f.rule_id in s.needs_wait for f in by_rules) and not _waited_before(view, i):
                continue  # the rule presumed a wait that the call does not show
            if by_rules and all(f.rule_id in s.once_per_call for f in by_rules) and _apologised_before(view, i):
                continue  # the agent already apologised for it earlier in the call
            rules = by_rules or own
            severity = max((f.severity for f in own), key=lambda s: _SEVERITY_RANK.get(s, 1), default=None)
            text = "；".join(dict.fromkeys(f.message for f in rules)) or r.label
            t = view.call.turns[i]
            out.append(
                finding(
                    view,
                    cid,
                    [i],
                    t.start,
                    t.end,
                    label=label,
                    rule_ids=[f.rule_id for f in own],
                    severity=severity,
                    rules=text,
                )
            )
        return out


_PUNCTUATION_ONLY = re.compile(r"^\s*[^\w\s]+\s*$")
# The customer's words show they have been waiting ("还在吗", "人呢", "等了好久", "？？").
_NUDGE = re.compile(
    r"在吗|在不在|还在|有人吗|人呢|人去哪|怎么(这么|那么)?(久|慢)|等(了)?(好|半天|这么久|那么久|很久|好久)|[?？]{2,}"
)


def _waited_before(view: CallView, index: int) -> bool:
    """Whether the call shows the customer waiting before agent turn ``index``."""
    if any(h.after == index for h in view.holds):
        return True
    turns = view.call.turns
    for u in reversed(turns[max(0, index - CONTEXT_TURNS) : index]):
        if u.role == "agent":
            break
        if u.role == "event" and u.event in ("hold", "mute", "transfer"):
            return True
        if u.role == "customer" and _NUDGE.search(u.norm):
            return True
    return False


def _apologised_before(view: CallView, index: int) -> bool:
    """Whether an agent turn before ``index`` apologised (for a fault the agent itself reports, such as
    a line fault, the apology is owed once; later turns on the same matter do not repeat it)."""
    return any(u.role == "agent" and view.rx.search("hold.return", "apology", u.norm) for u in view.call.turns[:index])


def _waited(seconds: float) -> str:
    # Written the way the labelled data writes waits ("客户等待了约2分钟", "客户等待了40秒").
    return f"约{round(seconds / 60)}分钟" if seconds >= 90 else f"约{round(seconds)}秒"


def _event_note(view: CallView, index: int) -> Optional[str]:
    t = view.call.turns[index]
    name = t.event
    seconds = None
    for h in view.holds:
        if h.event == index and h.seconds is not None:
            seconds = h.seconds
    if name in ("hold", "mute"):
        kind = "通话保持中" if name == "hold" else "通话静音中"
        return f"{kind}，客户等待了{_waited(seconds)}" if seconds is not None else f"{kind}，客户等待"
    if name in SILENCE_EVENTS:
        return f"线路静默，客户等待了{_waited(t.duration)}" if t.duration is not None else "线路静默，客户等待"
    if name == "transfer":
        return "转接"
    if name in ("agent_hangup", "customer_hangup"):
        return None
    return t.text.strip()


_TIMES_ZH = {2: "两", 3: "三", 4: "四", 5: "五"}


def _contexts(view: CallView) -> Dict[int, Optional[List[ContextTurn]]]:
    """The context of every agent turn: the turns before it (at most CONTEXT_TURNS, oldest first;
    events written as notes the checks and models read), plus what the call's timing shows
    (a late answer, an announced wait, a silent caller) as event turns just before it."""
    turns = view.call.turns
    waits = {h.after: h for h in view.holds if h.event is None and h.after is not None}
    first_agent = next((t.index for t in turns if t.role == "agent"), None)
    late = view.rings is not None and view.rings > view.config.of("answer.rings", AnswerRings).max_rings
    notes: Dict[int, Optional[str]] = {t.index: _event_note(view, t.index) for t in turns if t.role == "event"}
    prompts_before: Dict[int, int] = {}
    if view.silent_caller:
        asked = 0
        for t in turns:
            if t.role == "agent":
                prompts_before[t.index] = asked
                asked += view.rx.search("silent_call.procedure", "prompt", t.norm)
    out: Dict[int, Optional[List[ContextTurn]]] = {}
    # One context turn object per call turn, shared by the windows that include it.
    shared: Dict[int, Optional[ContextTurn]] = {}
    for u in turns:
        if u.role == "event":
            note = notes.get(u.index)
            shared[u.index] = ContextTurn("event", note) if note else None
        elif not view.is_silence(u):
            shared[u.index] = ContextTurn(u.role, str.__str__(u.text))  # as parse_context reads it
        else:
            shared[u.index] = None
    # A wait (hold, mute, silence) is owed its apology by the first agent turn after it (LABELS.md §3);
    # later agent turns do not see it again.
    answered_by = {
        u.index: nxt.index
        for u in turns
        if u.event in ("hold", "mute") or u.event in SILENCE_EVENTS
        for nxt in [view.next_agent(u.index)]
        if nxt is not None
    }
    for t in turns:
        if t.role != "agent":
            continue
        window = range(max(0, t.index - CONTEXT_TURNS), t.index)
        ctx = [c for c in (shared[i] for i in window if answered_by.get(i, t.index) >= t.index) if c is not None]
        extra: List[str] = []
        if t.index == first_agent and late:
            extra.append(f"电话响了{view.rings}声才接起")
        if view.silent_caller and t.index != first_agent:
            asked = prompts_before.get(t.index, 0)
            extra.append("无声" if asked < 2 else f"无声，坐席已问候{_TIMES_ZH.get(asked, asked)}次")
        wait = waits.get(t.index)
        if wait is not None:
            extra.append(f"客户已等待{_waited(wait.seconds)}" if wait.seconds is not None else "客户等待中")
        ctx.extend(ContextTurn("event", e) for e in extra)
        out[t.index] = ctx or None
    return out


def _parsed(
    ctx: Optional[List[ContextTurn]],
    simplify: Callable[[str], str],
    forms: Optional[Dict[int, Optional[Tuple[str, str]]]] = None,
) -> Optional[Context]:
    """``parse_context(ctx)`` for context turns built by :func:`_contexts` (valid by construction):
    the same Context, without re-validating the turns, and each turn's text simplified once per batch.
    ``forms`` keeps each context turn's ``as_turns`` form (by id: the turns of one call's windows
    are shared objects, alive while the caller holds them)."""
    if not ctx:
        return None
    if forms is None:
        forms = {}
    turns: List[Tuple[str, str]] = []  # sdk.dialogue.as_turns(ctx)
    for c in ctx:
        key = id(c)
        if key in forms:
            form = forms[key]
        else:
            text = c.text
            if c.role == "event":
                text = text.strip()
                text = EVENT_TEXTS.get(text, text)
            form = forms[key] = (c.role, text) if text.strip() else None
        if form is not None:
            turns.append(form)
    return context_of_turns(tuple(ctx), implied_events(turns, simplify))


def _memo(fn: Callable[[str], str]) -> Callable[[str], str]:
    done: Dict[str, str] = {}

    def memoised(text: str) -> str:
        out = done.get(text)
        if out is None:
            out = done[text] = fn(text)
        return out

    return memoised


def _verdicts(checker: Any, items: List[CheckInput]) -> List[Any]:
    """The engine's verdicts on the agent turns (the Checker's engine: one batched pass)."""
    return checker._engine.verdict_batch(items) if items else []


def _copy(result: EmotionResult) -> EmotionResult:
    # results are mutable: every turn gets its own object
    return EmotionResult(
        result.label,
        dict(result.scores),
        result.engine,
        list(result.cues),
        list(result.warnings),
        result.decided_by,
        result.needs_review,
        list(result.review_reasons),
    )


def load_checker_scorecard(path: "Union[str, os.PathLike[str]]", rulebook: Any = None) -> Scorecard:
    """A QA team's score card, its rule-id selectors checked against the rulebook in use."""
    from ..rulebook import load_rulebook
    from .config import load_scorecard

    return load_scorecard(path, rule_ids=[r.id for r in load_rulebook(rulebook).rules])


def build_auditor(checker: Any, rulebook: Any = None, scorecard: Any = None) -> Auditor:
    """The Auditor of a Checker. Thresholds: the rulebook's ``call:`` section (overlays merged into
    the defaults of sdk/rules/call.yaml), else those defaults. Score card: ``scorecard`` (a path or a
    Scorecard), else an overlay's ``scorecard:`` section, else the default card. Lexicons and the
    company name come from the rulebook."""
    from ..rulebook import load_rulebook
    from .config import load_call_config, load_scorecard

    book = load_rulebook(rulebook)
    config = getattr(book, "call", None) or load_call_config()
    if isinstance(scorecard, Scorecard):
        card = scorecard
    elif scorecard is not None:
        card = load_scorecard(scorecard, rule_ids=[r.id for r in book.rules])
    else:
        card = getattr(book, "scorecard", None) or load_scorecard()
    return Auditor(checker, config, card, book.lexicons, book.company_name)
