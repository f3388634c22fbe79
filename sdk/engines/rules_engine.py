"""Rule engine: the rulebook applied to agent utterances, cue lists to customer emotion.

Needs no model and no third-party runtime beyond the rulebook loader. Every
decision is explained by its findings (rule id, span in the original
utterance, message, standard wording to use instead).

Decision per utterance (LABELS.md):
1. context cues are detected on the bracketed events and the customer's words;
2. forbidden rules search the normalised utterance; each hit is checked
   against its local exceptions (negation before it, question/conditional
   after it) and its whole-utterance exemptions (e.g. an apology present);
3. required rules fire when a trigger is present (a cue, or the utterance
   itself asking the customer to hold/repeat…) and none of the required
   wording occurs un-negated ("不用跟我说对不起" is not an apology);
4. label = highest priority among the non-advisory findings
   (non_compliant > missing_apology > missing_thanks > standard).
"""
from __future__ import annotations

import os
import re
from typing import Any, Dict, FrozenSet, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union

from ..context import Context, ContextInput, parse_context
from ..labels import EMOTION_LABELS
from ..normalize import Normalized, normalize
from ..result_builder import rule_scores
from ..results import BY_RULES, CheckResult, EmotionResult, Finding
from ..rulebook import CompiledCue, CompiledRule, EmotionLexicon, Rulebook, load_rulebook
from .base import CheckInput, Engine, Verdict


