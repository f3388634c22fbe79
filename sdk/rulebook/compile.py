"""Validated raw rulebook data -> the compiled, immutable form the rules engine runs.

Every cue, rule and section is validated on its own and every problem is collected, so a broken
file is reported in full at once (each problem naming the rule or cue and the field).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Tuple

from ..bounded_repr import short_repr
from .anchors import anchor_strings, split_alternatives
from .linear_regex import LinearPattern, LinearRegexError
from .overlay import ORIGIN, USER_FIELDS
from .schema import Problems, describe, models

if TYPE_CHECKING:
    from ..audit.config import CallConfig, Scorecard

LEXICON_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "lexicons")
_LEX_REF = re.compile(r"\{lex:([a-z0-9_]+)\}")
_COMPANY = "{company}"

Pattern = "re.Pattern[str]"
Branches = Tuple[Tuple["re.Pattern[str]", Optional[FrozenSet[str]]], ...]


@dataclass(frozen=True)
class CompiledCue:
    id: str
    where: str
    scenario: str
    regex: "re.Pattern[str]"
    unless: Optional["re.Pattern[str]"]
    message: str
    prefilter: Optional[FrozenSet[str]] = None
    branches: Branches = ()


@dataclass(frozen=True)
class CompiledRule:
    id: str
    kind: str
    label: str
    scenario: str
    severity: str
    message: str
    suggestion: Optional[str]
    source: str
    advisory: bool
    regex: Optional["re.Pattern[str]"]  # forbidden: what to find
    not_before: Optional["re.Pattern[str]"]  # searched in the text just before a hit (anchored at its end)
    not_after: Optional["re.Pattern[str]"]  # matched at the text just after a hit
    unless: Optional["re.Pattern[str]"]  # whole-utterance exemption
    when_cues: Tuple[str, ...]
    when_utterance: Optional["re.Pattern[str]"]
    requires: Optional["re.Pattern[str]"]
    window: int
    trigger: str = "any"  # required rules: "any" = a cue OR the utterance trigger; "all" = both
    met_earlier: bool = False  # required rules: an earlier agent turn's required wording also counts
    # Literal strings of which every match contains one (None: unknown); lets
    # the engine skip a regex when the text cannot match (see anchor_strings).
    prefilter: Optional[FrozenSet[str]] = None
    utterance_prefilter: Optional[FrozenSet[str]] = None
    # forbidden rules: the top-level alternatives of `regex`, each compiled with
    # its own anchors, so only the alternatives that can match are run
    branches: Branches = ()
    unless_cues: Tuple[str, ...] = ()  # context cues that switch the rule off
    # decides the label under every engine (a QA team's own rules are binding by default)
    binding: bool = False


@dataclass(frozen=True)
class EmotionLexicon:
    """The customer-emotion cues: cue -> [(label, weight)], and how negation and "!" count."""

    table: Mapping[str, Tuple[Tuple[str, float], ...]]
    negators: Optional["re.Pattern[str]"]
    negated: Mapping[str, Optional[str]]
    neutral_base: float
    exclamation_boost: float
    anger_absorbs: float
    polite_request: Optional["re.Pattern[str]"] = None  # satisfied cues inside a match do not count


@dataclass
class Rulebook:
    version: int
    company_name: Optional[str]
    lexicons: Dict[str, Tuple[str, ...]]
    cues: Tuple[CompiledCue, ...]
    rules: Tuple[CompiledRule, ...]
    sources: Tuple[str, ...] = field(default_factory=tuple)
    negation: Optional["re.Pattern[str]"] = None
    emotion: Optional[EmotionLexicon] = None
    call: Optional["CallConfig"] = None  # the audit's call-level thresholds, when a file sets `call:`
    scorecard: Optional["Scorecard"] = None  # the audit's score card, when a file sets `scorecard:`

    def rule(self, rule_id: str) -> CompiledRule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(f"no rule {rule_id!r} in rulebook ({len(self.rules)} rules)")


def compile_rulebook(raw: Dict[str, Any], sources: Tuple[str, ...], problems: Problems) -> Optional[Rulebook]:
    """The compiled rulebook, or None when ``problems`` holds any (the caller raises them all)."""
    from pydantic import ValidationError

    CueModel, RuleModel, BookModel, _ = models()
    try:
        book: Any = BookModel.model_validate(raw)
    except ValidationError as exc:
        for clause in describe(exc):
            problems.add(clause)
        return None
    lexicons = {name: tuple(dict.fromkeys(w for w in words if w)) for name, words in book.lexicons.items()}
    for name, words in lexicons.items():
        if not words:
            problems.add(f"lexicon {name!r} is empty")
    company = book.company_name
    regexes = _Regexes(lexicons, company, problems)

    cues = []
    cue_ids = set()
    for i, raw_cue in enumerate(book.cues):
        raw_cue, at, user = _provenance(raw_cue, problems)
        cid = raw_cue.get("id", f"#{i}") if isinstance(raw_cue, dict) else f"#{i}"
        try:
            cue: Any = CueModel.model_validate(raw_cue)
        except ValidationError as exc:
            at.add(f"cue {_name(cid)}: " + "; ".join(describe(exc)))
            continue
        if cue.id in cue_ids:
            at.add(f"cue {cue.id!r} field 'id': duplicate cue id")
            continue
        cue_ids.add(cue.id)
        owner = f"cue {cue.id!r}"
        regex = regexes.join(cue.patterns, owner, "patterns", cue.phrases, at, user)
        if regex is None:
            if not regexes.failed(owner):
                at.add(f"{owner} field 'phrases/patterns': a cue needs at least one")
            continue
        unless = regexes.join(cue.unless, owner, "unless", (), at, user)
        cues.append(
            CompiledCue(
                cue.id,
                cue.where,
                cue.scenario,
                regex,
                unless,
                cue.message,
                anchor_strings(regex),
                regexes.branches(cue.patterns, cue.phrases, "patterns" in user or "*" in user),
            )
        )

    rules = []
    rule_ids = set()
    for i, raw_rule in enumerate(book.rules):
        raw_rule, at, user = _provenance(raw_rule, problems)
        rid = raw_rule.get("id", f"#{i}") if isinstance(raw_rule, dict) else f"#{i}"
        if not isinstance(rid, str):
            at.add(f"rule #{i} field 'id' must be a str, got {short_repr(rid)}")
            continue
        if rid in rule_ids:
            at.add(f"rule {rid!r} field 'id': duplicate rule id")
            continue
        try:
            r: Any = RuleModel.model_validate(raw_rule)
        except ValidationError as exc:
            at.add(f"rule {_name(rid)}: " + "; ".join(describe(exc)))
            continue
        rule_ids.add(r.id)
        compiled = _compile_rule(r, cue_ids, regexes, at, user)
        if compiled is not None and r.enabled and (company or not _uses_company(r)):
            rules.append(compiled)
    negation = regexes.join([f"(?:{p})$" for p in book.negation], "negation", "negation")
    emotion = _compile_emotion(book.emotion, problems)
    call, scorecard = _audit_sections(book, rule_ids, problems)
    if problems.items:
        return None
    return Rulebook(
        book.version, company, lexicons, tuple(cues), tuple(rules), sources, negation, emotion, call, scorecard
    )


def _compile_rule(
    r: Any, cue_ids: Iterable[str], regexes: "_Regexes", problems: Problems, user: FrozenSet[str] = frozenset()
) -> Optional[CompiledRule]:
    owner = f"rule {r.id!r}"
    before = len(problems.items)
    for cid in r.when_cues:
        if cid not in cue_ids:
            problems.add(f"{owner} field 'when_cues': unknown cue {cid!r}; known: {', '.join(sorted(cue_ids))}")
    for cid in r.unless_cues:
        if cid not in cue_ids:
            problems.add(f"{owner} field 'unless_cues': unknown cue {cid!r}; known: {', '.join(sorted(cue_ids))}")

    def join(patterns: Iterable[str], fld: str, phrases: Iterable[str] = ()) -> Any:
        return regexes.join(patterns, owner, fld, phrases, problems, user)

    regex = join(r.patterns, "patterns", r.phrases)
    requires = join(r.requires, "requires")
    when_utt = join(r.when_utterance, "when_utterance")
    if r.kind == "forbidden" and regex is None and not regexes.failed(owner, "patterns"):
        problems.add(f"{owner} field 'phrases/patterns': a forbidden rule needs at least one")
    if r.kind == "required":
        if requires is None and not regexes.failed(owner, "requires"):
            problems.add(f"{owner} field 'requires': a required rule needs at least one")
        if not r.when_cues and not r.when_utterance:
            problems.add(f"{owner} field 'when_cues/when_utterance': a required rule needs a trigger")
        if r.trigger == "all" and (not r.when_cues or not r.when_utterance):
            problems.add(f"{owner} field 'trigger': 'all' needs both when_cues and when_utterance")
    not_before = join([f"(?:{p})$" for p in r.not_before], "not_before")
    not_after = join(r.not_after, "not_after")
    unless = join(r.unless, "unless")
    if len(problems.items) > before:
        return None
    return CompiledRule(
        id=r.id,
        kind=r.kind,
        label=r.label,
        scenario=r.scenario,
        severity=r.severity,
        message=r.message,
        suggestion=r.suggestion,
        source=r.source,
        advisory=r.advisory,
        regex=regex,
        not_before=not_before,
        not_after=not_after,
        unless=unless,
        when_cues=tuple(r.when_cues),
        unless_cues=tuple(r.unless_cues),
        when_utterance=when_utt,
        requires=requires,
        window=r.window,
        trigger=r.trigger,
        met_earlier=r.met_earlier,
        prefilter=anchor_strings(regex),
        utterance_prefilter=anchor_strings(when_utt),
        branches=regexes.branches(r.patterns, r.phrases, "patterns" in user or "*" in user)
        if r.kind == "forbidden"
        else (),
        binding=r.binding and not r.advisory,
    )


def _uses_company(r: Any) -> bool:
    """A rule about the company's name (e.g. greeting.company_name) runs only when the rulebook names one."""
    fields = (r.phrases, r.patterns, r.requires, r.when_utterance, r.unless)
    return any(_COMPANY in p for patterns in fields for p in patterns)


