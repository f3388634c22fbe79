"""Call-level thresholds (``call:``) and the score card (``scorecard:``) as validated data.

Both are YAML sections (defaults: ``sdk/rules/call.yaml``); a QA team overrides
thresholds with an overlay (merged per check) and passes its own score card
(replaces the default). Everything is validated when loaded, and every problem
in a file is reported at once, each naming the check or item and the field.

For the rulebook loader (schema v2)::

    from sdk.audit.config import CallConfig, Scorecard, merge_call, format_errors
    call = CallConfig.model_validate(merge_call(base["call"], overlay.get("call")))
    card = Scorecard.model_validate(raw["scorecard"])   # pydantic.ValidationError on bad data
    card.check_selectors(rule_ids)                      # rule-id selectors must name existing rules

pydantic is imported by this module, so import it lazily (``import sdk`` stays cheap).
"""

from __future__ import annotations

import copy
import fnmatch
import os
import re
import string
from functools import lru_cache
from typing import (
    Any,
    ClassVar,
    Dict,
    Iterable,
    List,
    Literal,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
    TypeVar,
    Union,
)

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..labels import COMPLIANCE_LABELS, EMOTION_LABELS

DEFAULT_CALL_YAML = os.path.join(os.path.dirname(os.path.dirname(__file__)), "rules", "call.yaml")

Channel = Literal["phone", "chat"]
Severity = Literal["low", "medium", "high"]
CHANNELS: Tuple[str, ...] = ("phone", "chat")
FAULT_LABELS = tuple(label for label in COMPLIANCE_LABELS if label != "standard")
_LEX_REF = re.compile(r"\{lex:([a-z0-9_]+)\}")


class AuditConfigError(ValueError):
    """A ``call:`` or ``scorecard:`` section is malformed; the message names the file, item and field."""


# --------------------------------------------------------------------------
# Call-level checks: one typed model per check id.
# --------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _patterns_ok(patterns: Iterable[str]) -> None:
    for p in patterns:
        try:
            re.compile(_LEX_REF.sub("x", p))
        except re.error as exc:
            raise ValueError(f"bad regex {p!r}: {exc}") from None


