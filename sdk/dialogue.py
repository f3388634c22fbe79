"""What the models read: the dialogue before an utterance, with roles, most recent last.

A compliance verdict often depends on turns before the customer's last words (the agent asked the
customer to wait two turns ago; the customer supplied the order number that was asked for). So the
model's context is not one free string but the preceding turns, each with its role marker, oldest
first, cut from the oldest end (the encoder keeps the tail when tokens run out), e.g.

    客服:请您稍等,正在为您核实 客户:好的 客户:在吗

Both the written data (a string context: bracketed events, then the customer's words) and real
conversations (a list of turns) become this one form, at training and at run time alike.

Text is normalised the way the rules engine normalises it (traditional -> simplified, full-width ->
half-width, lower-case latin) and, for the models, stripped of punctuation and whitespace: written
data is punctuated, ASR transcripts and hurried chat are not, and a model that never sees
punctuation cannot be thrown by its absence. Question and exclamation marks survive as one
"?" / "!" because they carry the customer's impatience ("？？") and an agent's curtness ("预计!").
"""

from __future__ import annotations

import re
from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple, Union

from .context import EVENT_TEXTS, Context
from .normalize import strip_events, to_simplified_halfwidth

# The only serialisation so far. A model directory names the one it was trained with in its
# manifest (tasks.<task>.input_format); a model without the field reads raw text (format "raw").
DIALOGUE_FORMAT = "dialogue/1"
INPUT_FORMATS = ("raw", DIALOGUE_FORMAT)
ROLE_MARKS = {"customer": "客户:", "agent": "客服:", "event": "事件:"}
# Turns and characters of context kept before tokenisation (the encoder cuts further from the oldest
# end to fit max_len); 8 turns reach back past a wait request and its answer in JD.com chats.
MAX_CONTEXT_TURNS = 8
MAX_CONTEXT_CHARS = 300

Turn = Tuple[str, str]  # (role, text)
ContextLike = Union[None, str, Sequence[Any], Any]

_DROP = re.compile(r"[\s,.;:、，。；：…~～·\"'“”‘’()（）<>《》—\-_/\\|*#^`]+")
_QUESTION = re.compile(r"[?？]+")
_EXCLAIM = re.compile(r"[!！]+")


def model_text(text: str) -> str:
    """One utterance as the models read it (see module docstring)."""
    text = to_simplified_halfwidth(text)
    text = _QUESTION.sub("?", text)
    text = _EXCLAIM.sub("!", text)
    return _DROP.sub("", text)


def as_turns(context: ContextLike) -> List[Turn]:
    """The context as (role, text) turns, oldest first.

    Accepts None, a string ("[事件] 客户的话": each bracketed event becomes an event turn, the rest
    one customer turn), a list of turns (dicts or objects with ``role`` and ``text``), or a parsed
    context object with a ``turns`` attribute.
    """
    if context is None:
        return []
    if isinstance(context, str):
        events, words = strip_events(context)
        out: List[Turn] = [("event", e) for e in _split_events(events)]
        if words.strip():
            out.append(("customer", words.strip()))
        return out
    turns = getattr(context, "turns", context)
    if isinstance(turns, (str, bytes)) or not isinstance(turns, Sequence):
        raise TypeError(f"context must be a str, a list of turns or None, got {type(context).__name__}")
    out = []
    for i, turn in enumerate(turns):
        role, text = _role_text(turn, i)
        if role == "event":
            text = EVENT_TEXTS.get(text.strip(), text.strip())
        if text.strip():
            out.append((role, text))
    return out


def dialogue_context(
    context: ContextLike, max_turns: int = MAX_CONTEXT_TURNS, max_chars: int = MAX_CONTEXT_CHARS
) -> str:
    """The context in the models' form: role-marked turns, oldest first, cut from the oldest end."""
    parts: List[str] = []
    used = 0
    for role, text in reversed(as_turns(context)[-max_turns:]):
        piece = ROLE_MARKS[role] + model_text(text)
        if parts and used + len(piece) > max_chars:
            break
        parts.append(piece[-max_chars:])  # one over-long turn keeps its end (the words just before the reply)
        used += len(piece)
    return " ".join(reversed(parts))


def model_pair(context: ContextLike, utterance: str, input_format: str = DIALOGUE_FORMAT) -> Tuple[Optional[str], str]:
    """(context, utterance) strings for a pair model trained with ``input_format``."""
    if input_format == "raw":
        return _raw_context(context), utterance
    _check_format(input_format)
    return dialogue_context(context) or None, model_single(utterance, input_format)