class RulesEngine(Engine):
    """Rule-based compliance checking and customer-emotion detection."""

    name = "rules"

    def __init__(self, rulebook: Union[Rulebook, str, "os.PathLike[str]", Sequence[Any], None] = None) -> None:

        if rulebook is None or isinstance(rulebook, (str, os.PathLike, list, tuple)):
            rulebook = load_rulebook(rulebook)
        if not isinstance(rulebook, Rulebook):
            raise TypeError(f"rulebook must be a Rulebook, a path or a list of paths, got {type(rulebook).__name__}")
        self.rulebook = rulebook
        self._forbidden = tuple(r for r in rulebook.rules if r.kind == "forbidden")
        self._required = tuple(r for r in rulebook.rules if r.kind == "required")
        if rulebook.emotion is None:
            raise ValueError("the rulebook has no 'emotion' section; the rules engine needs its cue lists")
        self._emotion_finder = _emotion_finder(rulebook.emotion)  # built now, not on the first call
        self._emotion_cache: Dict[str, EmotionResult] = {}
        self._cue_cache: Dict[Tuple[str, str, bool, bool], FrozenSet[str]] = {}
        self._advisory = frozenset(r.id for r in rulebook.rules if r.advisory)
        # One Aho–Corasick pass finds which rules can match at all (their anchors).
        anchors: Dict[str, List[int]] = {}
        # key of branch b of forbidden rule i: i * _BRANCH_SLOTS + b
        for i, rule in enumerate(self._forbidden):
            if len(rule.branches) >= _BRANCH_SLOTS:
                raise ValueError(f"rule {rule.id!r} has more than {_BRANCH_SLOTS - 1} alternatives")
            for b, (_, branch_anchors) in enumerate(rule.branches):
                for a in branch_anchors or ():
                    anchors.setdefault(a, []).append(i * _BRANCH_SLOTS + b)
        for j, rule in enumerate(self._required):
            for a in rule.utterance_prefilter or ():
                anchors.setdefault(a, []).append(_REQ_KEY + j)
        self._anchors = _AnchorIndex(anchors)
        # Which required rules can fire at all: by a context cue, or by the utterance alone (always
        # tried, or once their prefilter anchor is present). The rest are not looked at per utterance.
        self._required_by_cue: Dict[str, List[int]] = {}
        for j, rule in enumerate(self._required):
            for cue_id in rule.when_cues:
                self._required_by_cue.setdefault(cue_id, []).append(j)
        by_text = [j for j, r in enumerate(self._required) if r.trigger != "all" and r.when_utterance is not None]
        self._required_by_text = frozenset(j for j in by_text if self._required[j].utterance_prefilter is None)
        self._required_prefiltered = frozenset(_REQ_KEY + j for j in by_text) - {
            _REQ_KEY + j for j in self._required_by_text
        }
        cue_anchors: Dict[str, List[int]] = {}
        for i, cue in enumerate(rulebook.cues):
            for b, (_, branch_anchors) in enumerate(cue.branches):
                for a in branch_anchors or ():
                    cue_anchors.setdefault(a, []).append(i * _BRANCH_SLOTS + b)
        self._cue_anchors = _AnchorIndex(cue_anchors)
        # branches without anchors must always be tried
        self._always = _always_branches(self._forbidden)
        self._cue_always = _always_branches(rulebook.cues)
        # The rulebook's explicit apology wording (lexicon ``explicit_apology``), for apologises().
        words = rulebook.lexicons.get("explicit_apology")
        self._explicit_apology = re.compile("|".join(map(re.escape, words))) if words else None

    # ------------------------------------------------------------------ API
    def verdict_batch(self, items: Sequence[CheckInput]) -> List[Verdict]:
        return [self.verdict(item.utterance, item.parsed) for item in items]

    def emotion_batch(self, texts: Sequence[str]) -> List[EmotionResult]:
        return [self.emotion_one(t) for t in texts]

    def apologises(self, utterance: str) -> bool:
        """Whether the utterance says explicit apology wording un-negated ("让您久等了", not "不用道歉");
        False where the rulebook has no ``explicit_apology`` lexicon."""
        if self._explicit_apology is None:
            return False
        return self._has_required(self._explicit_apology, normalize(utterance).text)

    def context_emotions(self, contexts: Sequence[Context]) -> List[EmotionResult]:
        # Cached by the words themselves, so a repeated customer turn is not even normalised again;
        # results may be shared (the result builder copies each one it hands out).
        out = []
        for c in contexts:
            cached = self._emotion_cache.get(c.words)
            out.append(cached if cached is not None else self._emotion_of(c.words_normalized or normalize(c.words)))
        return out

    def check_one(self, utterance: str, context: ContextInput = None) -> CheckResult:
        """The finished result for one utterance (a convenience over ``check_batch``)."""
        return self.check_batch([CheckInput(utterance, context)])[0]

    # -------------------------------------------------------------- checks
    def verdict(self, utterance: str, context: Optional[Context] = None) -> Verdict:
        """The rules' verdict on one utterance (already validated) after a parsed context."""
        norm = normalize(utterance)
        text = norm.text
        cues = self.context_cues(context) if context is not None else frozenset()
        if cues and context is not None and _is_opening_offer(text, context):
            cues = cues - _OPENING_EXEMPT
        if "wait" in cues and context is not None and _opens_or_reopens(context):
            cues = cues - {"wait"}
        findings: List[Finding] = []
        company = self.rulebook.company_name or "XX"

        present = self._anchors.present(text)
        candidates = _candidates(present, self._always)
        for i in sorted(candidates):
            rule = self._forbidden[i]
            if rule.when_cues and cues.isdisjoint(rule.when_cues):
                continue
            if rule.unless_cues and not cues.isdisjoint(rule.unless_cues):
                continue
            hit = self._first_valid_hit(rule, text, candidates[i])
            if hit is None:
                continue
            if rule.unless is not None and rule.unless.search(text):
                continue
            start, end = norm.span(*hit)
            findings.append(Finding(
                rule_id=rule.id, label=_finding_label(rule), start=start, end=end, text=utterance[start:end],
                source="rules", message=_fill(rule.message, company) or "", severity=rule.severity,
                suggestion=_fill(rule.suggestion, company), binding=rule.binding,
            ))

        maybe = set(self._required_by_text)
        maybe.update(key - _REQ_KEY for key in present if key in self._required_prefiltered)
        for cue_id in cues:
            maybe.update(self._required_by_cue.get(cue_id, ()))
        for j in sorted(maybe):  # any other required rule has neither its cue nor its text
            rule = self._required[j]
            if rule.unless_cues and not cues.isdisjoint(rule.unless_cues):
                continue
            by_cue = not cues.isdisjoint(rule.when_cues)
            if rule.trigger == "all" and not by_cue:
                continue
            if not by_cue or rule.trigger == "all":
                by_text = (rule.when_utterance is not None
                           and (rule.utterance_prefilter is None or _REQ_KEY + j in present)
                           and rule.when_utterance.search(text) is not None)
                if not by_text:
                    continue
            if rule.unless is not None and rule.unless.search(text):
                continue
            if rule.requires is not None and self._has_required(rule.requires, text):
                continue
            if rule.met_earlier and rule.requires is not None and self._said_earlier(rule.requires, context):
                continue
            findings.append(Finding(
                rule_id=rule.id, label=_finding_label(rule), start=None, end=None, text=None, source="rules",
                message=_fill(rule.message, company) or "", severity=rule.severity,
                suggestion=_fill(rule.suggestion, company),
                binding=rule.binding,
            ))

        label, scores = rule_scores([f for f in findings if f.rule_id not in self._advisory])
        return Verdict(label=label, scores=scores, engine=self.name, findings=findings, by=BY_RULES)

    def context_cues(self, context: ContextInput) -> FrozenSet[str]:
        """Ids of the rulebook cues present in a context (a string, turns or a parsed Context)."""
        parsed = parse_context(context)
        if parsed is None:
            return frozenset()
        # Contexts repeat a lot (one customer turn, several candidate replies;
        # the same event strings), so cue detection is cached per engine.
        # Turns read differently from a string, and untimed turns (a text chat) from a call transcript.
        from_turns = not isinstance(parsed.source, str)
        timed = from_turns and any(t.start is not None or t.end is not None for t in parsed.turns)
        key = (parsed.events, parsed.words, from_turns, timed)
        cues = self._cue_cache.get(key)
        if cues is None:
            if len(self._cue_cache) >= _CUE_CACHE_SIZE:
                self._cue_cache.clear()
            cues = self._cue_cache[key] = self._detect_cues(parsed, from_turns, from_turns and not timed)
        return cues

    def _detect_cues(self, context: Context, from_turns: bool, untimed_turns: bool) -> FrozenSet[str]:
        events_n = context.events_normalized
        words_norm = context.words_normalized
        words_n = words_norm.text if words_norm is not None else ""
        both = events_n + "|" + words_n
        candidates = _candidates(self._cue_anchors.present(both), self._cue_always)
        active = []
        all_cues = self.rulebook.cues
        # In a conversation (turns), whether the customer supplied what the agent asked for is decided from
        # the turns by sdk.dialogue (event "客户按要求提供了信息"); the customer's words alone also match
        # data or actions nobody asked for (a product link, an order card, a number volunteered, "我已经申请了"),
        # which owe no thanks (LABELS.md section 3). A string context has no turns: its words still count.
        for i, branch_ids in candidates.items():
            cue = all_cues[i]
            if cue.id in _NOT_IN_CHAT_CUES and untimed_turns:
                continue
            if from_turns and cue.id in _ASKED_DATA_CUES:
                target = events_n
            else:
                target = events_n if cue.where == "events" else words_n if cue.where == "words" else both
            if not target:
                continue
            if not any(cue.branches[b][0].search(target) for b in branch_ids):
                continue
            if cue.unless is None or not cue.unless.search(target):
                active.append(cue.id)
        if from_turns and words_norm is not None and "complaint_general" not in active:
            # In a conversation the customer's last words are read as a QA reader reads them: a turn whose
            # emotion cues say dissatisfied or angry is a complaint or push-back, and the answer owes an
            # apology (LABELS.md section 3). Written string contexts name their complaints explicitly.
            if self._emotion_of(words_norm).label in _COMPLAINING:
                active.append("complaint_general")
        return frozenset(active)

    def _first_valid_hit(self, rule: CompiledRule, text: str, branch_ids: Iterable[int]) -> Optional[Tuple[int, int]]:
        """Earliest match of the rule's candidate alternatives that passes its local exceptions."""
        best = None
        for b in branch_ids:
            for m in rule.branches[b][0].finditer(text):
                s, e = m.span()
                if e <= s:
                    continue
                if best is not None and s >= best[0]:
                    break
                if rule.not_before is not None and rule.not_before.search(text, max(0, s - rule.window), s):
                    continue
                if rule.not_after is not None and rule.not_after.match(text, e):
                    continue
                best = (s, e)
                break
        return best

    def _said_earlier(self, requires: "re.Pattern[str]", context: Optional[Context]) -> bool:
        """Whether an earlier agent turn of the context says the required wording (un-negated)."""
        if context is None:
            return False
        return any(self._has_required(requires, normalize(t.text).text) for t in context.turns if t.role == "agent")

    def _has_required(self, requires: "re.Pattern[str]", text: str) -> bool:
        negation = self.rulebook.negation
        for m in requires.finditer(text):
            s = m.start()
            if negation is not None and negation.search(text, max(0, s - 8), s):
                continue  # "不用跟我说对不起" / "不必道歉" is not an apology
            return True
        return False

    # ------------------------------------------------------------- emotion
    def emotion_one(self, text: str) -> EmotionResult:
        return _fresh(self._emotion_of(normalize(text)))

    def _emotion_of(self, norm: Normalized) -> EmotionResult:
        # Customer turns repeat (a batch of candidate replies to one turn), so each text's emotion is
        # computed once and kept; callers get a fresh copy.
        result = self._emotion_cache.get(norm.original)
        if result is None:
            if len(self._emotion_cache) >= _EMOTION_CACHE_SIZE:
                self._emotion_cache.clear()
            assert self.rulebook.emotion is not None
            result = self._emotion_cache[norm.original] = _emotion(self.rulebook.emotion, self._emotion_finder, norm)
        return result