class CheckSettings(_Strict):
    """What every call-level check has. ``message`` may use the check's ``{placeholders}``."""

    enabled: bool = True
    severity: Severity = "medium"
    channels: List[Channel] = ["phone", "chat"]
    message: str = Field(min_length=1)
    suggestion: Optional[str] = None
    source: str = Field(min_length=1)  # the seed item the check comes from
    # Placeholders a message may use (the values the check reports).
    placeholders: ClassVar[Tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _message_fields(self) -> "CheckSettings":
        allowed = set(self.placeholders) | {"company"}
        for text, fld in ((self.message, "message"), (self.suggestion or "", "suggestion")):
            for _, name, _, _ in string.Formatter().parse(text):
                if name is not None and name not in allowed:
                    raise ValueError(
                        f"{fld} uses unknown placeholder {{{name}}}; allowed: {', '.join(sorted(allowed)) or 'none'}"
                    )
        return self

    def regex_fields(self) -> Dict[str, List[str]]:
        """Pattern lists of this check (name -> regexes), for compiling."""
        out: Dict[str, List[str]] = {}
        for name, value in self:
            if isinstance(value, list) and name not in ("channels", "calm", "upset"):
                out[name] = value
            elif isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
                for ch, pats in value.items():
                    out[f"{name}.{ch}"] = pats
        return out

    @model_validator(mode="after")
    def _regexes(self) -> "CheckSettings":
        for name, pats in self.regex_fields().items():
            try:
                _patterns_ok(pats)
            except ValueError as exc:
                raise ValueError(f"field {name!r}: {exc}") from None
        return self


class GreetingContent(CheckSettings):
    placeholders = ("missing",)
    patterns: Dict[Channel, List[str]]
    # Self-identification the greeting must also carry, per channel (the company's name from the
    # rulebook counts too); a channel not listed needs none.
    identify: Dict[Channel, List[str]] = {}


class GreetingTiming(CheckSettings):
    placeholders = ("seconds", "limit")
    max_delay_s: Dict[Channel, float]

    @field_validator("max_delay_s")
    @classmethod
    def _positive(cls, v: Dict[str, float]) -> Dict[str, float]:
        for ch, s in v.items():
            if s <= 0:
                raise ValueError(f"max_delay_s.{ch} must be > 0 seconds, got {s}")
        return v


class AnswerRings(CheckSettings):
    placeholders = ("rings", "limit", "seconds")
    max_rings: int = Field(default=3, ge=1)
    seconds_per_ring: float = Field(default=5.0, gt=0)
    apology: List[str] = Field(min_length=1)


class HoldConsent(CheckSettings):
    request: List[str] = Field(min_length=1)
    consent: List[str] = Field(min_length=1)
    refusal: List[str] = []


class TransferConsent(CheckSettings):
    consent: List[str] = Field(min_length=1)
    refusal: List[str] = []


class HoldDuration(CheckSettings):
    placeholders = ("seconds", "limit")
    max_seconds: float = Field(default=60.0, gt=0)


class HoldReturn(CheckSettings):
    apology: List[str] = Field(min_length=1)


class DeadAir(CheckSettings):
    placeholders = ("seconds", "limit")
    max_gap_s: float = Field(default=10.0, gt=0)


class SilentCall(CheckSettings):
    placeholders = ("problem",)
    wait_s: float = Field(default=5.0, gt=0)
    tolerance_s: float = Field(default=1.0, ge=0)
    min_prompts: int = Field(default=2, ge=1)
    prompt: List[str] = Field(min_length=1)
    explain: List[str] = Field(min_length=1)
    silence_markers: List[str] = []


class Interruption(CheckSettings):
    placeholders = ("seconds", "limit")
    min_overlap_s: float = Field(default=0.5, ge=0)
    polite: List[str] = []


class SpeechRate(CheckSettings):
    placeholders = ("cps", "low", "high", "chars", "seconds")
    min_chars: int = Field(default=8, ge=1)
    max_cps: float = Field(default=8.0, gt=0)
    min_cps: float = Field(default=1.5, ge=0)

    @model_validator(mode="after")
    def _order(self) -> "SpeechRate":
        if self.min_cps >= self.max_cps:
            raise ValueError(f"min_cps ({self.min_cps}) must be below max_cps ({self.max_cps})")
        return self


class ClosingAskMore(CheckSettings):
    last_agent_turns: int = Field(default=3, ge=1)
    patterns: List[str] = Field(min_length=1)


class ClosingThanks(CheckSettings):
    last_agent_turns: int = Field(default=2, ge=1)
    patterns: Dict[Channel, List[str]]


class ClosingHangup(CheckSettings):
    placeholders = ("seconds", "limit")
    announce: List[str] = Field(min_length=1)
    wait_s: float = Field(default=5.0, ge=0)
    tolerance_s: float = Field(default=1.0, ge=0)


class ChatReply(CheckSettings):
    placeholders = ("seconds", "limit")
    max_reply_s: float = Field(default=60.0, gt=0)
    hold_request: List[str] = []


class ChatClosing(CheckSettings):
    pass


class ChatSingleChar(CheckSettings):
    max_chars: int = Field(default=1, ge=0)


class EmotionEscalation(CheckSettings):
    placeholders = ("before", "after")
    calm: List[str] = ["neutral", "satisfied", "anxious"]
    upset: List[str] = ["dissatisfied", "angry"]
    # Upset labels that count even when the agent turn before them was fine.
    always: List[str] = ["angry"]

    @field_validator("calm", "upset", "always")
    @classmethod
    def _labels(cls, v: List[str]) -> List[str]:
        for label in v:
            if label not in EMOTION_LABELS:
                raise ValueError(f"unknown emotion label {label!r}; expected one of {', '.join(EMOTION_LABELS)}")
        return v


class TurnRollup(CheckSettings):
    placeholders = ("rules",)
    # A fault the model alone found (no rule supports it) becomes a call-level finding only at this
    # confidence or above; below it stays on the turn (a.turns[i]) for review.
    min_model_confidence: float = Field(default=0.0, ge=0, le=1)
    # Rule ids that presume the customer waited: rolled up only when the call shows a wait before the
    # turn (a hold/mute event, an announced wait, or the customer asking "还在吗").
    needs_wait: List[str] = []
    # Rule ids whose apology is owed once per call (the agent's own report of a fault): rolled up only
    # when no earlier agent turn apologised.
    once_per_call: List[str] = []
    # A rule finding of this label located in the turn's words at this severity or above is a call-level
    # fault even where the model decided the turn's label otherwise (None: the turn's label only).
    rules_min_severity: Optional[Literal["low", "medium", "high"]] = None

    def regex_fields(self) -> Dict[str, List[str]]:
        return {}


S = TypeVar("S", bound=CheckSettings)

# Check id -> settings model. The ids are what findings, `skipped` and score cards name.
CHECK_MODELS: Dict[str, Type[CheckSettings]] = {
    "greeting.content": GreetingContent,
    "greeting.timing": GreetingTiming,
    "answer.rings": AnswerRings,
    "hold.consent": HoldConsent,
    "hold.duration": HoldDuration,
    "hold.return": HoldReturn,
    "transfer.consent": TransferConsent,
    "silence.dead_air": DeadAir,
    "silent_call.procedure": SilentCall,
    "interruption": Interruption,
    "speech_rate": SpeechRate,
    "closing.ask_more": ClosingAskMore,
    "closing.thanks": ClosingThanks,
    "closing.hangup": ClosingHangup,
    "chat.reply_time": ChatReply,
    "chat.closing_by_agent": ChatClosing,
    "chat.single_char": ChatSingleChar,
    "emotion.escalation": EmotionEscalation,
    "turn.non_compliant": TurnRollup,
    "turn.missing_apology": TurnRollup,
    "turn.missing_thanks": TurnRollup,
}
CHECK_IDS: Tuple[str, ...] = tuple(CHECK_MODELS)


class CallConfig(BaseModel):
    """The ``call:`` section: every call-level check id with its settings (all required in the
    default file; an overlay may change any field of any check)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    checks: Dict[str, Any]

    @model_validator(mode="before")
    @classmethod
    def _wrap(cls, data: Any) -> Any:
        # The YAML section is the mapping check id -> settings itself.
        if isinstance(data, Mapping) and "checks" not in data:
            return {"checks": dict(data)}
        return data

    @field_validator("checks", mode="before")
    @classmethod
    def _each(cls, v: Any) -> Dict[str, CheckSettings]:
        if not isinstance(v, Mapping):
            raise ValueError(f"must be a mapping of check id -> settings, got {type(v).__name__}")
        unknown = sorted(set(v) - set(CHECK_MODELS))
        missing = sorted(set(CHECK_MODELS) - set(v))
        problems = []
        if unknown:
            problems.append(f"unknown check id(s) {unknown}; known: {', '.join(CHECK_IDS)}")
        if missing:
            problems.append(f"missing check id(s) {missing}")
        out: Dict[str, CheckSettings] = {}
        errors: List[str] = []
        for cid, raw in v.items():
            if cid not in CHECK_MODELS:
                continue
            try:
                out[cid] = raw if isinstance(raw, CHECK_MODELS[cid]) else CHECK_MODELS[cid].model_validate(raw)
            except ValidationError as exc:
                errors.extend(f"check {cid!r} {line}" for line in _lines(exc))
        if problems or errors:
            raise ValueError("; ".join(problems + errors))
        return out

    def __getitem__(self, check_id: str) -> CheckSettings:
        return self.checks[check_id]  # type: ignore[no-any-return]

    def of(self, check_id: str, kind: Type[S]) -> S:
        """The settings of ``check_id``, typed as its model (``config.of("hold.duration", HoldDuration)``)."""
        settings = self.checks[check_id]
        if not isinstance(settings, kind):
            raise TypeError(f"check {check_id!r} has {type(settings).__name__} settings, not {kind.__name__}")
        return settings

    def active(self, check_id: str, channel: str) -> bool:
        s = self.checks[check_id]
        return s.enabled and channel in s.channels


# --------------------------------------------------------------------------
# Score card
# --------------------------------------------------------------------------
class ScoreItem(_Strict):
    """One line of the score card: what it selects, and what each hit costs."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    name: str = Field(min_length=1)
    checks: List[str] = []  # call-level check ids (glob patterns allowed: "hold.*")
    rules: List[str] = []  # per-turn finding rule ids (globs allowed: "ban.*")
    labels: List[str] = []  # per-turn compliance labels (one hit per agent turn)
    points: float = Field(ge=0)  # deducted per hit
    cap: Optional[float] = Field(default=None, ge=0)  # at most this much for the item
    critical: bool = False  # any hit fails the call whatever the score

    @field_validator("checks")
    @classmethod
    def _checks(cls, v: List[str]) -> List[str]:
        for pat in v:
            if not fnmatch.filter(CHECK_IDS, pat):
                raise ValueError(f"{pat!r} matches no call-level check id; known: {', '.join(CHECK_IDS)}")
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: List[str]) -> List[str]:
        for label in v:
            if label not in FAULT_LABELS:
                raise ValueError(f"unknown label {label!r}; expected one of {', '.join(FAULT_LABELS)}")
        return v

    @model_validator(mode="after")
    def _selects(self) -> "ScoreItem":
        if not (self.checks or self.rules or self.labels):
            raise ValueError("selects nothing: give at least one of checks, rules, labels")
        return self

    def selects_check(self, check_id: str) -> bool:
        return any(fnmatch.fnmatchcase(check_id, p) for p in self.checks)

    def selects_rule(self, rule_id: str) -> bool:
        return any(fnmatch.fnmatchcase(rule_id, p) for p in self.rules)