def model_single(text: str, input_format: str = DIALOGUE_FORMAT) -> str:
    """One text for a model trained with ``input_format`` (punctuation-only text stays as it is)."""
    if input_format == "raw":
        return text
    _check_format(input_format)
    return model_text(text) or text.strip()


def model_inputs(
    texts: Sequence[str], contexts: Optional[Sequence[ContextLike]], input_format: str
) -> Tuple[List[str], Optional[List[Optional[str]]]]:
    """A batch as the encoder takes it: (texts, contexts) for pair models, (texts, None) otherwise."""
    if contexts is None:
        return [model_single(t, input_format) for t in texts], None
    pairs = [model_pair(c, t, input_format) for c, t in zip(contexts, texts)]
    return [t for _, t in pairs], [c for c, _ in pairs]


# The n-gram member's encodings: "pair" (context string, utterance) as before dialogue/1, and
# "dialogue3" (see ngram_columns).
NGRAM_ENCODINGS = ("pair", "dialogue3")
_EMPTY = "∅"  # an empty column still has one feature, so a vocabulary is never empty


def ngram_columns(context: ContextLike, utterance: str) -> Tuple[str, str, str]:
    """The n-gram member's three columns: the earlier turns (up to and including the agent's last
    turn), the turns since the agent last spoke (the customer's words, events), and the utterance.
    Split so a bag of n-grams still knows *who* said "请稍等" and *when*."""
    turns = as_turns(context)[-MAX_CONTEXT_TURNS:]
    last_agent = max((i for i, (role, _) in enumerate(turns) if role == "agent"), default=-1)
    earlier = " ".join(ROLE_MARKS[r] + model_text(t) for r, t in turns[: last_agent + 1])
    recent = " ".join(ROLE_MARKS[r] + model_text(t) for r, t in turns[last_agent + 1 :])
    return earlier or _EMPTY, recent or _EMPTY, model_single(utterance)


def ngram_rows(texts: Sequence[str], contexts: Optional[Sequence[ContextLike]], encoding: str) -> List[Tuple[str, ...]]:
    """Rows for the n-gram member trained with ``encoding`` (single-text tasks: one column)."""
    if contexts is None:
        return [(model_single(t),) if encoding == "dialogue3" else (t,) for t in texts]
    if encoding == "dialogue3":
        return [ngram_columns(c, t) for c, t in zip(contexts, texts)]
    if encoding == "pair":
        return [(_raw_context(c) or "", t) for c, t in zip(contexts, texts)]
    raise ValueError(f"n-gram encoding must be one of {', '.join(NGRAM_ENCODINGS)}, got {encoding!r}")


def _raw_context(context: ContextLike) -> Optional[str]:
    """What models trained before dialogue/1 read: the context string, or the recent turns joined."""
    if context is None or isinstance(context, str):
        return context or None
    if isinstance(context, Context):  # parsed by sdk.context: its recent events and words
        return context.text or None
    turns = as_turns(context)
    last_agent = max((i for i, (role, _) in enumerate(turns) if role == "agent"), default=-1)
    recent = turns[last_agent + 1 :]
    events = "".join(f"[{t}]" for r, t in recent if r == "event")
    words = " ".join(t for r, t in recent if r == "customer")
    return " ".join(p for p in (events, words) if p) or None


def _check_format(input_format: str) -> None:
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"input_format must be one of {', '.join(INPUT_FORMATS)}, got {input_format!r}")


def _role_text(turn: Any, index: int) -> Turn:
    if isinstance(turn, Mapping):
        role, text = turn.get("role"), turn.get("text")
    elif isinstance(turn, tuple) and len(turn) == 2:
        role, text = turn
    else:
        role, text = getattr(turn, "role", None), getattr(turn, "text", None)
    if role not in ROLE_MARKS:
        raise ValueError(f"context turn {index} field 'role' must be one of {', '.join(ROLE_MARKS)}, got {role!r}")
    if not isinstance(text, str):
        raise ValueError(f"context turn {index} field 'text' must be a str, got {type(text).__name__}")
    return role, text


def _split_events(events: str) -> List[str]:
    """ "[a][b]" -> ["a", "b"] (strip_events joins the bracketed events)."""
    out, start = [], 0
    for i, ch in enumerate(events):
        if ch in "]】］":
            out.append(events[start + 1 : i].strip())
            start = i + 1
    return [e for e in out if e]