def _fresh(cached: EmotionResult) -> EmotionResult:
    # a fresh object per call: results are mutable (the Checker adds warnings)
    return EmotionResult(label=cached.label, scores=dict(cached.scores), engine=cached.engine,
                         cues=list(cached.cues), warnings=[])


_BRANCH_SLOTS = 1000  # forbidden-rule branch keys: rule index * _BRANCH_SLOTS + branch index
_REQ_KEY = 10_000_000  # keys >= this are required rules (by index)


class _AnchorIndex:
    """Which anchor strings occur in a text → the set of rule keys they belong to."""

    def __init__(self, anchors: Dict[str, List[int]]):
        self._items = [(a, tuple(keys)) for a, keys in anchors.items()]
        self._automaton = None
        if not anchors:
            return
        try:
            import ahocorasick
        except ImportError:  # same answer from plain substring tests, only slower
            return
        automaton = ahocorasick.Automaton()
        for a, keys in self._items:
            automaton.add_word(a, keys)
        automaton.make_automaton()
        self._automaton = automaton

    def present(self, text: str) -> Set[int]:
        found: Set[int] = set()
        if self._automaton is not None:
            for _, keys in self._automaton.iter(text):
                found.update(keys)
        else:
            for a, keys in self._items:
                if a in text:
                    found.update(keys)
        return found


