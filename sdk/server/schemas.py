"""Request and response bodies of the HTTP API (pydantic): what /docs shows and what a bad request
is checked against. Input rules match the SDK's (a blank utterance is rejected here already, with
the field named), so one bad request never reaches a model pass that other requests share."""

from __future__ import annotations

from typing import Annotated, Any, Dict, List, Literal, Optional, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must contain text, got an empty or whitespace-only string")
    return value


Text = Annotated[str, Field(min_length=1), AfterValidator(_not_blank)]
Seconds = Annotated[Optional[float], Field(default=None, ge=0, allow_inf_nan=False)]


class _Strict(BaseModel):
    # Unknown fields are refused (a misspelt "utterence" must not be checked as a missing utterance).
    model_config = ConfigDict(extra="forbid")


class TurnIn(_Strict):
    role: Literal["agent", "customer", "event"]
    text: str = Field(description="the words; for an event: hold, mute, transfer, agent_hangup, customer_hangup")
    start: Seconds = None
    end: Seconds = None

    @model_validator(mode="after")
    def _in_order(self) -> "TurnIn":
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"'end' ({self.end}) is before 'start' ({self.start})")
        return self


def _context_kind(value: Any) -> Optional[str]:
    return "str" if isinstance(value, str) else "turns" if isinstance(value, list) else None


# A string or a list of turns; anything else gets one error naming both (not one per union branch).
Context = Optional[
    Annotated[
        Union[Annotated[str, Tag("str")], Annotated[List[TurnIn], Tag("turns")]],
        Discriminator(
            _context_kind,
            custom_error_type="context_type",
            custom_error_message="context must be a string, a list of turns ({role, text, start?, end?}) or null",
        ),
    ]
]
UNION_TAGS = ("str", "turns")


class CheckRequest(_Strict):
    utterance: Text = Field(description="one agent utterance")
    context: Context = Field(
        None,
        description="what came before: a string such as '[客户已等待约2分钟] 喂？还有人吗？', "
        "or the preceding turns, oldest first",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"utterance": "好的，我帮您查一下。", "context": "[客户已等待约2分钟] 喂？还有人吗？"}]
        },
    )


class CheckBatchRequest(_Strict):
    items: List[CheckRequest]


class EmotionRequest(_Strict):
    text: Text = Field(description="one customer utterance")


class EmotionBatchRequest(_Strict):
    texts: List[Text]


class CallTurnIn(TurnIn):
    """A turn of a call; may carry more fields (e.g. ``speaker``), which the audit reads or echoes."""

    model_config = ConfigDict(extra="allow")


class CallIn(BaseModel):
    """A call as in the SDK's ``audit``; fields beyond these are echoed in the result."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "id": "c-0001",
                    "channel": "phone",
                    "ring_seconds": 12.0,
                    "turns": [
                        {
                            "role": "agent",
                            "text": "您好，星河电力客服中心，工号1023，很高兴为您服务。",
                            "start": 0.4,
                            "end": 4.1,
                        },
                        {"role": "customer", "text": "我家停电两天了，怎么还没人来修？", "start": 4.6, "end": 8.0},
                        {
                            "role": "agent",
                            "text": "对不起，请您稍等片刻，好吗？我帮您查一下。",
                            "start": 8.3,
                            "end": 10.9,
                        },
                        {"role": "event", "text": "hold", "start": 11.0, "end": 84.0},
                        {
                            "role": "agent",
                            "text": "让您久等了，抢修人员预计下午三点前到达。",
                            "start": 84.5,
                            "end": 89.0,
                        },
                    ],
                }
            ]
        },
    )
    id: Optional[Union[str, int]] = None
    channel: Optional[Literal["phone", "chat"]] = None
    ring_seconds: Seconds = None
    turns: List[CallTurnIn] = Field(min_length=1)


class AuditBatchRequest(_Strict):
    calls: List[CallIn]


# ---------------------------------------------------------------- responses (documentation only)


class FindingOut(BaseModel):
    rule_id: str
    label: str
    start: Optional[int]
    end: Optional[int]
    text: Optional[str]
    source: str
    message: str
    suggestion: Optional[str]
    severity: str
    binding: bool


class DecidedByOut(BaseModel):
    by: str
    policy: Optional[str]
    fell_back: bool
    rules: List[str]


class EmotionOut(BaseModel):
    label: str
    scores: Dict[str, float]
    engine: str
    cues: List[FindingOut]
    warnings: List[str]
    decided_by: Optional[DecidedByOut]


class CheckOut(BaseModel):
    utterance: str
    context: Union[str, List[Dict[str, Any]], None]
    label: str
    scores: Dict[str, float]
    engine: str
    findings: List[FindingOut]
    emotion: Optional[EmotionOut]
    warnings: List[str]
    decided_by: Optional[DecidedByOut]


class CheckBatchOut(BaseModel):
    results: List[CheckOut]


class EmotionBatchOut(BaseModel):
    results: List[EmotionOut]


class AuditBatchOut(BaseModel):
    results: List[Dict[str, Any]]


class ErrorItem(BaseModel):
    loc: List[Union[str, int]]
    field: str = Field(description="the offending field, dotted: items.3.utterance")
    msg: str
    type: str


class ValidationErrorOut(BaseModel):
    detail: List[ErrorItem]


class TooLargeOut(BaseModel):
    detail: str = Field(description="which limit was exceeded, by how much, and how to raise it")
