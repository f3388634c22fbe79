"""The rulebook: service-standard rules as validated YAML data.

``load_rulebook()`` returns the default rulebook shipped in ``sdk/rules/``
(loaded once, then cached); ``load_rulebook([overlay.yaml, ...])`` layers a QA
team's overlays on top of it. A broken rulebook raises :class:`RulebookError`
naming the rule and the field — it never silently falls back to defaults.

pydantic and PyYAML are imported inside the loader so that ``import sdk`` stays
cheap.

Rule anatomy (see ``sdk/rules/default.yaml`` for the full, commented format):

* ``kind: forbidden`` — fires when a phrase/pattern occurs in the utterance
  (minus ``not_before``/``not_after`` local exceptions and ``unless`` whole-
  utterance exceptions), optionally only when a context cue is present.
* ``kind: required`` — fires when a trigger is present (a context cue from
  ``when_cues`` or an utterance pattern from ``when_utterance``; both when
  ``trigger: all``) and none of ``requires`` occurs in the utterance.
* ``advisory: true`` — reported as a finding (with label ``standard``) but never
  decides the label.

Patterns may embed a lexicon as ``{lex:name}`` (an escaped alternation).
"""
from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple, Union

from .labels import COMPLIANCE_LABELS, SCENARIOS

SEVERITIES = ("low", "medium", "high")
CUE_WHERE = ("events", "words", "any")


def _one_of(value, allowed, what: str):
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")
    return value
DEFAULT_RULEBOOK = os.path.join(os.path.dirname(__file__), "rules", "default.yaml")
_LEX_REF = re.compile(r"\{lex:([a-z0-9_]+)\}")


class RulebookError(ValueError):
    """A rulebook file is malformed; the message names the file, rule id and field."""


# --------------------------------------------------------------------------
# Compiled, immutable forms used by the engine (plain dataclasses: fast).
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class CompiledCue:
    id: str
    where: str
    scenario: str
    regex: "re.Pattern"
    unless: Optional["re.Pattern"]
    message: str
    prefilter: Optional[FrozenSet[str]] = None
    branches: Tuple[Tuple["re.Pattern", Optional[FrozenSet[str]]], ...] = ()


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
    regex: Optional["re.Pattern"]  # forbidden: what to find
    not_before: Optional["re.Pattern"]  # searched in the text just before a hit (anchored at its end)
    not_after: Optional["re.Pattern"]  # matched at the text just after a hit
    unless: Optional["re.Pattern"]  # whole-utterance exemption
    when_cues: Tuple[str, ...]
    when_utterance: Optional["re.Pattern"]
    requires: Optional["re.Pattern"]
    window: int
    trigger: str = "any"  # required rules: "any" = a cue OR the utterance trigger; "all" = both
    # Literal strings of which every match contains one (None: unknown); lets
    # the engine skip a regex when the text cannot match (see anchor_strings).
    prefilter: Optional[FrozenSet[str]] = None
    utterance_prefilter: Optional[FrozenSet[str]] = None
    # forbidden rules: the top-level alternatives of `regex`, each compiled with
    # its own anchors, so only the alternatives that can match are run
    branches: Tuple[Tuple["re.Pattern", Optional[FrozenSet[str]]], ...] = ()
    # decides the label under every engine (a QA team's own rules are binding by default)
    binding: bool = False


