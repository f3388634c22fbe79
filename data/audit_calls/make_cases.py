"""Write data/audit_calls/cases.jsonl: whole calls for the held-out test of `sdk.audit`.

The calls are written by hand from the seed standards (/work/shared/seeds/, LABELS.md), by an
evaluator who had not read sdk/audit/ or sdk/rules/call.yaml. Each call is clean or carries exactly
one seeded fault; its `expect` says whether it must pass and where the fault lies (turn indices).

    python data/audit_calls/make_cases.py          # rewrites cases.jsonl next to this file

Timing: phone turns get start/end from a speaking rate (agent 4 chars/s = 240/min, customer
4.5 chars/s) and small gaps, unless a turn sets `gap` (seconds after the previous turn ended;
negative = overlap) or `dur`. Chat turns are sent instantly: `gap` is the time since the previous
message. `timing` of a call: "full" (start+end), "start" (chat: send time only), "none".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("cases.jsonl")
S000 = "seed 000_45f10cb670b75157"
S001 = "seed 001_883fa4ce47d82c7a"
S002 = "seed 002_7f56c39259f021e8"
S004 = "seed 004_f7fcaf174242570c"
LAB = "LABELS.md"

AGENT_RATE = 4.0
CUSTOMER_RATE = 4.5


def A(text: str, **o: Any) -> dict[str, Any]:
    return {"role": "agent", "text": text, **o}


def C(text: str, **o: Any) -> dict[str, Any]:
    return {"role": "customer", "text": text, **o}


def E(text: str, **o: Any) -> dict[str, Any]:
    return {"role": "event", "text": text, **o}


def greet(company: str = "星河电力客服中心", no: str = "1023", **o: Any) -> dict[str, Any]:
    return A(f"您好，{company}，工号{no}，很高兴为您服务，请问有什么可以帮您？", **o)


def close_phone(hangup: bool = True) -> list[dict[str, Any]]:
    turns = [
        A("请问还有其他可以帮您的吗？"),
        C("没有了，谢谢。"),
        A("不客气，感谢您的来电，再见！"),
        C("再见。"),
    ]
    return turns + ([E("customer_hangup")] if hangup else [])


def close_chat() -> list[dict[str, Any]]:
    return [
        A("请问还有其他可以帮您的吗？"),
        C("没有了，谢谢。"),
        A("不客气，感谢您的光临，祝您生活愉快，再见～"),
    ]


# Call bodies reused by several calls (between greeting and closing).
BILL = [
    C("你好，我想查一下我家上个月的电费。"),
    A("好的，请您提供一下户号，好吗？"),
    C("户号是3301204578。"),
    A("好的，谢谢您的配合。您上个月的电费是二百一十三元五角，已经通过银行代扣缴清了。"),
    C("哦，那就好。"),
]
OUTAGE = [
    C("我们小区下午突然停电了，什么时候能来电？"),
    A("对不起，给您带来不便了。请问您是哪个小区？"),
    C("翠湖花园，12栋。"),
    A("谢谢您。翠湖花园是线路故障停电，抢修人员已经在现场，预计六点前恢复供电。"),
    C("好，知道了。"),
]
GASFEE = [
    C("你好，我想问一下燃气费在哪些地方可以交？"),
    A("您可以在蓝海燃气微信公众号或者支付宝生活缴费里交，也可以到营业厅交。"),
    C("营业厅几点下班？"),
    A("营业厅的服务时间是早上八点半到下午五点，周末也正常营业。"),
    C("好的，明白了。"),
]
PEAK = [
    C("我想问一下峰谷电价怎么申请。"),
    A("您可以在网上国网APP的业务办理里申请，也可以带着身份证到营业厅办理，申请后下个抄表周期生效。"),
    C("需要户主本人去吗？"),
    A("是的，需要户主本人或者带着户主的委托书办理。"),
    C("好，明白了。"),
]


def meter_hold(ask: str, hold: dict[str, Any], back: str, reply: bool = True) -> list[dict[str, Any]]:
    """Meter-check enquiry where the agent puts the customer on hold (or mute) to look it up."""
    turns = [
        C("你好，我上周申请的电表校验，现在进度怎么样了？"),
        A("请您提供一下户号，好吗？"),
        C("3301556721。"),
        A(ask, mark="ask"),
    ]
    if reply:
        turns.append(C("好的。"))
    return turns + [
        {**hold, "mark": "hold"},
        A(back, mark="back"),
        C("好的，知道了。"),
    ]


ASK_OK = "谢谢您。对不起，我需要查询一下校验记录，请您稍等片刻，好吗？"
BACK_OK = "对不起，让您久等了，感谢您的耐心等待。您的电表校验已经完成，结果合格，报告会在三个工作日内寄到您家。"
RESULT = "您的电表校验已经完成，结果合格，报告会在三个工作日内寄到您家。"

CALLS: list[dict[str, Any]] = []


def call(
    cid: str,
    channel: str,
    turns: list[dict[str, Any]],
    *,
    timing: str = "full",
    ring: float | None = None,
    clean: bool = False,
    faults: list[dict[str, Any]] | None = None,
    passed: bool | None = None,
    note: str = "",
) -> None:
    CALLS.append(
        {
            "id": cid,
            "channel": channel,
            "turns": turns,
            "timing": timing,
            "ring": ring,
            "clean": clean,
            "faults": faults or [],
            "passed": True if clean else passed,
            "note": note,
        }
    )


def fault(kind: str, desc: str, marks: list[str], seed: str, alt: list[str] | None = None) -> dict[str, Any]:
    return {"kind": kind, "desc": desc, "marks": marks, "alt": alt or [], "seed": seed}


def timed_phone(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    prev_end = 0.0
    for i, t in enumerate(turns):
        role = t["role"]
        if role == "event":
            gap = t.get("gap", 0.3)
            dur = t.get("dur", 0.0)
        else:
            rate = t.get("rate", AGENT_RATE if role == "agent" else CUSTOMER_RATE)
            gap = t.get("gap", 0.5 if i == 0 else 0.6)
            dur = t.get("dur", len(t["text"]) / rate)
        start = max(0.0, prev_end + gap)
        end = start + dur
        row = {"role": role, "text": t["text"], "start": round(start, 1)}
        if role != "event" or dur:
            row["end"] = round(end, 1)
        out.append(row)
        prev_end = max(prev_end, end)
    return out


def timed_chat(turns: list[dict[str, Any]], with_end: bool) -> list[dict[str, Any]]:
    out = []
    t_now = 0.0
    for i, t in enumerate(turns):
        default = 0.0 if i == 0 else (12.0 if t["role"] == "agent" else 20.0)
        t_now += t.get("gap", default)
        row = {"role": t["role"], "text": t["text"], "start": round(t_now, 1)}
        if with_end:
            row["end"] = round(t_now, 1)
        out.append(row)
    return out


def build(c: dict[str, Any]) -> dict[str, Any]:
    raw = c["turns"]
    if c["timing"] == "none":
        turns = [{"role": t["role"], "text": t["text"]} for t in raw]
        # An event may carry its own times even when the words do not (a switch log).
        for row, t in zip(turns, raw):
            if "at" in t:
                row["start"], row["end"] = t["at"]
    elif c["channel"] == "phone":
        turns = timed_phone(raw)
    else:
        turns = timed_chat(raw, with_end=c["timing"] == "full")
    marks = {t["mark"]: i for i, t in enumerate(raw) if "mark" in t}
    marks["last"] = len(raw) - 1
    marks["last_agent"] = max(i for i, t in enumerate(raw) if t["role"] == "agent")
    out: dict[str, Any] = {"id": c["id"], "channel": c["channel"]}
    if c["ring"] is not None:
        out["ring_seconds"] = c["ring"]
    out["turns"] = turns
    out["expect"] = {
        "passed": c["passed"],
        "faults": [
            {
                "kind": f["kind"],
                "desc": f["desc"],
                "turns": [marks[m] for m in f["marks"]],
                **({"alt_turns": [marks[m] for m in f["alt"]]} if f["alt"] else {}),
                "seed": f["seed"],
            }
            for f in c["faults"]
        ],
    }
    if c["note"]:
        out["note"] = c["note"]
    return out


# ---------------------------------------------------------------- clean calls
call(
    "clean-ph-bill",
    "phone",
    [greet(), *BILL, *close_phone()],
    ring=6.0,
    clean=True,
    note="plain enquiry, customer hangs up first",
)
call(
    "clean-ph-untimed-complaint",
    "phone",
    [
        greet(no="2087"),
        C("我家停电两天了，报修了也没人来，你们怎么回事？"),
        A("对不起，给您添麻烦了。请您告诉我您的地址和联系电话，好吗？我马上帮您催办。"),
        C("地址是城南区梧桐路18号3单元，电话13812345678。"),
        A("谢谢您的配合。我已经把您的报修加急转给抢修班组，他们会在两小时内联系您。"),
        C("好吧，那我等着。"),
        A("请问还有其他可以帮您的吗？"),
        C("没有了。"),
        A("感谢您的来电，若有问题请再次来电，再见！"),
    ],
    timing="none",
    clean=True,
    note="no timestamps, no ring time: time checks must be skipped, not failed",
)
call(
    "clean-ph-hold",
    "phone",
    [greet(no="1056"), *meter_hold(ASK_OK, E("hold", dur=40.0), BACK_OK), *close_phone()],
    ring=8.0,
    clean=True,
    note="hold with apology + consent, 40 s, apology and thanks after",
)
call(
    "clean-ph-late-answer-apology",
    "phone",
    [
        A("您好，星河电力客服中心，工号1109，对不起，刚才线路忙，让您久等了！请问有什么可以帮您？"),
        *PEAK,
        A("请问我刚才的解释您是否清楚？还有其他可以帮您的吗？"),
        C("清楚了，没有了。"),
        A("感谢您的来电，祝您生活愉快，再见！"),
        C("再见。"),
        E("customer_hangup"),
    ],
    ring=28.0,
    clean=True,
    note="answered after more than 3 rings but the greeting apologises (seed 000 四.1)",
)
call(
    "clean-ph-transfer",
    "phone",
    [
        greet("蓝海燃气客服中心", "3012"),
        C("你好，我想咨询一下家里燃气灶改装的事情。"),
        A("燃气灶改装需要由我们工程部的同事上门评估，对不起，我需要帮您转接到工程部，请您稍等片刻，好吗？"),
        C("好的。"),
        A("谢谢您的配合，现在为您转接，感谢您的来电。"),
        E("transfer"),
    ],
    ring=5.0,
    clean=True,
    note="transfer with reason and consent; the call leaves this agent at the transfer",
)
call(
    "clean-ph-silent-caller",
    "phone",
    [
        greet(),
        A("您好，请问有什么可以帮您？", gap=5.5),
        A("对不起，您的电话没有声音，请您换一部电话再次打来，好吗？再见！", gap=5.5),
        E("agent_hangup", gap=5.5),
    ],
    ring=4.0,
    clean=True,
    note="silent caller handled exactly per seed 000 一.4 (pauses of 5 s, then hang up)",
)
call(
    "clean-ph-customer-lingers",
    "phone",
    [
        greet(no="1088"),
        *OUTAGE,
        A("请问还有其他可以帮您的吗？"),
        C("没有了，谢谢。"),
        A("不客气，感谢您的来电，再见！"),
        A("请问还有什么可以帮您？", gap=6.0),
        A("对不起，我挂线了。", gap=6.0),
        E("agent_hangup", gap=5.5),
    ],
    ring=7.0,
    clean=True,
    note="customer does not hang up; agent follows seed 000 五.3 then hangs up",
)
call(
    "clean-ph-mute",
    "phone",
    [
        greet(no="1131"),
        C("你好，我想问一下我们这片明天是不是要停电？"),
        A("对不起，我需要查询一下停电计划，请您稍等片刻，好吗？"),
        C("好。"),
        E("mute", dur=25.0),
        A("对不起，让您久等了，感谢您的耐心等待。您所在的片区明天上午八点到十二点计划检修停电，下午恢复供电。"),
        C("好的，谢谢。"),
        A("不客气。请问还有其他可以帮您的吗？"),
        C("没有了。"),
        A("感谢您的来电，再见！"),
        E("customer_hangup", gap=1.0),
    ],
    ring=9.0,
    clean=True,
    note="mute after consent, 25 s, apology after (seed 000 四.8)",
)
call(
    "clean-chat-wait",
    "chat",
    [
        C("在吗？我昨天买的台灯什么时候发货？"),
        A("亲，您好，欢迎光临云朵家居旗舰店，我是客服小云，很高兴为您服务～请您提供一下订单号，好吗？", gap=10.0),
        C("订单号是2024061888123。", gap=25.0),
        A("谢谢亲的配合～不好意思，我帮您查一下物流信息，请您稍等片刻哦。"),
        A("亲，让您久等了，感谢您的耐心等待。您的台灯今天下午已经发货了，是中通快递，预计后天送达。", gap=40.0),
        C("好的，谢谢。"),
        A("不客气哦，请问还有其他可以帮您的吗？", gap=8.0),
        C("没有了。", gap=15.0),
        A("感谢您的光临，祝您生活愉快，再见～", gap=8.0),
    ],
    clean=True,
    note="chat with start=end times; first reply 10 s, every reply < 60 s, wait done right",
)
call(
    "clean-chat-untimed",
    "chat",
    [
        C("你好，我买的杯子收到的时候碎了一个。"),
        A("您好，欢迎光临云朵家居旗舰店，我是客服小雨。非常抱歉给您带来不便！麻烦您提供一下订单号和破损的照片，好吗？"),
        C("订单号2024070312345，照片发你了。"),
        A("谢谢您的配合。已经为您登记补发一个新杯子，明天发出，运费由我们承担。"),
        C("行，那就好。"),
        *close_chat(),
    ],
    timing="none",
    clean=True,
)
call(
    "clean-chat-start-only",
    "chat",
    [
        C("请问这款床垫有1.5米的吗？"),
        A("亲，您好，欢迎光临云朵家居旗舰店，我是客服小云～这款床垫有1.5米和1.8米两种尺寸，1.5米的现在有货哦。"),
        C("软硬程度怎么样？", gap=30.0),
        A("这款是偏硬的独立弹簧床垫，适合喜欢睡硬床的朋友，腰不好的话也比较合适哦。", gap=20.0),
        C("好的，你解释得很清楚，谢谢你！", gap=25.0),
        A("不客气，这是我们应该做的，感谢您的支持～请问还有其他可以帮您的吗？", gap=8.0),
        C("没有了，我先下单了。"),
        A("好的，感谢您的光临，祝您购物愉快，再见～", gap=8.0),
    ],
    timing="start",
    clean=True,
    note="chat messages with a send time only",
)
call(
    "clean-ph-angry-customer-calmed",
    "phone",
    [
        greet(no="1077"),
        C("你们什么破公司！又停电了！一个月停三次，我要投诉你们！"),
        A("对不起，先生，给您添麻烦了，请您原谅。请问您是哪个小区？我马上帮您查询。"),
        C("东湖小区，5栋。"),
        A("谢谢您。东湖小区是因为线路故障停电，抢修人员已经在现场，预计一个小时内恢复供电。"),
        C("一个小时？那还行吧。"),
        A("给您带来的不便，我们再次向您致歉。请问还有其他可以帮您的吗？"),
        C("没有了。"),
        A("感谢您的来电，再见！"),
        C("再见。"),
        E("customer_hangup"),
    ],
    ring=6.0,
    clean=True,
    note="customer angry from the start (not caused by the agent) and calmed: no escalation",
)
call(
    "clean-ph-long-info-prompted",
    "phone",
    [
        greet("蓝海燃气客服中心", "3045"),
        C("你好，我想问一下燃气费在哪些地方可以交？"),
        A("好的，交费的渠道比较多，麻烦您记录一下，好吗？"),
        C("好，你说吧。"),
        A(
            "您可以在蓝海燃气微信公众号交费，也可以在支付宝生活缴费里交，还可以到各个营业厅或者合作银行网点交费，营业厅的服务时间是早上八点半到下午五点。"
        ),
        C("好的，记下了。"),
        A("请问我刚才的解释您是否清楚？还有其他可以帮您的吗？"),
        C("清楚了，没有了，谢谢。"),
        A("不客气，感谢您的来电，再见！"),
        E("customer_hangup", gap=1.5),
    ],
    ring=3.0,
    clean=True,
    note="long information at a normal rate after asking the customer to write it down (seed 000 三.3)",
)

# ---------------------------------------------------------------- phone: answer and greeting
call(
    "f-ph-ring-no-apology",
    "phone",
    [greet(mark="g"), *BILL, *close_phone()],
    ring=30.0,
    faults=[
        fault(
            "late_answer_no_apology",
            "answered after 30 s (> 3 rings) and the greeting has no apology",
            ["g"],
            f"{S000} 四.1; {S004} 通话过程前 (3声内接通,超过3声应道歉)",
        )
    ],
)
call(
    "f-ph-ring-no-apology-untimed",
    "phone",
    [greet("蓝海燃气客服中心", "3021", mark="g"), *GASFEE, *close_phone(hangup=False)],
    timing="none",
    ring=25.0,
    faults=[
        fault(
            "late_answer_no_apology",
            "ring_seconds 25 (> 3 rings), no turn times; greeting without apology",
            ["g"],
            f"{S000} 四.1; {S004} 通话过程前",
        )
    ],
)
call(
    "f-ph-late-greeting",
    "phone",
    [greet(no="1109", gap=5.5, mark="g"), *PEAK, *close_phone()],
    ring=5.0,
    faults=[
        fault(
            "late_greeting",
            "first agent words 5.5 s after the answer (greeting due within 2 s)",
            ["g"],
            f"{S004} 电话服务礼貌用语/问候客户 (接通后两秒内首先致问候语)",
        )
    ],
)
call(
    "f-ph-customer-first-late-greeting",
    "phone",
    [C("喂？喂？有人吗？", gap=1.0), greet(no="1140", gap=1.5, mark="g"), *OUTAGE, *close_phone()],
    ring=5.0,
    faults=[
        fault(
            "late_greeting",
            "the agent lets the customer speak first and greets 4 s after the answer",
            ["g"],
            f"{S004} 问候客户 (接通后两秒内首先致问候语)",
        )
    ],
)
call(
    "f-ph-greeting-no-company",
    "phone",
    [A("您好，请问有什么可以帮您？", mark="g"), *BILL, *close_phone()],
    ring=6.0,
    faults=[
        fault(
            "greeting_content",
            "greeting without company name and agent name/工号",
            ["g"],
            f"{S000} 服务用语规范 一.1; {S001} 电话接听规范 1 (您好，XX呼叫中心，我是XX)",
        )
    ],
)
call(
    "f-ph-greeting-no-nihao",
    "phone",
    [A("星河电力，工号1023，请讲。", mark="g"), *OUTAGE, *close_phone()],
    ring=6.0,
    faults=[fault("greeting_content", "greeting without 您好 / offer of help", ["g"], f"{S000} 一.1; {S004} 问候客户")],
)

# ---------------------------------------------------------------- phone: hold / mute / silence
call(
    "f-ph-hold-no-consent",
    "phone",
    [
        greet(no="1056"),
        *meter_hold("谢谢您，我帮您查一下。", E("hold", dur=30.0), BACK_OK, reply=False),
        *close_phone(),
    ],
    ring=8.0,
    faults=[
        fault(
            "hold_without_consent",
            "hold placed without apology or asking consent",
            ["hold"],
            f"{S000} 四.8; {S004} 需要客户接线等候时 (先征得客户同意)",
        )
    ],
)
call(
    "f-ph-hold-no-consent-2",
    "phone",
    [greet(no="1057"), *meter_hold("您等一下。", E("hold", dur=35.0, gap=0.2), BACK_OK, reply=False), *close_phone()],
    ring=8.0,
    faults=[
        fault(
            "hold_without_consent",
            "'您等一下' then hold at once: no apology, no question, no consent",
            ["hold"],
            f"{S000} 四.8; {S004} 需要客户接线等候时",
        )
    ],
)
call(
    "f-ph-hold-no-answer-awaited",
    "phone",
    [greet(no="1058"), *meter_hold(ASK_OK, E("hold", dur=30.0, gap=0.1), BACK_OK, reply=False), *close_phone()],
    ring=8.0,
    faults=[
        fault(
            "hold_without_consent",
            "agent asks '…好吗？' but holds 0.1 s later without waiting for the customer's consent",
            ["hold"],
            f"{S000} 四.8 (在得到客户的批准后按静音键); {S004} 先征得客户同意",
        )
    ],
)
call(
    "f-ph-hold-too-long",
    "phone",
    [greet(no="1059"), *meter_hold(ASK_OK, E("hold", dur=95.0), BACK_OK), *close_phone()],
    ring=8.0,
    faults=[
        fault("hold_too_long", "hold of 95 s (max 60 s)", ["hold"], f"{S004} 需要客户接线等候时 (接线等候不超过60秒)")
    ],
)
call(
    "f-ph-hold-too-long-event-times",
    "phone",
    [
        greet(no="1060"),
        *meter_hold(ASK_OK, E("hold", at=[40.0, 130.0]), BACK_OK),
        *close_phone(hangup=False),
    ],
    timing="none",
    ring=8.0,
    faults=[
        fault(
            "hold_too_long",
            "words untimed, but the hold event carries 40-130 s (90 s)",
            ["hold"],
            f"{S004} 接线等候不超过60秒",
        )
    ],
    note="only the hold event has times (as a switch log would give)",
)
call(
    "f-ph-hold-no-apology-after",
    "phone",
    [greet(no="1061"), *meter_hold(ASK_OK, E("hold", dur=35.0), RESULT), *close_phone()],
    ring=8.0,
    faults=[
        fault(
            "no_apology_after_hold",
            "agent returns from hold with neither apology nor thanks",
            ["back"],
            f"{S000} 四.8 (取消静音后: 对不起，让您久等了; 不可以没有抱歉和感谢); {S004} 等待结束后向客户致谢",
        )
    ],
)
call(
    "f-ph-hold-thanks-only-after",
    "phone",
    [greet(no="1062"), *meter_hold(ASK_OK, E("hold", dur=35.0), "感谢您的耐心等待。" + RESULT), *close_phone()],
    ring=8.0,
    faults=[
        fault(
            "no_apology_after_hold",
            "agent returns from hold with thanks but no apology",
            ["back"],
            f"{S000} 四.8; {LAB} (no apology - even with thanks - is missing_apology)",
        )
    ],
)
call(
    "f-ph-mute-no-consent",
    "phone",
    [
        greet(no="1063"),
        C("你好，我想问一下我们这片明天是不是要停电？"),
        A("我看一下。"),
        E("mute", dur=20.0, mark="mute"),
        A("对不起，让您久等了，感谢您的耐心等待。您所在的片区明天上午八点到十二点计划检修停电，下午恢复供电。"),
        C("好的，谢谢。"),
        A("不客气。请问还有其他可以帮您的吗？"),
        C("没有了。"),
        A("感谢您的来电，再见！"),
        E("customer_hangup", gap=1.0),
    ],
    ring=9.0,
    faults=[
        fault(
            "mute_without_consent",
            "agent mutes the line without asking the customer first",
            ["mute"],
            f"{S000} 四.8 (先征求客户的意见 … 在得到客户的批准后按静音键)",
        )
    ],
)
call(
    "f-ph-dead-air",
    "phone",
    [
        greet(no="1064"),
        C("你好，帮我查一下为什么我这个月电费比上个月多了一百多？"),
        A(
            "对不起，让您久等了。您这个月用电量是四百二十度，比上个月多了一百六十度，主要是空调用电增加了。",
            gap=45.0,
            mark="back",
        ),
        C("哦，原来是这样。"),
        *close_phone(),
    ],
    ring=6.0,
    faults=[
        fault(
            "dead_air",
            "45 s of silence before the agent answers, with no request to wait",
            ["back"],
            f"{S004} 需要客户接线等候时先征得客户同意; {S000} 四.8",
        )
    ],
)
call(
    "f-ph-silent-hangup-direct",
    "phone",
    [greet(), E("agent_hangup", gap=3.0, mark="hup")],
    ring=4.0,
    faults=[
        fault(
            "silent_caller_procedure",
            "silent caller: agent hangs up 3 s after one greeting",
            ["hup"],
            f"{S000} 一.4 (不可以直接挂机); {S004} 无声电话 (需多次确认，不能立刻挂机)",
        )
    ],
)
call(
    "f-ph-silent-no-final-line",
    "phone",
    [greet(), A("您好，请问有什么可以帮您？", gap=5.5), E("agent_hangup", gap=5.5, mark="hup")],
    ring=4.0,
    faults=[
        fault(
            "silent_caller_procedure",
            "silent caller: hangs up without '对不起，您的电话没有声音，请您换一部电话再次打来'",
            ["hup"],
            f"{S000} 一.4",
        )
    ],
)
call(
    "f-ph-silent-rude",
    "phone",
    [
        greet(),
        A("喂，说话呀！再不说话我就挂了啊！", gap=5.5, mark="rude"),
        A("对不起，您的电话没有声音，请您换一部电话再次打来，好吗？再见！", gap=5.5),
        E("agent_hangup", gap=5.5),
    ],
    ring=4.0,
    passed=False,
    faults=[
        fault(
            "forbidden_phrase",
            "'喂，说话呀！再不说话我就挂了啊' to a silent caller",
            ["rude"],
            f"{S000} 一.4 (不可以说：喂，说话呀！再不说话我就挂了啊)",
        )
    ],
)

# ---------------------------------------------------------------- phone: during the call
call(
    "f-ph-interrupt",
    "phone",
    [
        greet(no="1065"),
        C(
            "我家的电表这个月走得特别快，上个月才一百多度，这个月突然变成三百多度，我家里也没添什么电器，"
            "你们是不是表坏了？"
        ),
        A("请您提供一下户号，我帮您查一下，好吗？", gap=-3.0, mark="cut"),
        C("3301887766。"),
        A("谢谢您。您的电表上个月刚做过校验，结果合格，这个月用电多可能是热水器在用，建议您关掉总闸看看电表还走不走。"),
        C("好，我回去试试。"),
        *close_phone(),
    ],
    ring=6.0,
    faults=[
        fault(
            "interruption",
            "agent starts 3 s before the customer finished speaking",
            ["cut"],
            f"{S004} 受理客户咨询时 (不随意打断客户的话语); {S001} 不应该在客户讲话时打断",
        )
    ],
)
call(
    "f-ph-interrupt-complaint",
    "phone",
    [
        greet(no="1066"),
        C("你们上次说三天内给我回电话，结果一个星期了都没人理我，我打了好几次电话了，每次都说在处理。"),
        A("对不起，给您添麻烦了，请您提供一下工单号，好吗？", gap=-4.0, mark="cut"),
        C("工单号是20240611007。"),
        A("谢谢您。我已经把您的工单加急转给处理部门，今天下午五点前一定给您回电。"),
        C("行吧。"),
        *close_phone(),
    ],
    ring=6.0,
    faults=[
        fault(
            "interruption",
            "agent cuts into the customer's complaint 4 s before it ends",
            ["cut"],
            f"{S004} 不随意打断客户的话语; {S002} 不要急于打断客户",
        )
    ],
)
call(
    "f-ph-speech-fast",
    "phone",
    [
        greet("蓝海燃气客服中心", "3046"),
        C("你好，我想问一下燃气费在哪些地方可以交？"),
        A(
            "您可以在蓝海燃气微信公众号交费，也可以在支付宝生活缴费里交，还可以到各个营业厅或者合作银行网点交费，"
            "营业厅的服务时间是早上八点半到下午五点。",
            rate=10.0,
            mark="fast",
        ),
        C("啊？你说慢一点，我没记住。"),
        A("对不起，我再慢一点说一遍：可以在微信公众号、支付宝或者营业厅交费，营业厅早上八点半到下午五点营业。"),
        C("好的，记下了。"),
        *close_phone(),
    ],
    ring=3.0,
    faults=[
        fault(
            "speech_too_fast",
            "a 70-character information turn spoken at 10 chars/s (600/min), no prompt",
            ["fast"],
            f"{S000} 三.3 (不可以语速过快而没有提示); {S004} 语速适中",
        )
    ],
)
call(
    "f-ph-forbidden-phrase",
    "phone",
    [
        greet("蓝海燃气客服中心", "3047"),
        C("你好，我家楼下的路灯坏了好几天了，你们能派人来修吗？"),
        A("这不归我管，你打别的电话问吧。", mark="bad"),
        C("那我该打哪个电话？"),
        A("路灯是市政部门负责的，您可以拨打12345市民热线反映。"),
        C("好吧。"),
        *close_phone(),
    ],
    ring=4.0,
    faults=[
        fault(
            "forbidden_phrase",
            "'这不归我管' (fobbing off)",
            ["bad"],
            f"{LAB} non_compliant ('这不归我管'); {S002} 一(2) 不得推诿",
        )
    ],
)
call(
    "f-ph-blunt-refusal",
    "phone",
    [
        greet(no="1067"),
        C("你好，我想知道我们小区的变压器什么时候扩容？"),
        A("不知道，你去营业厅问吧。", mark="bad"),
        C("……那好吧。"),
        *close_phone(),
    ],
    ring=4.0,
    passed=False,
    faults=[
        fault(
            "forbidden_phrase",
            "blunt refusal '不知道' and fobbing off",
            ["bad"],
            f"{S002} 16 (严禁出现“不知道、不行”等词语); {S000} 四.17",
        )
    ],
)
call(
    "f-ph-rude-escalation",
    "phone",
    [
        greet(no="1068"),
        C("我想问一下电费怎么在手机上交。"),
        A("您可以下载网上国网APP，绑定户号以后在首页点交费就可以了。"),
        C("绑定户号是在哪里？我没找到。"),
        A("我都说了在首页了，你怎么还听不懂？", mark="rude"),
        C("你这是什么态度？！我要投诉你！", mark="angry"),
        A("对不起，是我态度不好，请您原谅。绑定户号在APP首页右上角的“我的”里面，点“户号绑定”就可以了。"),
        C("行了，我自己弄吧。"),
        *close_phone(),
    ],
    ring=5.0,
    passed=False,
    faults=[
        fault(
            "rude_escalation",
            "agent's impatient reply; the customer turns angry right after",
            ["rude", "angry"],
            f"{S002} 一(1) 严禁态度生硬、教训、不耐烦; {S004} 客户情绪 (避免与客户发生冲突)",
        )
    ],
)
call(
    "f-ph-no-apology-complaint",
    "phone",
    [
        greet(no="1069"),
        C("你们修了三天还没修好，太慢了吧！"),
        A("请问您的地址是哪里？", mark="bad"),
        C("城北区桂花路6号。"),
        A("谢谢您。抢修人员明天上午会到，预计中午前修好。"),
        C("好吧。"),
        *close_phone(),
    ],
    ring=5.0,
    faults=[
        fault(
            "turn_missing_apology",
            "customer complains the repair is slow; the reply has no apology",
            ["bad"],
            f"{S000} 四.3 (遇到客户责怪…动作慢: 对不起，让您久等了); {LAB}",
        )
    ],
)
call(
    "f-ph-no-thanks-info",
    "phone",
    [
        greet(no="1070"),
        C("你好，我想查一下我家上个月的电费。"),
        A("好的，请您提供一下户号，好吗？"),
        C("户号是3301204578。"),
        A("您上个月的电费是二百一十三元五角，已经通过银行代扣缴清了。", mark="bad"),
        C("哦，那就好。"),
        *close_phone(),
    ],
    ring=5.0,
    faults=[
        fault(
            "turn_missing_thanks",
            "customer gave the account number asked for; no thanks",
            ["bad"],
            f"{LAB} (customer supplied information: 谢谢您的配合)",
        )
    ],
)
call(
    "f-ph-transfer-no-explain",
    "phone",
    [
        greet("蓝海燃气客服中心", "3013"),
        C("你好，我想咨询一下家里燃气灶改装的事情。"),
        A("我帮您转到工程部。"),
        E("transfer", mark="tr"),
    ],
    ring=5.0,
    faults=[
        fault(
            "transfer_without_consent",
            "transfer without a reason or the customer's consent",
            ["tr"],
            f"{S001} 问题解决与转接 2 (转接过程中要向客户解释原因); {S004} 先征得客户同意",
        )
    ],
)

# ---------------------------------------------------------------- phone: closing / hang-up
call(
    "f-ph-no-closing",
    "phone",
    [
        greet(no="1071"),
        *OUTAGE,
        A("请问还有其他可以帮您的吗？"),
        C("没有了。"),
        A("好的，那就这样吧。", mark="end"),
        E("customer_hangup", gap=1.0),
    ],
    ring=5.0,
    faults=[
        fault(
            "no_closing",
            "the call ends without '感谢您的来电' / farewell",
            ["end"],
            f"{S000} 结束语 2; {S004} 告别 (感谢来电，再见)",
        )
    ],
)
call(
    "f-ph-bare-goodbye",
    "phone",
    [
        greet(no="1072"),
        *BILL,
        A("请问还有其他可以帮您的吗？"),
        C("没有了。"),
        A("好，再见。", mark="end"),
        E("customer_hangup", gap=1.0),
    ],
    ring=5.0,
    faults=[
        fault(
            "no_closing",
            "closing is a bare '再见' with no thanks for the call",
            ["end"],
            f"{S000} 结束语 2 (不可以直接说再会)",
        )
    ],
)
call(
    "f-ph-agent-hangs-up-first",
    "phone",
    [
        greet(no="1073"),
        *GASFEE,
        A("请问还有其他可以帮您的吗？"),
        C("没有了，谢谢。"),
        A("不客气，感谢您的来电，再见！"),
        E("agent_hangup", gap=0.3, mark="hup"),
    ],
    ring=5.0,
    faults=[
        fault(
            "agent_hangs_up_first",
            "agent hangs up 0.3 s after the closing, before the customer hangs up",
            ["hup"],
            f"{S000} 结束语 3 (不可以直接挂机); {S004} 确认客户没有其它需求后方可结束",
        )
    ],
)
call(
    "f-ph-agent-hangs-up-first-untimed",
    "phone",
    [
        greet(no="1074"),
        *PEAK,
        A("请问还有其他可以帮您的吗？"),
        C("没有了，谢谢。"),
        A("不客气，感谢您的来电，再见！"),
        E("agent_hangup", mark="hup"),
    ],
    timing="none",
    ring=5.0,
    faults=[
        fault(
            "agent_hangs_up_first",
            "agent ends the call itself right after its closing (no timestamps)",
            ["hup"],
            f"{S000} 结束语 3 (不可以直接挂机)",
        )
    ],
)

# ---------------------------------------------------------------- chat
CHAT_GREET = "亲，您好，欢迎光临云朵家居旗舰店，我是客服小云，很高兴为您服务～"
call(
    "f-chat-first-response-late",
    "chat",
    [
        C("你好，这款沙发可以定制尺寸吗？"),
        A(CHAT_GREET + "这款沙发支持定制尺寸，定制周期大约二十天哦。", gap=45.0, mark="first"),
        C("定制要加钱吗？", gap=20.0),
        A("定制尺寸不加钱的，只有换面料需要补差价哦。", gap=15.0),
        C("好的，谢谢。", gap=30.0),
        A("不客气哦，请问还有其他可以帮您的吗？", gap=10.0),
        C("没有了。", gap=15.0),
        A("感谢您的光临，祝您生活愉快，再见～", gap=8.0),
    ],
    faults=[
        fault(
            "chat_first_response_late",
            "first agent reply 45 s after the customer's first message (max 30 s)",
            ["first"],
            f"{S002} 快速 (顾客首次到访打招呼的时间不能超过30秒)",
        )
    ],
)
call(
    "f-chat-first-response-late-start-only",
    "chat",
    [
        C("在吗？想问下这个书架好安装吗？"),
        A(
            CHAT_GREET + "这款书架是免工具安装的，附带图文说明书，一个人二十分钟左右就能装好哦。",
            gap=40.0,
            mark="first",
        ),
        C("好的，谢谢。", gap=20.0),
        A("不客气哦，请问还有其他可以帮您的吗？", gap=10.0),
        C("没有了。", gap=15.0),
        A("感谢您的光临，祝您生活愉快，再见～", gap=8.0),
    ],
    timing="start",
    faults=[
        fault(
            "chat_first_response_late",
            "first reply 40 s after the customer (send times only)",
            ["first"],
            f"{S002} 顾客首次到访打招呼的时间不能超过30秒",
        )
    ],
)
call(
    "f-chat-slow-reply",
    "chat",
    [
        C("你好，我的快递三天没动了。"),
        A(CHAT_GREET + "非常抱歉给您带来不便，请您提供一下订单号，好吗？", gap=10.0),
        C("2024062011223。", gap=20.0),
        A("谢谢您的配合。您的快递在中转站滞留了，我已经联系快递加急派送，预计明天送到。", gap=95.0, mark="slow"),
        C("好吧，那我再等等。", gap=20.0),
        *close_chat(),
    ],
    faults=[
        fault(
            "chat_reply_late",
            "agent reply 95 s after the customer's message (max 60 s)",
            ["slow"],
            f"{S002} 业务技能 1 (所有客服必须做到60秒内回复); 每次回答顾客问题，顾客等待时间不能超过1分钟",
        )
    ],
)
call(
    "f-chat-slow-reply-start-only",
    "chat",
    [
        C("请问这款餐桌是实木的吗？"),
        A(CHAT_GREET + "这款餐桌是橡木实木的哦。", gap=8.0),
        C("那桌面会不会容易划伤？", gap=25.0),
        A("实木桌面日常使用不容易划伤，建议放个桌垫，清洁的时候用湿布擦干就可以了。", gap=80.0, mark="slow"),
        C("好的，谢谢。", gap=20.0),
        A("不客气哦，请问还有其他可以帮您的吗？", gap=8.0),
        C("没有了。", gap=15.0),
        A("感谢您的光临，祝您生活愉快，再见～", gap=8.0),
    ],
    timing="start",
    faults=[
        fault(
            "chat_reply_late", "agent reply 80 s after the question (send times only)", ["slow"], f"{S002} 60秒内回复"
        )
    ],
)
call(
    "f-chat-emoji-only",
    "chat",
    [
        C("你好，买这个柜子能开发票吗？"),
        A(CHAT_GREET + "可以开发票的哦。", gap=10.0),
        C("是电子发票还是纸质的？", gap=20.0),
        A("👌", gap=10.0, mark="bad"),
        C("？？我问你是电子的还是纸质的", gap=20.0),
        A("不好意思，是电子发票，下单时在发票栏填写抬头和税号就可以了。", gap=12.0),
        C("好的，谢谢。", gap=20.0),
        A("不客气哦，请问还有其他可以帮您的吗？", gap=8.0),
        C("没有了。", gap=15.0),
        A("感谢您的光临，祝您生活愉快，再见～", gap=8.0),
    ],
    passed=False,
    faults=[
        fault(
            "chat_filler_reply",
            "emoji-only reply to a real question",
            ["bad"],
            f"{S002} 15 (严禁出现“嗯，啊，哦”等单字语言); {LAB} 3 (emoji-only reply = filler)",
        )
    ],
)
call(
    "f-chat-single-char",
    "chat",
    [
        C("你好，这款枕头是正品吗？"),
        A(CHAT_GREET + "请问有什么可以帮您？", gap=8.0),
        C("我问这个枕头是不是正品，有没有质检报告？", gap=20.0),
        A("嗯", gap=10.0, mark="bad"),
        C("？？？", gap=20.0),
        A("不好意思，刚才没说清楚。我们是品牌官方旗舰店，保证正品，商品详情页最下面有质检报告哦。", gap=10.0),
        C("好的。", gap=20.0),
        *close_chat(),
    ],
    passed=False,
    faults=[
        fault(
            "chat_filler_reply",
            "single-character '嗯' reply to a question",
            ["bad"],
            f"{S002} 15 (严禁出现“嗯，啊，哦”等单字语言)",
        )
    ],
)
call(
    "f-chat-no-closing",
    "chat",
    [
        C("你好，我想改一下收货地址。"),
        A(CHAT_GREET + "请您提供一下订单号和新的收货地址，好吗？", gap=10.0),
        C("订单号2024062512345，新地址是杭州市西湖区文三路100号。", gap=40.0),
        A("谢谢您的配合，地址已经为您修改好了。", gap=20.0, mark="lastag"),
        C("好的，谢谢。", gap=15.0),
    ],
    faults=[
        fault(
            "chat_no_closing",
            "the customer sends the last message; the agent never closes",
            ["last"],
            f"{S002} 业务技能 9 (最后一句结束语必须由我们客服来结束，不能等客户去做结束词)",
            alt=["last_agent"],
        )
    ],
)
call(
    "f-chat-no-closing-untimed",
    "chat",
    [
        C("请问你们周末发货吗？"),
        A(CHAT_GREET + "周末也正常发货的哦。"),
        C("那我今天下单明天能发吗？"),
        A("可以的，下午四点前下单当天就能发出。"),
        C("那就这样吧，拜拜。"),
    ],
    timing="none",
    faults=[
        fault(
            "chat_no_closing",
            "customer says goodbye last; no closing from the agent",
            ["last"],
            f"{S002} 业务技能 9",
            alt=["last_agent"],
        )
    ],
)
call(
    "f-chat-wait-no-apology",
    "chat",
    [
        C("你好，我的订单2024060911111什么时候发货？"),
        A(CHAT_GREET + "谢谢您提供订单号，不好意思，请您稍等，我帮您查一下。", gap=10.0),
        C("在吗？？", gap=50.0),
        A("已经发货了，是圆通快递，预计后天送到。", gap=5.0, mark="bad"),
        C("好的。", gap=20.0),
        *close_chat(),
    ],
    faults=[
        fault(
            "turn_missing_apology",
            "after the customer waited ('在吗？？') the answer has no apology",
            ["bad"],
            f"{LAB} 3 (first agent turn after a wait owes the apology); {S000} 四.8",
        )
    ],
)
call(
    "f-chat-forbidden-phrase",
    "chat",
    [
        C("我的快递显示签收了，但是我没收到。"),
        A(CHAT_GREET + "请您提供一下订单号，好吗？", gap=10.0),
        C("2024061533333。", gap=20.0),
        A("谢谢您的配合。这个不归我们管，你去问快递吧。", gap=15.0, mark="bad"),
        C("是你们发的货，怎么不归你们管？", gap=20.0),
        A("非常抱歉，我马上帮您联系快递核实，二十四小时内给您答复。", gap=10.0),
        C("好吧。", gap=20.0),
        *close_chat(),
    ],
    faults=[
        fault(
            "forbidden_phrase",
            "'这个不归我们管' (fobbing off) in chat",
            ["bad"],
            f"{LAB} non_compliant; {S002} 一(2) 不得推诿",
        )
    ],
)
call(
    "f-chat-rude-escalation",
    "chat",
    [
        C("这个衣柜的尺寸是多少？"),
        A(CHAT_GREET + "这款衣柜宽一米二，高两米，深六十厘米哦。", gap=8.0),
        C("那它的板材是什么的？", gap=20.0),
        A("商品详情页写得清清楚楚，你自己不会看吗？", gap=10.0, mark="rude"),
        C("你什么态度！我要投诉你！给差评！", gap=15.0, mark="angry"),
        A("非常抱歉，是我的态度不好，请您原谅。这款衣柜用的是E0级颗粒板，环保等级很高。", gap=10.0),
        C("哼。", gap=20.0),
        *close_chat(),
    ],
    passed=False,
    faults=[
        fault(
            "rude_escalation",
            "sarcastic agent reply; the customer turns angry right after",
            ["rude", "angry"],
            f"{S002} 一(1) 严禁态度生硬、教训、不耐烦",
        )
    ],
)
call(
    "f-chat-no-thanks-info",
    "chat",
    [
        C("你好，我想查一下我的退款到哪了。"),
        A(CHAT_GREET + "请您提供一下订单号，好吗？", gap=10.0),
        C("2024060577777。", gap=30.0),
        A("您的退款已经原路退回到支付宝，预计一到三个工作日到账。", gap=15.0, mark="bad"),
        C("好的。", gap=20.0),
        *close_chat(),
    ],
    faults=[
        fault(
            "turn_missing_thanks",
            "customer supplied the order number asked for; no thanks",
            ["bad"],
            f"{LAB} 3 (the next agent turn owes thanks)",
        )
    ],
)
call(
    "f-chat-no-reply-to-thanks",
    "chat",
    [
        C("这款灯泡是多少瓦的？"),
        A(CHAT_GREET + "这款灯泡是九瓦的LED灯泡，亮度相当于六十瓦的白炽灯哦。", gap=8.0),
        C("太好了，你真专业，谢谢你！", gap=20.0),
        A("请问还有其他可以帮您的吗？", gap=8.0, mark="bad"),
        C("没有了。", gap=15.0),
        A("感谢您的光临，祝您生活愉快，再见～", gap=8.0),
    ],
    faults=[
        fault(
            "turn_missing_thanks",
            "customer thanks and praises the agent; no '不客气/这是我们应该做的'",
            ["bad"],
            f"{S000} 四.16 (客服代表必须回应: 不客气); {LAB}",
        )
    ],
)


def main() -> None:
    rows = [build(c) for c in CALLS]
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "duplicate call id"
    with OUT.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    n_clean = sum(1 for r in rows if not r["expect"]["faults"])
    print(f"wrote {len(rows)} calls ({n_clean} clean, {len(rows) - n_clean} with one fault) to {OUT}")


if __name__ == "__main__":
    main()