class _Regexes:
    """Compiles a field's phrases + patterns ({lex:name} and {company} expanded), noting bad ones."""

    def __init__(self, lexicons: Dict[str, Tuple[str, ...]], company: Optional[str], problems: Problems):
        self.lexicons, self.problems = lexicons, problems
        self.company = re.escape(_normalized(company)) if company else None
        self._failed: List[Tuple[str, str]] = []

    def expand(self, pattern: str) -> str:
        expanded = _LEX_REF.sub(lambda m: _lex_alt(self.lexicons, m.group(1)), pattern)
        if self.company is not None:
            expanded = expanded.replace(_COMPANY, self.company)
        return expanded

    def join(
        self,
        patterns: Iterable[str],
        owner: str,
        fld: str,
        phrases: Iterable[str] = (),
        problems: Optional[Problems] = None,
        user: FrozenSet[str] = frozenset(),
    ) -> Any:
        """One regex for a field's phrases and patterns (None when there are none or one is bad); the
        patterns a user wrote (``fld`` in ``user``) compile with the linear-time engine."""
        linear = fld in user or "*" in user
        parts = [re.escape(p) for p in phrases if p]
        ok = True
        for p in patterns:
            try:
                expanded = self.expand(p)
                _compile(expanded, linear)
            except KeyError as exc:
                known = ", ".join(sorted(self.lexicons))
                self._fail(
                    owner, fld, f"unknown lexicon {exc.args[0]!r} in pattern {_name(p)}; known: {known}", problems
                )
                ok = False
                continue
            except (re.error, LinearRegexError, RecursionError, OverflowError) as exc:
                self._fail(owner, fld, f"bad regex {_name(p)}: {_name(str(exc), 200)}", problems)
                ok = False
                continue
            parts.append(f"(?:{expanded})")
        if not parts or not ok:
            return None
        try:
            return _compile("|".join(parts), linear)
        except (re.error, LinearRegexError, RecursionError, OverflowError) as exc:  # e.g. too big once joined
            self._fail(owner, fld, f"the patterns together do not compile: {_name(str(exc), 200)}", problems)
            return None

    def branches(self, patterns: Iterable[str], phrases: Iterable[str], linear: bool = False) -> Branches:
        out = []
        words = [re.escape(p) for p in phrases if p]
        if words:
            out.append(_compile("|".join(words), linear))
        for p in patterns:
            out.extend(_compile(part, linear) for part in split_alternatives(self.expand(p)))
        return tuple((b, anchor_strings(b)) for b in out)

    def failed(self, owner: str, fld: Optional[str] = None) -> bool:
        return any(o == owner and (fld is None or f == fld) for o, f in self._failed)

    def _fail(self, owner: str, fld: str, message: str, problems: Optional[Problems] = None) -> None:
        self._failed.append((owner, fld))
        (problems or self.problems).add(f"{owner} field '{fld}': {message}")