def _finding_label(rule: CompiledRule) -> str:
    # Advisory findings explain but never decide: they carry "standard" so that
    # any consumer taking the highest-priority finding label gets the same answer.
    return "standard" if rule.advisory else rule.label


def _always_branches(items: Sequence[Union[CompiledRule, CompiledCue]]) -> Dict[int, List[int]]:
    """{item index: [branch indices that have no anchors]}."""
    out: Dict[int, List[int]] = {}
    for i, item in enumerate(items):
        for b, (_, anchors) in enumerate(item.branches):
            if anchors is None:
                out.setdefault(i, []).append(b)
    return out


def _candidates(present: Set[int], always: Dict[int, List[int]]) -> Dict[int, List[int]]:
    """{item index: [branch indices worth running]} from the anchor keys found."""
    out: Dict[int, List[int]] = {i: list(bs) for i, bs in always.items()}
    for key in present:
        if key < _REQ_KEY:
            out.setdefault(key // _BRANCH_SLOTS, []).append(key % _BRANCH_SLOTS)
    return out


def _fill(template: Optional[str], company: str) -> Optional[str]:
    if template is None:
        return None
    return template.replace("{company}", company)


_CUE_CACHE_SIZE = 4096
_ASKED_DATA_CUES = frozenset({"info_supplied", "customer_did"})  # read from the events only in a conversation
# In a chat a customer's "不好意思 / 抱歉" is politeness around a request or a correction ("不好意思，再帮我改下发货
# 时间吧", "不好意思!是收到了"); real-chat readers do not expect a "没关系" reply (batch 1-3 labels), so the
# phone convention (seed 000 四.13) keeps applying to calls (timed turns) and string contexts.
_NOT_IN_CHAT_CUES = frozenset({"customer_apologises"})
_COMPLAINING = frozenset({"dissatisfied", "angry"})  # customer emotions that make a turn a complaint
# A chat's stock opening offer ("有什么问题我可以帮您处理或解决呢?") as the first agent turn greets; it does
# not yet answer the customer's opening words (data/README: "在吗 / 人呢" as the opening line is a greeting),
# so the apology a complaint is owed falls to the turn that takes it up.
_OPENING_OFFER = re.compile(
    r"^(您好|你好|亲爱的?|亲亲?|hi|hello)?[,.!~]*(请问)?(亲爱的|亲亲?)?[,.!~]*(您|你)?(有|遇到)(了)?(什么|啥)(问题|事情?|需要)?"
    r"(需要)?(我|小妹|妹子)?(可以|能)?(为|帮|给)(您|你)(处理或解决|效劳|服务|处理|解决|做的|的|效力)?(的|呢|吗|嘛|么)*[?!.~]*$"
)
_OPENING_EXEMPT = frozenset({"complaint_general", "complaint_error", "complaint_slow", "complaint_attitude", "wait"})


# An agent turn that closed the chat ("感谢您对京东的支持，祝您生活愉快，再见!")
_CLOSED = re.compile(r"(再见|拜拜|祝您[^,.!?，。！？]{0,8}(愉快|开心|顺利)|欢迎(您)?(下次)?再来)[!！。.~～]*\s*$")


def _opens_or_reopens(context: Context) -> bool:
    """A chat's opening "在吗 / 有人吗" (no agent turn yet), or a customer's "还在吗" after the agent closed the
    chat, greets rather than nudges after a wait (data/README, real-chat conventions)."""
    if isinstance(context.source, str):
        return False
    agents = [t for t in context.turns if t.role == "agent"]
    return not agents or _CLOSED.search(agents[-1].text) is not None


def _is_opening_offer(text: str, context: Context) -> bool:
    if isinstance(context.source, str) or any(t.role == "agent" for t in context.turns):
        return False
    return _OPENING_OFFER.match(text) is not None


# ---------------------------------------------------------------------------
# Emotion by cue phrases (the lists and weights are the rulebook's `emotion:` section)
# ---------------------------------------------------------------------------
_EMOTION_CACHE_SIZE = 4096
Finder = Tuple[str, Any]


def _emotion_finder(lexicon: EmotionLexicon) -> Finder:
    """An Aho–Corasick automaton over every cue (or, without pyahocorasick, one regex)."""
    try:
        import ahocorasick

        automaton = ahocorasick.Automaton()
        for word in lexicon.table:
            automaton.add_word(word, word)
        automaton.make_automaton()
        return ("ac", automaton)
    except ImportError:  # the pure-regex path gives the same matches, only slower
        words = sorted(lexicon.table, key=len, reverse=True)
        return ("re", re.compile("|".join(re.escape(w) for w in words)))


def _emotion_hits(finder: Finder, text: str) -> Iterator[Tuple[int, int, str]]:
    kind, obj = finder
    if kind == "ac":
        for end, word in obj.iter(text):
            yield end - len(word) + 1, end + 1, word
    else:
        for m in obj.finditer(text):
            yield m.start(), m.end(), m.group()


def _emotion(lexicon: EmotionLexicon, finder: Finder, norm: Normalized) -> EmotionResult:
    table = lexicon.table
    text = norm.text
    raw = {label: 0.0 for label in EMOTION_LABELS}
    raw["neutral"] = lexicon.neutral_base
    cues: List[Finding] = []
    taken: List[Tuple[int, int]] = []
    # longest cues first, so "不满意" is not also counted as "满意"
    hits = sorted(_emotion_hits(finder, text), key=lambda h: (-(h[1] - h[0]), h[0]))
    # "麻烦帮我查一下，谢谢": thanks that only sign a request off express no satisfaction
    polite = lexicon.polite_request.search(text) if lexicon.polite_request is not None else None
    for s, e, word in hits:
        if any(s < te and ts < e for ts, te in taken):
            continue
        taken.append((s, e))
        if polite is not None and polite.start() <= s and e <= polite.end():
            if any(label == "satisfied" for label, _ in table[word]):
                continue
        negated = lexicon.negators is not None and lexicon.negators.search(text, max(0, s - 4), s) is not None
        for label, weight in table[word]:
            target = label
            if negated:
                flipped = lexicon.negated.get(label)
                if flipped is None:
                    continue
                target = flipped
            raw[target] += weight
            start, end = norm.span(s, e)
            cues.append(Finding(rule_id=f"emotion.{target}", label=target, start=start, end=end,
                                text=norm.original[start:end], source="rules",
                                message=f"情绪线索：{word}", severity="low"))
    bangs = text.count("!")
    if bangs and (raw["angry"] or raw["dissatisfied"]):
        boost = lexicon.exclamation_boost * min(bangs, 3)
        raw["angry" if raw["angry"] >= raw["dissatisfied"] else "dissatisfied"] += boost
    if raw["angry"] and raw["dissatisfied"]:
        # anger subsumes complaint words in the same utterance
        raw["angry"] += lexicon.anger_absorbs * raw["dissatisfied"]
    total = sum(raw.values())
    # sharpen: the strongest cue should dominate but keep some mass elsewhere
    sharp = {k: (v / total) ** 2 for k, v in raw.items()}
    z = sum(sharp.values())
    scores = {k: round(v / z, 6) for k, v in sharp.items()}
    label = max(EMOTION_LABELS, key=lambda k: (scores[k], k == "neutral"))
    return EmotionResult(label=label, scores=scores, engine="rules", cues=cues)