# --- what earlier turns imply ---------------------------------------------------------------------
# The rules' context cues look at bracketed events and the customer's recent words. A dialogue tells
# more than its last customer turn: sdk.context adds the events that earlier turns imply (LABELS.md
# §3), in words the rulebook's `wait` and `info_supplied` cues already recognise.
_WAIT_REQUEST = re.compile(
    r"稍等|稍候|等(一|1)?(下|会)|正在(为您|帮您|给您|为你|帮你)?(查询|核实|查看|处理|确认|核查|联系|申请|登记)"
    r"|(帮|为|给)(您|你)(查询?|看|核实|确认|问|核查)(一)?下|我(这边)?(查|看|核实|确认)(一)?下"
)
# "请您耐心等待" alone is about a process (delivery, refund, a call back), not a hold: in JD.com chats the
# turn after it owes no apology. A hold reads "稍等 / 等一下 / 正在为您查询" (seed 000 四.8).
# "感谢您的耐心等待" thanks the customer for a wait that is over; it asks for no new wait.
_WAIT_THANKS = re.compile(r"(感谢|谢谢|多谢)(您|你|亲)?(的)?耐心(等待|等候)")
_ITEM = (
    "(订单号?|单号|手机号?|电话|号码|联系方式|地址|姓名|名字|账号|账户名|户名|税号|验证码|身份证|抬头|卡号|信息|资料"
    "|编号|邮箱|照片|图片|截图|数量|名称)"
)
_INFO_REQUEST = re.compile(
    r"(提供|告诉|发|报|输入|留|给)(我|小妹)?(一)?(下|个)?(您的?|你的?)?(订单|单号|手机|电话|号码|联系方式|地址|姓名|名字|账号|户号|户名|表号|工单|身份证|照片|图片|截图|凭证|问题)"
    r"|(订单号?|单号|手机号?|电话|地址|姓名)(码)?(是多少|是什么|多少)|请问.{0,8}(订单|手机|电话|地址|哪个|哪一)"
    # chat word order: the item first ("手机号提供下哦", "税号发一下"), or the item after "提供一下"
    r"|(订单号?|单号|手机号?|电话|号码|联系方式|地址|姓名|名字|账号|税号|验证码|身份证|抬头|卡号|信息|编号)(码)?"
    r"(麻烦|请)?(您|你)?(提供|发|告知|说|告诉|复制|留)(一)?下"
    r"|(提供|发|告知|告诉|复制|留)(一)?(下|个)[^,.?!]{0,16}(号|姓名|名字|地址|信息|抬头|税号|验证码|方式|号码)"
    # "辛苦告知…抬头和税号", "您说下手机号", "麻烦提供以下资料", "公司名称和联系方式呢", "数量多少呢", "订单号有吗"
    rf"|(提供|告知|告诉|说|留|发|复制)(一)?(下|个)?(以下)?[^,.?!]{{0,12}}{_ITEM}"
    rf"|{_ITEM}(码)?(和[^,.?!]{{1,6}})?(是)?(呢|多少|是什么|有吗|有么)"
    # "税号需要填写吗", "不需要税号吗", "您现在号码给我哦"
    rf"|(需要|要)(填写?|提供)?(税号|抬头|地址|手机号?|电话|号码)吗|(税号|抬头)(需要|要)(填写?|提供)?吗|{_ITEM}(码)?给(我|小妹)"
    # a bare item with a chat particle asks for it ("税号哦", "邮箱呢?")
    rf"|(^|[\s,.?!])({_ITEM})(码)?(哦|呀|呢)[?~]*$"
    # the item named first, the ask after it ("您把正确地址完整告诉小妹下呢", "验证码已发，请您收到告知一下")
    rf"|{_ITEM}[^?]{{0,12}}(提供|告知|告诉|发)(给)?(我|小妹|妹子)?(一)?下"
)
# A choice the agent asked for (payment method, pickup or return way) is information too (data/README:
# "thanks is owed for information the agent asked for, including a choice"): "您是什么支付的呢" + "微信".
_CHOICE_REQUEST = re.compile(r"(什么|哪种|哪个|何种)(方式)?(支付|付款)|支付方式|付款方式|(选择|选)[^?]{0,30}还是")
_CHOICE_GIVEN = re.compile(
    r"微信|支付宝|白条|银行卡|信用卡|储蓄卡|借记卡|货到付款|在线支付|applepay|apple ?pay|云闪付|余额|京东支付|网银"
    r"|上门取件|客户发货|送货|自提|自己寄|寄回|快递|退款|换货|维修"
)
# Real chats arrive anonymised: the data itself is a placeholder ("[数字x]", "[身份证号x]", "[组织机构x]").
_INFO_GIVEN = re.compile(
    r"\d{5,}|\[(订单|ORDERID|电话|手机|地址|姓名|数字|身份证|组织机构|邮箱)|订单编号|订单号|号码是|地址是|@|\*{3}"
)
# A chat customer often repeats the question and adds the nudge: "…怎么退呢? 在吗?", "…发货了吗??"
_NUDGE_END = re.compile(r"(在吗|在不在|还在吗|人呢|有人吗)[?？。.!！ ]*$|[?？]{2,}$")
_NUDGE = re.compile(r"^(在吗|在不在|还在吗|人呢|有人吗|您好|你好|亲)?[?？。.!！ ]*$")