@lru_cache(maxsize=8192)
def _compile(pattern: str, linear: bool) -> Any:
    """``re`` for the shipped rulebook's patterns; the linear-time engine for a user's. Compiled
    patterns are immutable, so every rulebook built in this process shares them (``re``'s own cache
    holds 512, fewer than one rulebook's ~1,000)."""
    return LinearPattern(pattern) if linear else re.compile(pattern)


def _name(value: Any, limit: int = 80) -> str:
    """A user's value quoted for a message, cut to ``limit`` characters."""
    text = value if isinstance(value, str) else short_repr(value)
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


class _At(Problems):
    """The shared collector, naming ``where`` (the file an entry came from)."""

    def __init__(self, shared: Problems, where: str):
        super().__init__(where)
        self.items = shared.items


def _provenance(raw: Any, problems: Problems) -> Tuple[Any, Problems, FrozenSet[str]]:
    """(the entry without the overlay's private keys, problems naming its file, its user-written fields)."""
    if not isinstance(raw, dict) or (ORIGIN not in raw and USER_FIELDS not in raw):
        return raw, problems, frozenset()
    raw = dict(raw)
    origin = raw.pop(ORIGIN, None)
    user = frozenset(raw.pop(USER_FIELDS, None) or ())
    return raw, (_At(problems, origin) if isinstance(origin, str) else problems), user