@dataclass
class Rulebook:
    version: int
    company_name: Optional[str]
    lexicons: Dict[str, Tuple[str, ...]]
    cues: Tuple[CompiledCue, ...]
    rules: Tuple[CompiledRule, ...]
    sources: Tuple[str, ...] = field(default_factory=tuple)
    negation: Optional["re.Pattern"] = None

    def rule(self, rule_id: str) -> CompiledRule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(f"no rule {rule_id!r} in rulebook ({len(self.rules)} rules)")


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------
def load_rulebook(paths: Union[None, str, os.PathLike, Sequence[Union[str, os.PathLike]]] = None,
                  *, base: Union[None, str, os.PathLike] = None) -> Rulebook:
    """The default rulebook (or the complete rulebook file ``base``), extended /
    overridden by the overlay YAML files in ``paths``, in order."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    overlays = tuple(os.fspath(p) for p in (paths or ()))
    base_path = DEFAULT_RULEBOOK if base is None else os.fspath(base)
    if base_path == DEFAULT_RULEBOOK and not overlays:
        return _default_rulebook()
    return _build(base_path, overlays)


@lru_cache(maxsize=1)
def _default_rulebook() -> Rulebook:
    return _build(DEFAULT_RULEBOOK, ())


def _build(base: str, overlays: Tuple[str, ...]) -> Rulebook:
    raw = _read_yaml(base)
    for path in overlays:
        raw = _apply_overlay(raw, _read_yaml(path), path)
    return _compile(raw, (base,) + overlays)


def _read_yaml(path: str) -> dict:
    import yaml

    if not os.path.isfile(path):
        raise FileNotFoundError(f"rulebook file not found: {path}")
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise RulebookError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RulebookError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


_OVERLAY_KEYS = ("company_name", "lexicons", "cues", "rules", "overrides", "disable",
                 "forbidden_words", "required_phrases", "version")


def _apply_overlay(base: dict, overlay: dict, path: str) -> dict:
    """Merge one overlay into the raw default (before validation)."""
    unknown = sorted(set(overlay) - set(_OVERLAY_KEYS))
    if unknown:
        raise RulebookError(f"{path}: unknown overlay key(s) {unknown}; expected any of {list(_OVERLAY_KEYS)}")
    out = copy.deepcopy(base)
    if "company_name" in overlay:
        out["company_name"] = overlay["company_name"]
    for name, words in (overlay.get("lexicons") or {}).items():
        if not isinstance(words, list):
            raise RulebookError(f"{path}: lexicons.{name} must be a list of phrases")
        out.setdefault("lexicons", {}).setdefault(name, [])
        out["lexicons"][name] = list(out["lexicons"][name]) + list(words)
    cues = {c.get("id"): c for c in out.get("cues", []) if isinstance(c, dict)}
    seen = set()
    for cue in overlay.get("cues") or []:
        cid = cue.get("id") if isinstance(cue, dict) else None
        if cid in seen:
            raise RulebookError(f"{path}: cue {cid!r} field 'id': duplicate cue id in this overlay")
        seen.add(cid)
        cues[cid] = cue
    out["cues"] = list(cues.values())
    rules = {r.get("id"): r for r in out.get("rules", []) if isinstance(r, dict)}
    seen = set()
    for rule in overlay.get("rules") or []:
        if not isinstance(rule, dict) or "id" not in rule:
            raise RulebookError(f"{path}: every entry of 'rules' needs an 'id' (got {rule!r:.80})")
        if rule["id"] in seen:
            raise RulebookError(f"{path}: rule {rule['id']!r} field 'id': duplicate rule id in this overlay")
        seen.add(rule["id"])
        # an existing id is replaced: that is how an overlay overrides a rule; a team's own rule binds
        rules[rule["id"]] = {"binding": True, **rule}
    for rule_id, changes in (overlay.get("overrides") or {}).items():
        if rule_id not in rules:
            raise RulebookError(f"{path}: overrides.{rule_id}: no such rule; known ids start {sorted(rules)[:5]}…")
        if not isinstance(changes, dict):
            raise RulebookError(f"{path}: overrides.{rule_id} must be a mapping of field: value")
        rules[rule_id] = {**rules[rule_id], **changes}
    for rule_id in overlay.get("disable") or []:
        if rule_id not in rules:
            raise RulebookError(f"{path}: disable: no rule {rule_id!r}")
        rules[rule_id] = {**rules[rule_id], "enabled": False}
    for i, item in enumerate(overlay.get("forbidden_words") or []):
        entry = {"phrase": item} if isinstance(item, str) else dict(item)
        rid = entry.pop("id", f"custom.forbidden.{i + 1}")
        phrase = entry.pop("phrase", None)
        rules[rid] = {
            "id": rid, "kind": "forbidden", "label": "non_compliant", "scenario": entry.pop("scenario", "general_enquiry"),
            "severity": entry.pop("severity", "medium"), "phrases": [phrase] if phrase else [],
            "patterns": entry.pop("patterns", []),
            "message": entry.pop("message", f"使用了本公司禁用语“{phrase}”"),
            "suggestion": entry.pop("suggestion", None), "source": entry.pop("source", path), "binding": True,
            **entry,
        }
    for i, item in enumerate(overlay.get("required_phrases") or []):
        entry = dict(item)
        rid = entry.pop("id", f"custom.required.{i + 1}")
        phrases = entry.pop("phrases", [])
        rules[rid] = {
            "id": rid, "kind": "required", "label": entry.pop("label", "missing_thanks"),
            "scenario": entry.pop("scenario", "general_enquiry"), "severity": entry.pop("severity", "medium"),
            "requires": [re.escape(p) for p in phrases] + entry.pop("patterns", []),
            "message": entry.pop("message", f"缺少本公司要求的用语：{'/'.join(phrases)}"),
            "source": entry.pop("source", path), "binding": True, **entry,
        }
    out["rules"] = list(rules.values())
    return out


# --------------------------------------------------------------------------
# Validation + compilation
# --------------------------------------------------------------------------
def _models():
    """pydantic models, built on first use (keeps ``import sdk`` light)."""
    from typing import Literal

    from pydantic import BaseModel, ConfigDict, Field, field_validator

    class CueModel(BaseModel):
        model_config = ConfigDict(extra="forbid")
        id: str = Field(pattern=r"^[a-z0-9_.]+$")
        where: Literal["events", "words", "any"] = "any"
        scenario: str = "general_enquiry"
        phrases: List[str] = []
        patterns: List[str] = []
        unless: List[str] = []
        message: str = ""

        @field_validator("scenario")
        @classmethod
        def _scenario(cls, v):
            return _one_of(v, SCENARIOS, "scenario")

    class RuleModel(BaseModel):
        model_config = ConfigDict(extra="forbid")
        id: str = Field(pattern=r"^[a-z0-9_.]+$")
        kind: Literal["forbidden", "required"]
        label: str
        scenario: str
        severity: str = "medium"
        message: str = Field(min_length=1)
        suggestion: Optional[str] = None
        source: str = Field(min_length=1)
        enabled: bool = True
        advisory: bool = False
        binding: bool = False
        phrases: List[str] = []
        patterns: List[str] = []
        not_before: List[str] = []
        not_after: List[str] = []
        unless: List[str] = []
        when_cues: List[str] = []
        when_utterance: List[str] = []
        requires: List[str] = []
        window: int = Field(default=8, ge=1, le=40)
        trigger: Literal["any", "all"] = "any"
        notes: Optional[str] = None

        @field_validator("label")
        @classmethod
        def _label(cls, v):
            if v not in COMPLIANCE_LABELS or v == "standard":
                allowed = [x for x in COMPLIANCE_LABELS if x != "standard"]
                raise ValueError(f"unknown label {v!r}; expected one of {', '.join(allowed)}")
            return v

        @field_validator("severity")
        @classmethod
        def _severity(cls, v):
            return _one_of(v, SEVERITIES, "severity")

        @field_validator("scenario")
        @classmethod
        def _scenario(cls, v):
            return _one_of(v, SCENARIOS, "scenario")

    class BookModel(BaseModel):
        model_config = ConfigDict(extra="forbid")
        version: int = 1
        company_name: Optional[str] = None
        negation: List[str] = []
        lexicons: Dict[str, List[str]] = {}
        cues: List[dict] = []
        rules: List[dict] = []

    return CueModel, RuleModel, BookModel


def _err_where(exc) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e.get("loc", ())) or "(top)"
        parts.append(f"field '{loc}': {e.get('msg')}")
    return "; ".join(parts)


def _compile(raw: dict, sources: Tuple[str, ...]) -> Rulebook:
    from pydantic import ValidationError

    CueModel, RuleModel, BookModel = _models()
    where = " + ".join(os.path.basename(s) for s in sources)
    try:
        book = BookModel.model_validate(raw)
    except ValidationError as exc:
        raise RulebookError(f"{where}: {_err_where(exc)}") from exc
    lexicons = {name: tuple(dict.fromkeys(w for w in words if w)) for name, words in book.lexicons.items()}
    for name, words in lexicons.items():
        if not words:
            raise RulebookError(f"{where}: lexicon {name!r} is empty")

    def branches(patterns: Iterable[str], phrases: Iterable[str]) -> tuple:
        out = []
        words = [re.escape(p) for p in phrases if p]
        if words:
            out.append(re.compile("|".join(words)))
        for p in patterns:
            expanded = _LEX_REF.sub(lambda m: _lex_alt(lexicons, m.group(1)), p)
            out.extend(re.compile(part) for part in split_alternatives(expanded))
        return tuple((b, anchor_strings(b)) for b in out)

    def rx(patterns: Iterable[str], owner: str, fld: str, phrases: Iterable[str] = ()) -> Optional["re.Pattern"]:
        parts = [re.escape(p) for p in phrases if p]
        for p in patterns:
            try:
                expanded = _LEX_REF.sub(lambda m: _lex_alt(lexicons, m.group(1)), p)
                re.compile(expanded)
            except KeyError as exc:
                raise RulebookError(f"{where}: {owner} field '{fld}': unknown lexicon {exc.args[0]!r} "
                                    f"in pattern {p!r}; known: {', '.join(sorted(lexicons))}") from None
            except re.error as exc:
                raise RulebookError(f"{where}: {owner} field '{fld}': bad regex {p!r}: {exc}") from None
            parts.append(f"(?:{expanded})")
        if not parts:
            return None
        return re.compile("|".join(parts))

    cues = []
    cue_ids = set()
    for i, raw_cue in enumerate(book.cues):
        cid = raw_cue.get("id", f"#{i}") if isinstance(raw_cue, dict) else f"#{i}"
        try:
            cue = CueModel.model_validate(raw_cue)
        except ValidationError as exc:
            raise RulebookError(f"{where}: cue {cid!r}: {_err_where(exc)}") from exc
        if cue.id in cue_ids:
            raise RulebookError(f"{where}: cue {cue.id!r} field 'id': duplicate cue id")
        cue_ids.add(cue.id)
        regex = rx(cue.patterns, f"cue {cue.id!r}", "patterns", cue.phrases)
        if regex is None:
            raise RulebookError(f"{where}: cue {cue.id!r} field 'phrases/patterns': a cue needs at least one")
        cues.append(CompiledCue(cue.id, cue.where, cue.scenario, regex,
                                rx(cue.unless, f"cue {cue.id!r}", "unless"), cue.message,
                                anchor_strings(regex), branches(cue.patterns, cue.phrases)))

    rules = []
    rule_ids = set()
    for i, raw_rule in enumerate(book.rules):
        rid = raw_rule.get("id", f"#{i}") if isinstance(raw_rule, dict) else f"#{i}"
        if rid in rule_ids:
            raise RulebookError(f"{where}: rule {rid!r} field 'id': duplicate rule id")
        try:
            r = RuleModel.model_validate(raw_rule)
        except ValidationError as exc:
            raise RulebookError(f"{where}: rule {rid!r}: {_err_where(exc)}") from exc
        rule_ids.add(r.id)
        owner = f"rule {r.id!r}"
        for cid in r.when_cues:
            if cid not in cue_ids:
                raise RulebookError(f"{where}: {owner} field 'when_cues': unknown cue {cid!r}; "
                                    f"known: {', '.join(sorted(cue_ids))}")
        regex = rx(r.patterns, owner, "patterns", r.phrases)
        requires = rx(r.requires, owner, "requires")
        when_utt = rx(r.when_utterance, owner, "when_utterance")
        if r.kind == "forbidden" and regex is None:
            raise RulebookError(f"{where}: {owner} field 'phrases/patterns': a forbidden rule needs at least one")
        if r.kind == "required":
            if requires is None:
                raise RulebookError(f"{where}: {owner} field 'requires': a required rule needs at least one")
            if not r.when_cues and when_utt is None:
                raise RulebookError(f"{where}: {owner} field 'when_cues/when_utterance': "
                                    f"a required rule needs a trigger")
            if r.trigger == "all" and (not r.when_cues or when_utt is None):
                raise RulebookError(f"{where}: {owner} field 'trigger': 'all' needs both when_cues and "
                                    f"when_utterance")
        if not r.enabled:
            continue
        nb = rx([f"(?:{p})$" for p in r.not_before], owner, "not_before")
        rules.append(CompiledRule(
            id=r.id, kind=r.kind, label=r.label, scenario=r.scenario, severity=r.severity,
            message=r.message, suggestion=r.suggestion, source=r.source, advisory=r.advisory,
            regex=regex, not_before=nb, not_after=rx(r.not_after, owner, "not_after"),
            unless=rx(r.unless, owner, "unless"), when_cues=tuple(r.when_cues),
            when_utterance=when_utt, requires=requires, window=r.window, trigger=r.trigger,
            prefilter=anchor_strings(regex), utterance_prefilter=anchor_strings(when_utt),
            branches=branches(r.patterns, r.phrases) if r.kind == "forbidden" else (),
            binding=r.binding and not r.advisory,
        ))
    negation = rx([f"(?:{p})$" for p in book.negation], "negation", "negation")
    return Rulebook(book.version, book.company_name, lexicons, tuple(cues), tuple(rules), sources, negation)


def _lex_alt(lexicons: Dict[str, Tuple[str, ...]], name: str) -> str:
    words = lexicons[name]  # KeyError → reported by caller
    return "(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")"


# --------------------------------------------------------------------------
# Prefilter: literal strings of which every match must contain one
# --------------------------------------------------------------------------
_COMMON = frozenset("你您我的是了不这那吧啊有在说们就也都,.!?")


def anchor_strings(pattern: Optional["re.Pattern"]) -> Optional[FrozenSet[str]]:
    """A small set of literal strings such that every match of ``pattern``
    contains at least one of them, or None when none is found (always search).

    The engine feeds all anchors of all rules to one Aho–Corasick automaton, so
    a rule's regex only runs on utterances that contain one of its anchors."""
    if pattern is None:
        return None
    try:
        from re import _parser as sre_parse  # Python >= 3.11
    except ImportError:  # pragma: no cover - older Pythons
        import sre_parse  # type: ignore
    try:
        tree = sre_parse.parse(pattern.pattern, pattern.flags)
    except Exception:  # pragma: no cover - it compiled, so it parses
        return None
    found = _need(sre_parse, list(tree))
    return frozenset(found) if found else None