# Words around a hold request that do not answer anything ("还请您稍等，正在为您查询~", "小妹马上为您查看一下哦").
_WAIT_FILLER = re.compile(
    r"(还|烦)?请(您)?|麻烦(您)?|您|亲爱的?|亲亲?|小妹|妹子|妹纸|这边|我|马上|立刻|火速|急速|正在|现在|帮|为|给|查询|查看|核实"
    r"|处理|联系|确认|一下|下|中|哦|哈|呢|呀|啦|的|滴|哒|嗯|好的|好|稍等|稍候|等待|耐心|分钟|不要离开|不要下线|可以吗|看|问"
)
_ANSWER_CHARS = 8
# An agent turn that only acknowledges or holds the floor ("好的", "好的呢亲", "嗯嗯", "妹子等您哦").
_HOLDING_ACK = re.compile(
    r"^[\s,.!~]*(好的?|嗯+|恩+|ok|收到|没事的?|没关系)?[\s,.!~]*(呢|哦|哈|呀|的|哒)?[\s,.!~]*"
    r"(亲爱的?|亲亲?)?[\s,.!~]*((小妹|妹子|妹纸|我)?(在|等(着)?您|等你)(的|呢|哦|哈)?)?[\s,.!~]*$"
)


def _wait_answered(agent: str) -> bool:
    """A turn that asks to wait and then answers (data/README, batch-3 conventions): the wait is over, so
    the next agent turn owes nothing for it. The answer is what follows the last hold phrase once the
    hold's own filler words are dropped."""
    last = None
    for m in _WAIT_REQUEST.finditer(agent):
        last = m
    if last is None:
        return False
    rest = _WAIT_FILLER.sub("", agent[last.end() :])
    return len(re.findall(r"[\u4e00-\u9fff]", rest)) >= _ANSWER_CHARS


def derived_events(context: ContextLike) -> List[str]:
    """Events implied by the turns before an agent utterance (empty without an earlier agent turn):
    the agent asked the customer to wait and now comes back; the customer nudged ("在吗", "？？")
    after a gap; the customer supplied data the agent asked for."""
    return implied_events(as_turns(context))


def implied_events(turns: Sequence[Turn], simplify: Callable[[str], str] = to_simplified_halfwidth) -> List[str]:
    """:func:`derived_events` of turns already in ``as_turns`` form. ``simplify`` may be a memoised
    ``to_simplified_halfwidth``: a whole-call audit reads each turn in up to 8 windows."""
    last_agent = -1
    for i in range(len(turns) - 1, -1, -1):
        if turns[i][0] == "agent":
            last_agent = i
            break
    if last_agent < 0:
        return []
    agent = simplify(turns[last_agent][1])
    since = [simplify(t) for r, t in turns[last_agent + 1 :] if r == "customer"]
    out = []
    # "请您提供一下户号，我帮您查一下" + the number: the customer answered a question; the turn after it
    # owes thanks for the data, not an apology for a wait.
    asked = _INFO_REQUEST.search(agent) is not None
    if not asked and _HOLDING_ACK.match(agent):
        # chat: the agent's "好的 / 妹子等您哦" only holds the floor while the customer types what the agent's
        # turn before asked for (the invoice title, then the tax number): that request still stands
        earlier = [t for r, t in turns[:last_agent] if r == "agent"]
        asked = bool(earlier) and _INFO_REQUEST.search(simplify(earlier[-1])) is not None
    supplied = asked and any(_INFO_GIVEN.search(t) for t in since)
    supplied = supplied or (bool(_CHOICE_REQUEST.search(agent)) and any(_CHOICE_GIVEN.search(t.lower()) for t in since))
    if not supplied and _WAIT_REQUEST.search(_WAIT_THANKS.sub("", agent)) and not _wait_answered(agent):
        out.append("客户等待客服查询后回来")
    elif (
        since
        and any((_NUDGE.match(t.strip()) or _NUDGE_END.search(t.strip())) and t.strip() for t in since)
        and any(ch in "".join(since) for ch in "?在人")
    ):
        out.append("客户等待后催问")
    if supplied:
        out.append("客户按要求提供了信息")
    return out