def _lex_alt(lexicons: Dict[str, Tuple[str, ...]], name: str) -> str:
    words = lexicons[name]  # KeyError → reported by the caller
    return "(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")"


def _normalized(text: str) -> str:
    from ..normalize import normalize

    return normalize(text).text


# ---------------------------------------------------------------- emotion
def _compile_emotion(raw: Optional[Dict[str, Any]], problems: Problems) -> Optional[EmotionLexicon]:
    from pydantic import ValidationError

    if raw is None:
        return None
    raw, problems, user = _provenance(raw, problems)
    EmotionModel = models()[3]
    try:
        spec: Any = EmotionModel.model_validate(raw)
    except ValidationError as exc:
        for clause in describe(exc):
            problems.add(f"emotion {clause}")
        return None
    from ..normalize import to_simplified_halfwidth

    table: Dict[str, List[Tuple[str, float]]] = {}
    for label, files in spec.lexicons.items():
        for entry in files:
            path = os.path.join(LEXICON_DIR, entry.file)
            if not os.path.isfile(path):
                problems.add(
                    f"emotion field 'lexicons.{label}': lexicon file {entry.file!r} not found in {LEXICON_DIR}"
                )
                continue
            for word, weight in _read_lexicon(path):
                table.setdefault(word, []).append((label, entry.weight if entry.weight is not None else weight))
    for label, words in spec.words.items():
        for word, weight in words.items():
            cue = to_simplified_halfwidth(word.strip())
            if not cue:
                problems.add(f"emotion field 'words.{label}': a cue word must not be empty")
                continue
            table.setdefault(cue, []).append((label, float(weight)))

    def regex_field(field: str) -> Any:  # a compiled pattern (re or the linear engine) or None
        pattern = getattr(spec, field)
        if not pattern:
            return None
        try:
            return _compile(pattern, field in user)
        except (re.error, LinearRegexError, RecursionError, OverflowError) as exc:
            problems.add(f"emotion field '{field}': bad regex {_name(pattern)}: {_name(str(exc), 200)}")
            return None

    negators, polite_request = regex_field("negators"), regex_field("polite_request")
    return EmotionLexicon(
        {w: tuple(v) for w, v in table.items()},
        negators,
        dict(spec.negated),
        spec.neutral_base,
        spec.exclamation_boost,
        spec.anger_absorbs,
        polite_request,
    )


def _read_lexicon(path: str) -> List[Tuple[str, float]]:
    """(cue, weight) per line of ``word<TAB>weight`` (weight 1 when absent); # starts a comment."""
    from ..normalize import to_simplified_halfwidth

    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            word, _, weight = line.partition("\t")
            out.append((to_simplified_halfwidth(word.strip()), float(weight) if weight else 1.0))
    return out


# ---------------------------------------------------------------- audit sections
def _audit_sections(
    book: Any, rule_ids: Iterable[str], problems: Problems
) -> Tuple[Optional["CallConfig"], Optional["Scorecard"]]:
    """``call:`` and ``scorecard:`` validated by sdk.audit's models (every problem named)."""
    if book.call is None and book.scorecard is None:
        return None, None
    from pydantic import ValidationError

    from ..audit.config import CallConfig, Scorecard, format_errors

    call = scorecard = None
    checks: List[Tuple[str, Callable[[], Any]]] = []
    if book.call is not None:
        checks.append(("call", lambda: CallConfig.model_validate(book.call)))
    if book.scorecard is not None:

        def card() -> Any:
            out = Scorecard.model_validate(book.scorecard)
            out.check_selectors(rule_ids)
            return out

        checks.append(("scorecard", card))
    for section, build in checks:
        try:
            value = build()
        except ValidationError as exc:
            problems.add(f"{section}: {format_errors(exc)}")
            continue
        except ValueError as exc:
            problems.add(f"{section}: {exc}")
            continue
        if section == "call":
            call = value
        else:
            scorecard = value
    return call, scorecard