def _cost(strings) -> float:
    return sum((4.0 if (len(x) == 1 and x in _COMMON) else 1.0) / len(x) for x in strings)


def _need(sp, items):
    """Cheapest set of mandatory literal strings for a parsed sequence (or None)."""
    candidates = []
    run = ""
    for op, av in items:
        if op is sp.LITERAL:
            run += chr(av)
            continue
        if run:
            candidates.append({run})
            run = ""
        cand = None
        if op is sp.IN:
            chars = set()
            for iop, iav in av:
                if iop is sp.LITERAL:
                    chars.add(chr(iav))
                elif iop is sp.RANGE and iav[1] - iav[0] < 16:
                    chars.update(chr(x) for x in range(iav[0], iav[1] + 1))
                else:  # categories, negation, big ranges: unknown
                    chars = None
                    break
            cand = chars or None
        elif op is sp.SUBPATTERN:
            cand = _need(sp, list(av[-1]))
        elif op is sp.BRANCH:
            union = set()
            for branch in av[1]:
                sub = _need(sp, list(branch))
                if not sub:
                    union = None
                    break
                union |= sub
            cand = union or None
        elif op in (sp.MAX_REPEAT, sp.MIN_REPEAT) and av[0] >= 1:
            cand = _need(sp, list(av[2]))
        if cand:
            candidates.append(cand)
    if run:
        candidates.append({run})
    if not candidates:
        return None
    return min(candidates, key=_cost)


def split_alternatives(pattern: str) -> List[str]:
    """Split a regex at its top-level ``|`` (outside groups, classes, escapes)."""
    parts, depth, in_class, escaped, start = [], 0, False, False, 0
    for i, ch in enumerate(pattern):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            if ch == "]":
                in_class = False
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
    parts.append(pattern[start:])
    return [p for p in parts if p]
