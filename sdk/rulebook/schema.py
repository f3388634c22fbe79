"""The rulebook's schema (version 2): what every section may hold, as pydantic models.

Sections: ``lexicons``, ``negation``, ``cues``, ``rules`` (as in version 1), ``emotion`` (the
customer-emotion cue lists and their weights), and the audit's ``call`` (call-level check
thresholds) and ``scorecard`` sections, validated by ``sdk.audit.config`` when present.

pydantic is imported only when a rulebook is first loaded (``import sdk`` stays cheap).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any, List, Optional, Sequence, Tuple, Type

from ..labels import COMPLIANCE_LABELS, EMOTION_LABELS, SCENARIOS

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

SCHEMA_VERSION = 2
SEVERITIES = ("low", "medium", "high")
CUE_WHERE = ("events", "words", "any")
FAULT_LABELS = tuple(label for label in COMPLIANCE_LABELS if label != "standard")
# Top-level keys of a complete rulebook and of an overlay.
BOOK_KEYS = ("version", "company_name", "negation", "lexicons", "cues", "rules", "emotion", "call", "scorecard")
OVERLAY_KEYS = (
    "version",
    "company_name",
    "lexicons",
    "cues",
    "rules",
    "overrides",
    "disable",
    "forbidden_words",
    "required_phrases",
    "emotion",
    "call",
    "scorecard",
)


class RulebookError(ValueError):
    """A rulebook file is malformed. ``problems`` lists every problem found, each naming the file,
    the rule (or cue, section) and the field; the message is all of them, one per line."""

    def __init__(self, problems: Sequence[str]):
        self.problems: Tuple[str, ...] = tuple(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} problems:\n" + "\n".join(f"- {p}" for p in self.problems)
        super().__init__(message)


class Problems:
    """Collects every problem of a rulebook, so one load reports them all."""

    def __init__(self, where: str):
        self.where = where
        self.items: List[str] = []

    def add(self, message: str, where: Optional[str] = None) -> None:
        self.items.append(f"{where or self.where}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            raise RulebookError(self.items)


def one_of(value: Any, allowed: Sequence[str], what: str) -> Any:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")
    return value


def describe(exc: "ValidationError") -> List[str]:
    """One "field 'x': message" clause per error of a pydantic ValidationError."""
    out = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e.get("loc", ())) or "(top)"
        msg = str(e.get("msg", "")).removeprefix("Value error, ")
        out.append(f"field '{loc}': {msg}")
    return out


@lru_cache(maxsize=1)
def models() -> Tuple[Type["BaseModel"], ...]:
    """(CueModel, RuleModel, BookModel, EmotionModel), built on first use."""
    from typing import Dict, Literal

    from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
        def _scenario(cls, v: str) -> str:
            return one_of(v, SCENARIOS, "scenario")  # type: ignore[no-any-return]

    class RuleModel(BaseModel):
        model_config = ConfigDict(extra="forbid")
        id: str = Field(pattern=r"^[a-z0-9_.]+$")
        kind: Literal["forbidden", "required"]
        label: str
        scenario: str
        severity: str = "medium"
        # may use {company}: filled with the rulebook's company_name
        message: str = Field(min_length=1)
        suggestion: Optional[str] = None
        source: str = Field(min_length=1)
        enabled: bool = True
        advisory: bool = False  # reported (label "standard"), never decides the label
        binding: bool = False  # decides the label under every engine, over the model
        phrases: List[str] = []
        patterns: List[str] = []
        not_before: List[str] = []
        not_after: List[str] = []
        unless: List[str] = []
        when_cues: List[str] = []
        unless_cues: List[str] = []  # the rule is off in these contexts
        when_utterance: List[str] = []
        requires: List[str] = []
        window: int = Field(default=8, ge=1, le=40)
        trigger: Literal["any", "all"] = "any"
        # required rules: also met by the required wording in an earlier agent turn of the context (an apology
        # for an outage need not be repeated each time the outage is mentioned)
        met_earlier: bool = False
        notes: Optional[str] = None

        @field_validator("label")
        @classmethod
        def _label(cls, v: str) -> str:
            return one_of(v, FAULT_LABELS, "label")  # type: ignore[no-any-return]

        @field_validator("severity")
        @classmethod
        def _severity(cls, v: str) -> str:
            return one_of(v, SEVERITIES, "severity")  # type: ignore[no-any-return]

        @field_validator("scenario")
        @classmethod
        def _scenario(cls, v: str) -> str:
            return one_of(v, SCENARIOS, "scenario")  # type: ignore[no-any-return]

    class LexiconFile(BaseModel):
        model_config = ConfigDict(extra="forbid")
        file: str = Field(pattern=r"^[A-Za-z0-9_.\-]+\.txt$")  # a file in sdk/lexicons
        weight: Optional[float] = Field(default=None, gt=0)  # overrides every line's own weight

    class EmotionModel(BaseModel):
        """Customer emotion by cue words: which lists count for which label, and how much."""

        model_config = ConfigDict(extra="forbid")
        lexicons: Dict[str, List[LexiconFile]] = {}
        words: Dict[str, Dict[str, float]] = {}  # label -> {cue: weight}, inline (overlays)
        negators: str = ""  # regex matched right before a cue (ends with $)
        negated: Dict[str, Optional[str]] = {}  # label a negated cue counts as; absent/None: cancelled
        neutral_base: float = Field(default=1.0, gt=0)
        exclamation_boost: float = Field(default=0.5, ge=0)  # per "!" (at most 3), to angry or dissatisfied
        anger_absorbs: float = Field(default=0.5, ge=0)  # share of dissatisfied weight added to angry
        polite_request: str = ""  # regex: a request signed off with thanks; satisfied cues inside a match do not count

        @model_validator(mode="after")
        def _labels(self) -> "EmotionModel":
            cue_labels = [x for x in EMOTION_LABELS if x != "neutral"]
            problems = []
            for section in ("lexicons", "words", "negated"):
                for label in getattr(self, section):
                    if label not in cue_labels:
                        problems.append(
                            f"{section}: unknown emotion label {label!r}; expected one of {', '.join(cue_labels)}"
                        )
            for label, target in self.negated.items():
                if target is not None and target not in cue_labels:
                    problems.append(f"negated.{label}: unknown emotion label {target!r}")
            if problems:
                raise ValueError("; ".join(problems))
            return self

    class BookModel(BaseModel):
        model_config = ConfigDict(extra="forbid")
        version: Literal[1, 2] = 2  # SCHEMA_VERSION
        company_name: Optional[str] = None
        negation: List[str] = []
        lexicons: Dict[str, List[str]] = {}
        cues: List[Dict[str, Any]] = []  # validated one by one (CueModel), so every bad cue is reported
        rules: List[Dict[str, Any]] = []  # validated one by one (RuleModel)
        emotion: Optional[Dict[str, Any]] = None  # EmotionModel
        call: Optional[Dict[str, Any]] = None  # sdk.audit.config.CallConfig
        scorecard: Optional[Dict[str, Any]] = None  # sdk.audit.config.Scorecard

    return CueModel, RuleModel, BookModel, EmotionModel