class Scorecard(BaseModel):
    """The ``scorecard:`` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    total: float = Field(default=100.0, gt=0)
    pass_mark: float = Field(ge=0)
    items: List[ScoreItem] = Field(min_length=1)

    @field_validator("items", mode="before")
    @classmethod
    def _each(cls, v: Any) -> Any:
        # Validate items one by one so that every bad item is reported, each by its id.
        if not isinstance(v, list):
            return v
        out, errors, seen = [], [], set()
        for i, raw in enumerate(v):
            iid = raw.get("id", f"#{i}") if isinstance(raw, Mapping) else f"#{i}"
            if iid in seen:
                errors.append(f"item {iid!r} field 'id': duplicate item id")
                continue
            seen.add(iid)
            try:
                out.append(raw if isinstance(raw, ScoreItem) else ScoreItem.model_validate(raw))
            except ValidationError as exc:
                errors.extend(f"item {iid!r} {line}" for line in _lines(exc))
        if errors:
            raise ValueError("; ".join(errors))
        return out

    @model_validator(mode="after")
    def _mark(self) -> "Scorecard":
        if self.pass_mark > self.total:
            raise ValueError(f"pass_mark ({self.pass_mark}) is above total ({self.total})")
        return self

    def check_selectors(self, rule_ids: Iterable[str]) -> None:
        """Raise ValueError naming every item whose ``rules`` selector matches no rule."""
        rule_ids = list(rule_ids)
        bad = [
            f"item {item.id!r} field 'rules': {pat!r} matches no rule id in the rulebook"
            for item in self.items
            for pat in item.rules
            if not fnmatch.filter(rule_ids, pat)
        ]
        if bad:
            raise ValueError("; ".join(bad))


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------
def _lines(exc: ValidationError, top: bool = False) -> List[str]:
    out = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e.get("loc", ()))
        msg = str(e.get("msg", "")).removeprefix("Value error, ")
        if top and loc in ("checks", "items") and msg.startswith(("item ", "check ", "unknown check", "missing check")):
            loc = ""  # the per-check / per-item messages name themselves
        out.append(f"field {loc!r}: {msg}" if loc else msg)
    return out


def format_errors(exc: ValidationError) -> str:
    """All problems of a ValidationError, one clause each, naming item and field."""
    return "; ".join(_lines(exc, top=True))


def merge_call(base: Mapping[str, Any], overlay: Optional[Mapping[str, Any]], where: str = "overlay") -> Dict[str, Any]:
    """A ``call:`` overlay merged into the base section, field by field within each check."""
    out = copy.deepcopy(dict(base))
    if not overlay:
        return out
    if not isinstance(overlay, Mapping):
        raise AuditConfigError(
            f"{where}: 'call' must be a mapping of check id -> settings, got {type(overlay).__name__}"
        )
    for cid, changes in overlay.items():
        if cid not in out:
            raise AuditConfigError(f"{where}: call check {cid!r}: unknown check id; known: {', '.join(CHECK_IDS)}")
        if not isinstance(changes, Mapping):
            raise AuditConfigError(f"{where}: call check {cid!r} must be a mapping of field: value")
        merged = dict(out[cid])
        for key, value in changes.items():
            if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
                merged[key] = {**merged[key], **value}  # per-channel settings merge by channel
            else:
                merged[key] = value
        out[cid] = merged
    return out


def _read_yaml(path: str) -> Dict[str, Any]:
    from ..safe_yaml import YamlError, load_yaml_file

    if not os.path.isfile(path):
        raise FileNotFoundError(f"file not found: {path}")
    try:  # UTF-8 only; duplicate keys, alias bombs and deep nesting refused (sdk/safe_yaml.py)
        data = load_yaml_file(path)
    except YamlError as exc:
        raise AuditConfigError(str(exc)) from None
    if not isinstance(data, dict):
        raise AuditConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


PathLike = Union[str, "os.PathLike[str]"]


def load_call_config(overlays: Union[None, PathLike, Sequence[PathLike]] = None) -> CallConfig:
    """The default ``call:`` thresholds, with the ``call:`` sections of ``overlays`` merged in."""
    if isinstance(overlays, (str, os.PathLike)):
        overlays = [overlays]
    paths = tuple(os.fspath(p) for p in (overlays or ()))
    return _load_call(paths)


@lru_cache(maxsize=8)
def _load_call(paths: Tuple[str, ...]) -> CallConfig:
    base = _read_yaml(DEFAULT_CALL_YAML)
    raw = base.get("call")
    for path in paths:
        data = _read_yaml(path)
        if "call" not in data:
            raise AuditConfigError(f"{path}: no 'call' section; expected 'call: {{check id: {{field: value}}}}'")
        raw = merge_call(raw or {}, data.get("call"), path)
    where = " + ".join(os.path.basename(p) for p in (DEFAULT_CALL_YAML,) + paths)
    try:
        return CallConfig.model_validate(raw)
    except ValidationError as exc:
        raise AuditConfigError(f"{where}: call: {format_errors(exc)}") from exc


def load_scorecard(path: Optional[PathLike] = None, rule_ids: Optional[Iterable[str]] = None) -> Scorecard:
    """The score card in ``path`` (a file whose top level is the card, or has a ``scorecard:`` key),
    or the default one. ``rule_ids``: the rulebook's rule ids, to check ``rules`` selectors."""
    file = DEFAULT_CALL_YAML if path is None else os.fspath(path)
    data = _read_yaml(file)
    raw = data.get("scorecard", data if "items" in data else None)
    if raw is None:
        raise AuditConfigError(
            f"{file}: no 'scorecard' section (expected a 'scorecard:' key or a card "
            f"with 'name', 'pass_mark' and 'items')"
        )
    try:
        card = Scorecard.model_validate(raw)
        if rule_ids is not None:
            card.check_selectors(rule_ids)
    except ValidationError as exc:
        raise AuditConfigError(f"{file}: scorecard: {format_errors(exc)}") from exc
    except ValueError as exc:
        raise AuditConfigError(f"{file}: scorecard: {exc}") from exc
    return card


def expand_lexicons(pattern: str, lexicons: Mapping[str, Sequence[str]], owner: str) -> str:
    """``{lex:name}`` in a check's pattern replaced by the rulebook lexicon's escaped alternation."""

    def sub(m: "re.Match[str]") -> str:
        name = m.group(1)
        if name not in lexicons:
            raise AuditConfigError(
                f"call check {owner}: unknown lexicon {name!r} in {pattern!r}; known: {', '.join(sorted(lexicons))}"
            )
        words = sorted(lexicons[name], key=len, reverse=True)
        return "(?:" + "|".join(re.escape(w) for w in words) + ")"

    return _LEX_REF.sub(sub, pattern)
