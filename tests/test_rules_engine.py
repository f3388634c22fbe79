"""Rules engine, per rule family: forbidden wording, context-required apology/thanks,
negation and question awareness, findings, scores, emotion, overlays, batches."""
from pathlib import Path

import pytest

from sdk.engines.base import CheckInput, Engine
from sdk.engines.rules_engine import RulesEngine
from sdk.labels import COMPLIANCE_LABELS, EMOTION_LABELS
from sdk.rulebook import load_rulebook

FIXTURES = Path(__file__).parent / "fixtures" / "rulebooks"


@pytest.fixture(scope="module")
def engine():
    return RulesEngine()


def _check(engine, utterance, context=None):
    return engine.check_batch([CheckInput(utterance, context)])[0]


# --- forbidden wording, by family: (utterance, context, rule id that must fire) ---
FORBIDDEN = [
    ("喂喂，你那边说话呀", "[无声]", "ban.urge_speak"),
    ("怎么不吭声？", "[无声]", "ban.urge_speak"),
    ("有事快说。", None, "ban.urge_speak"),
    ("再不出声我就挂了", "[无声]", "ban.hangup_threat"),
    ("你再骂我就挂断了", "你们这帮废物", "ban.hangup_threat"),
    ("我挂了啊！", None, "ban.hangup_threat"),
    ("声音大点儿！", "[客户声音很小]", "ban.speak_up_rude"),
    ("你刚才说啥？", None, "ban.repeat_rude"),
    ("你拨错号码了，看清楚再打。", "是李家吗", "ban.wrong_number_rude"),
    ("这个办不了。", "帮我改一下户名", "ban.blunt_refusal"),
    ("没门。", "能便宜点吗", "ban.blunt_refusal"),
    ("不行，这个不能退。", "我想退货", "ban.blunt_refusal"),
    ("这个我也不清楚。", "我家为什么停电了", "ban.dont_know"),
    ("我不晓得。", None, "ban.dont_know"),
    ("这个不归我们部门管。", "路灯坏了", "ban.not_my_business"),
    ("跟我们没关系，你找物业去。", "楼道灯坏了", "ban.not_my_business"),
    ("我才刚上岗，很多不熟悉。", "你怎么这么慢", "ban.excuse"),
    ("上次那个电话又不是我处理的。", "你们上次答应给我回电的", "ban.excuse"),
    ("系统太卡了，我也没辙。", "怎么还没查好", "ban.excuse"),
    ("您改天再打来问吧。", "退款到哪了", "ban.fob_off"),
    ("你自己上网查吧。", "营业厅几点关门", "ban.fob_off"),
    ("您这是无理取闹。", "我不管，今天必须给我修好", "ban.arguing"),
    ("你爱投诉就去投诉吧。", "我要投诉你", "ban.arguing"),
    ("你吼什么吼？", "你们这什么破服务", "ban.arguing"),
    ("跟你说了好几遍了，先交费才能开通。", "为什么还不能用", "ban.lecturing"),
    ("您应该先看说明书的。", "这个怎么装", "ban.lecturing"),
    ("谁让你自己乱点的？", "我点了一下就扣钱了", "ban.blaming"),
    ("这是您自己的问题。", "为什么我收不到验证码", "ban.blaming"),
    ("呵呵，您可真会想。", "能不能免费送我一台", "ban.sarcasm"),
    ("你是不是傻？", None, "ban.insult"),
    ("神经病。", None, "ban.insult"),
    ("行了行了，我知道了。", "我跟你说，上次那个……", "ban.impatient"),
    ("说重点。", "是这样的，我上个月……", "ban.impatient"),
    ("嗯嗯。", "我的快递怎么还没到", "ban.filler_only"),
    ("哦……", "我的快递怎么还没到", "ban.filler_only"),
    ("然后呢？", "我的快递怎么还没到", "ban.filler_only"),
    ("没有。", "帮我看一下退款了吗？", "ban.filler_only"),
    ("预计!", "什么时候能到？", "ban.filler_only"),
    ("亲，这个肿么办呢", None, "ban.slang"),
    ("妥妥的，马上给您弄", None, "ban.slang"),
    ("俺们这边处理不了", None, "ban.dialect"),
    ("你有男朋友吗？", None, "ban.private_chat"),
    ("加个微信吧，下班聊。", None, "ban.private_chat"),
    ("我帮你叫她一下。", "我找你们的小刘，让她接电话", "ban.private_call_handover"),
    ("应该没问题吧。", "这个能用吗", "ban.guessing"),
    ("我猜是线路老化了。", "为什么老跳闸", "ban.guessing"),
    ("他的电话是13912345678。", "把我邻居的电话告诉我", "ban.disclosure"),
    ("我叫王丽丽。", "你叫什么名字", "ban.disclose_own_name"),
    ("你自己打给维修部吧。", "把你们维修部电话给我", "ban.transfer_rude"),
    ("高峰期都这样，很正常的。", "怎么这么难打通", "ban.dismissive"),
]


@pytest.mark.parametrize("utterance, context, rule_id", FORBIDDEN)
def test_forbidden_families(engine, utterance, context, rule_id):
    result = _check(engine, utterance, context)
    assert result.label == "non_compliant", result
    found = {f.rule_id: f for f in result.findings}
    assert rule_id in found, [f.rule_id for f in result.findings]
    f = found[rule_id]
    assert utterance[f.start:f.end] == f.text and f.text
    assert f.source == "rules" and f.message and f.severity in ("low", "medium", "high")


# --- context makes an element required: (utterance, context, label, rule id) ---
REQUIRED = [
    ("好的，帮您查到了。", "[通话保持中，客户等待了80秒]", "missing_apology", "req.apology.hold_return"),
    ("谢谢您的耐心等待，已经查到了。", "[客户已等待约2分钟] 喂？还有人吗？", "missing_apology", "req.apology.hold_return"),
    ("请问您要办理什么业务？", "[线路忙，客户重拨了三次]", "missing_apology", "req.apology.busy_line"),
    ("我马上给您处理。", "你们办事效率太低了", "missing_apology", "req.apology.slow"),
    ("请您说一下具体情况。", "你这什么态度？", "missing_apology", "req.apology.attitude"),
    ("我重新给您核对一下。", "你们把我的地址写错了", "missing_apology", "req.apology.error"),
    ("请问有什么可以帮您？", "你说什么？听不清楚", "missing_apology", "req.apology.customer_cannot_hear"),
    ("系统正在维护，请您半小时后再试。", None, "missing_apology", "req.apology.equipment"),
    ("请您稍等一下，好吗？", "帮我查下余额", "missing_apology", "req.apology.hold_request"),
    ("麻烦您再说一遍您的户号。", None, "missing_apology", "req.apology.ask_repeat"),
    ("请您拿近一点话筒，好吗？", "[客户使用免提]", "missing_apology", "req.apology.speak_up"),
    ("按规定我们不能为您办理。", "帮我把别人的卡挂失", "missing_apology", "req.apology.cannot_meet"),
    ("目前无法答复您，我们核实后给您回电。", "为什么我的账单多了20块", "missing_apology", "req.apology.cannot_answer_now"),
    ("请您多多包涵。", None, "missing_apology", "req.apology.ask_forgiveness"),
    ("好的，收到。", "我建议你们增加夜间客服", "missing_thanks", "req.thanks.suggestion"),
    ("好的，这就帮您办理。", "我的身份证号是110101199001011234", "missing_thanks", "req.thanks.info_supplied"),
    ("好，那先这样。", "没有别的问题了", "missing_thanks", "req.thanks.closing"),
    ("好的，再见。", None, "missing_thanks", "req.thanks.goodbye"),
    ("嗯，好的，那我们继续。", "太谢谢你了，服务真好", "missing_thanks", "req.thanks.customer_thanks"),
    ("好的，我们继续。", "对不起，我刚才说错了", "missing_thanks", "req.courtesy.customer_apologises"),
]


@pytest.mark.parametrize("utterance, context, label, rule_id", REQUIRED)
def test_required_families(engine, utterance, context, label, rule_id):
    result = _check(engine, utterance, context)
    assert result.label == label, result
    missing = [f for f in result.findings if f.rule_id == rule_id]
    assert missing and missing[0].start is None and missing[0].end is None and missing[0].text is None
    assert missing[0].suggestion


# --- the same situations handled well ---
GOOD = [
    ("对不起，让您久等了，帮您查到了。", "[通话保持中，客户等待了80秒]"),
    ("抱歉让您久等，请问您要办理什么业务？", "[线路忙，客户重拨了三次]"),
    ("不好意思，给您添麻烦了，我马上给您处理。", "你们办事效率太低了"),
    ("非常抱歉，我重新给您核对一下。", "你们把我的地址写错了"),
    ("对不起，请您稍等一下，好吗？", "帮我查下余额"),
    ("很抱歉，按规定我们不能为您办理，需要机主本人到营业厅。", "帮我把别人的卡挂失"),
    ("谢谢您的建议，我们会反馈给相关部门。", "我建议你们增加夜间客服"),
    ("谢谢您的配合，这就帮您办理。", "我的身份证号是110101199001011234"),
    ("感谢您的来电，再见！", "没有别的问题了"),
    ("不客气，这是我们应该做的。", "太谢谢你了，服务真好"),
    ("没关系，您请继续说。", "对不起，我刚才说错了"),
    ("您好，请问有什么可以帮您？", None),
    ("好的，我帮您看一下。", "我想查一下我的话费"),
]


@pytest.mark.parametrize("utterance, context", GOOD)
def test_good_replies_are_standard(engine, utterance, context):
    result = _check(engine, utterance, context)
    assert result.label == "standard", result


# --- negation / question / condition awareness ---
NOT_FORBIDDEN = [
    ("您不知道户号也没关系，提供地址也可以。", None),
    ("如果不清楚的话，可以看一下电费单。", None),
    ("您要是不方便的话，我们可以上门。", None),
    ("请问这样行不行？", None),
    ("不行的话我再帮您换一个方案。", None),
    ("很抱歉，系统故障我们暂时没办法办理，我帮您登记，恢复后第一时间联系您。", None),
    ("对不起，这个问题我不太清楚，我帮您核实后尽快回复您，好吗？", None),
    ("我听得不太清楚，抱歉，麻烦您再说一遍好吗？", None),
    ("请您放心，不会多收您一分钱。", None),
    ("对不起，我挂线了。", "[客户仍未回应]"),
    ("为了账户安全，密码不要告诉任何人。", None),
    ("您可以通过垃圾分类积分兑换。", None),
    ("我去帮您问一下，对不起，请您稍等片刻，好吗？", None),
]


@pytest.mark.parametrize("utterance, context", NOT_FORBIDDEN)
def test_negated_or_conditional_wording_is_not_forbidden(engine, utterance, context):
    result = _check(engine, utterance, context)
    assert result.label != "non_compliant", result.findings


@pytest.mark.parametrize("utterance", ["不用跟我说对不起，快点查。", "不必道歉，我帮您查。", "您别说对不起了，我帮您查。"])
def test_negated_apology_does_not_count(engine, utterance):
    result = _check(engine, utterance, "[客户已等待约2分钟] 还有人吗？")
    assert result.label in ("missing_apology", "non_compliant")
    assert any(f.rule_id == "req.apology.hold_return" for f in result.findings)


def test_priority_non_compliant_beats_missing_apology(engine):
    result = _check(engine, "我也没办法，线路忙。", "[线路忙，客户重拨了三次] 怎么这么难打")
    labels = {f.label for f in result.findings}
    assert {"non_compliant", "missing_apology"} <= labels
    assert result.label == "non_compliant"


def test_priority_missing_apology_beats_missing_thanks(engine):
    result = _check(engine, "好的，我记一下。", "你们把我的地址写错了，是幸福路12号")
    assert {"missing_apology", "missing_thanks"} <= {f.label for f in result.findings}
    assert result.label == "missing_apology"


def test_same_reply_depends_on_context(engine):
    assert _check(engine, "好的，我帮您查一下。").label == "standard"
    assert _check(engine, "好的，我帮您查一下。", "[客户已等待约2分钟] 喂？还有人吗？").label == "missing_apology"


OUTAGE = "东湖小区是因为线路故障停电，抢修人员已经在现场。"


@pytest.mark.parametrize("earlier_agent, label", [
    ("对不起，给您添麻烦了，请您原谅。请问您是哪个小区？", "standard"),   # apologised once: enough (met_earlier)
    ("请问您是哪个小区？", "missing_apology"),                             # never apologised
    ("不用跟我说对不起，请问您是哪个小区？", "missing_apology"),            # a negated apology is none
])
def test_an_apology_earlier_in_the_call_meets_the_outage_rule(engine, earlier_agent, label):
    turns = [{"role": "customer", "text": "又停电了！"}, {"role": "agent", "text": earlier_agent},
             {"role": "customer", "text": "东湖小区。"}]
    r = engine.check_one(OUTAGE, turns)
    assert r.label == label, r.findings
    assert ("req.apology.equipment" in [f.rule_id for f in r.findings]) == (label == "missing_apology")


@pytest.mark.parametrize("utterance, label", [
    ("谢谢您的配合，现在为您转接，感谢您的来电。", "standard"),   # the agreed wait was for this transfer
    ("查到了，您的燃气费已经缴清。", "missing_apology"),           # back from the wait without an apology
])
def test_a_transfer_right_after_consent_is_no_return_from_a_wait(engine, utterance, label):
    turns = [{"role": "agent", "text": "对不起，我需要帮您转接到工程部，请您稍等片刻，好吗？"},
             {"role": "customer", "text": "好的。"}]
    assert engine.check_one(utterance, turns).label == label


def test_scores_are_a_distribution(engine):
    for utterance, context in [("喂，说话呀！", None), ("您好，请问有什么可以帮您？", None),
                               ("好的。", "[客户已等待约2分钟]"), ("好的。", "谢谢你")]:
        r = _check(engine, utterance, context)
        assert set(r.scores) == set(COMPLIANCE_LABELS)
        assert abs(sum(r.scores.values()) - 1) < 1e-9
        assert max(r.scores, key=r.scores.get) == r.label
        assert all(0 < v < 1 for v in r.scores.values())


def test_findings_on_traditional_and_full_width_input(engine):
    utterance = "喂，說話呀！再不說話我就掛了"
    r = _check(engine, utterance, "[無聲]")
    assert r.label == "non_compliant"
    for f in r.findings:
        if f.start is not None:
            assert utterance[f.start:f.end] == f.text


def test_asr_fillers_and_spaces(engine):
    r = _check(engine, "呃 那个 我 也 没 办 法", None)
    assert r.label == "non_compliant"
    f = next(f for f in r.findings if f.rule_id == "ban.excuse")
    assert "呃 那个 我 也 没 办 法"[f.start:f.end] == f.text


def test_engine_interface_and_batches(engine):
    assert isinstance(engine, Engine) and engine.name == "rules"
    items = [CheckInput("您好，请问有什么可以帮您？"), CheckInput("好的", "[客户已等待约2分钟] 喂？"),
             CheckInput("喂，说话呀！", "[无声]")]
    results = engine.check_batch(items)
    assert [r.label for r in results] == ["standard", "missing_apology", "non_compliant"]
    assert all(r.engine == "rules" for r in results)
    assert results[0].emotion is None
    assert results[1].emotion is not None and results[1].emotion.label in EMOTION_LABELS
    assert results[2].emotion is None  # events only, no customer words
    assert results[1].to_dict()["findings"][0]["rule_id"] == "req.apology.hold_return"


EMOTIONS = [
    ("什么破公司！我要投诉你们！", "angry"),
    ("你们这帮骗子，我要找你们领导！", "angry"),
    ("再不给我解决我就打12315", "angry"),
    ("你们这效率也太慢了吧", "dissatisfied"),
    ("每次都说马上，到现在还没弄好", "dissatisfied"),
    ("我急着用，什么时候能好啊", "anxious"),
    ("会不会停电啊，家里有老人", "anxious"),
    ("太好了，谢谢你", "satisfied"),
    ("你们服务真不错，点赞", "satisfied"),
    ("我想查一下这个月的账单", "neutral"),
    ("我的户号是12345678", "neutral"),
    ("我对这个处理结果不满意", "dissatisfied"),
]


@pytest.mark.parametrize("text, label", EMOTIONS)
def test_emotion_cues(engine, text, label):
    r = engine.emotion_batch([text])[0]
    assert r.label == label, r
    assert set(r.scores) == set(EMOTION_LABELS) and abs(sum(r.scores.values()) - 1) < 1e-6
    assert r.engine == "rules"
    for cue in r.cues:
        assert text[cue.start:cue.end] == cue.text


def test_emotion_results_are_independent_objects(engine):
    a, b = engine.emotion_batch(["太好了", "太好了"])
    a.warnings.append("x")
    assert b.warnings == [] and a is not b


def test_custom_rulebook_overlay():
    engine = RulesEngine(load_rulebook([FIXTURES / "overlay_company.yaml"]))
    assert _check(engine, "这个我们没辙。").label == "non_compliant"
    r = _check(engine, "这个整不了。")
    assert r.label == "non_compliant" and r.findings[0].severity == "high"
    # slang rule disabled by the overlay
    assert _check(engine, "妥妥的，马上给您弄").label == "standard"
    assert _check(RulesEngine(), "妥妥的，马上给您弄").label == "non_compliant"
    # extra required closing phrase
    assert _check(engine, "感谢您的来电，再见！", "没有了").label == "missing_thanks"
    assert _check(engine, "感谢您的来电，祝您用电愉快，再见！", "没有了").label == "standard"
    # overlay apology words count as an apology
    assert _check(engine, "万分抱歉哈，帮您查到了。", "[客户等待了2分钟]").label == "standard"
    # company name in the greeting: advisory finding, label unchanged
    r = _check(engine, "您好，请问有什么可以帮您？", "[来电接通]")
    assert r.label == "standard" and any(f.rule_id == "greeting.company_name" for f in r.findings)
    assert "星河电力" in next(f.suggestion for f in r.findings if f.rule_id == "greeting.company_name")
    r = _check(engine, "您好，星河电力，请问有什么可以帮您？", "[来电接通]")
    assert not any(f.rule_id == "greeting.company_name" for f in r.findings)


def test_engine_accepts_overlay_paths():
    engine = RulesEngine([str(FIXTURES / "overlay_company.yaml")])
    assert engine.rulebook.company_name == "星河电力"
    with pytest.raises(TypeError):
        RulesEngine(rulebook=42)


def test_advisory_findings_do_not_change_the_label(engine):
    r = _check(engine, "请稍等。")
    assert r.label == "missing_apology"
    advisory = [f for f in r.findings if f.rule_id == "adv.hold_consent"]
    assert advisory and advisory[0].label == "standard"  # explains, never decides
    r = _check(engine, "好的，王先生。", "[外呼]")
    assert r.label == "standard" and any(f.rule_id == "adv.outbound_intro" for f in r.findings)


# --- ordinary customer words must not trigger apology/thanks requirements ---
NEUTRAL_CONTEXTS = [
    "我想问一下到底怎么办理", "我身体不太好，能上门办理吗", "我2023年办的宽带", "不满一年能退吗",
    "我是不是应该改密码？", "我觉得这个套餐可以", "垃圾分类的积分怎么查", "疼得厉害，能挂急诊吗",
    "请问营业厅几点关门？", "我想查一下这个月的话费", "有没有便宜一点的套餐？", "我看了一下App，可以用吗？",
]


@pytest.mark.parametrize("context", NEUTRAL_CONTEXTS)
def test_neutral_contexts_require_nothing(engine, context):
    result = _check(engine, "好的，我帮您查一下。", context)
    assert result.label == "standard", (engine.context_cues(context), result.findings)


# --- real-chat conventions (data/README, "Conventions for labelling turns in real chat") ---
def test_volunteered_data_in_a_conversation_owes_no_thanks(engine):
    # a product link or a number nobody asked for: no thanks owed (LABELS.md section 3)
    turns = [{"role": "agent", "text": "您好，请问有什么可以帮您？"},
             {"role": "customer", "text": "这个有货吗 http://item.jd.com/5256489."}]
    assert _check(engine, "有货的呢，您可以直接下单哦", turns).label == "standard"
    # the data the agent asked for still owes thanks
    asked = [{"role": "agent", "text": "麻烦您提供一下订单号"}, {"role": "customer", "text": "[订单x]"}]
    assert _check(engine, "好的，这边为您查询", asked).label == "missing_thanks"
    # a string context has no turns: the customer's words are all there is
    assert _check(engine, "好的，这边为您查询", "订单号是123456789").label == "missing_thanks"


def test_chat_register_and_chat_courtesy(engine):
    assert _check(engine, "亲亲，您的订单已经发货了哦").label == "standard"  # 亲亲 is chat register, not slang
    assert _check(engine, "好哒，马上给您处理").label == "standard"  # so is 哒 (data/README: 亲爱哒)
    assert _check(engine, "您太客气了，请问还有其他可以帮您的吗", "好的，谢谢").label == "standard"
    # "辛苦您 + verb" asks; it does not thank
    assert _check(engine, "还辛苦您给小妹打个评价哦", "没有了，谢谢").label == "missing_thanks"


def test_refusal_inside_a_full_answer_owes_an_apology(engine):
    assert _check(engine, "不可以", "可以改地址吗").label == "non_compliant"
    long = "这个订单已经出库了，系统里的地址现在是没办法再修改的呢"
    assert _check(engine, long, "可以改地址吗").label == "missing_apology"


def test_dissatisfied_customer_turn_in_a_conversation_owes_an_apology(engine):
    turns = [{"role": "agent", "text": "好的呢"}, {"role": "customer", "text": "你们这套路也太深了"}]
    assert _check(engine, "这个是活动规则哦", turns).label == "missing_apology"
    assert _check(engine, "很抱歉，这个是活动规则哦", turns).label == "standard"


def test_emoji_only_reply_to_a_question_is_filler(engine):
    question = [{"role": "agent", "text": "您好"}, {"role": "customer", "text": "什么时候能到啊？"}]
    for reply in ("😊", "[微笑]", "#E-s[数字]", "O(∩_∩)O~"):
        assert _check(engine, reply, question).label == "non_compliant", reply
    assert _check(engine, "[订单x]", question).label == "standard"  # a data placeholder is content
    assert _check(engine, "预计明天到哦😊", question).label == "standard"  # emoji beside words is fine


# --- real chat, batch 3: nudges and pointed complaints are dissatisfied; "等不了" is time pressure ---
REAL_CHAT_EMOTIONS = [
    ("人呢?", "dissatisfied"),
    ("我的订单取消了怎么没有退款呢", "dissatisfied"),
    ("你们少发东西了", "dissatisfied"),
    ("那么久", "dissatisfied"),
    ("为啥不能开专票", "dissatisfied"),
    ("那买来有什么用", "dissatisfied"),
    ("明天不到我就等不了了", "anxious"),
    ("今天能到不", "anxious"),
    ("拒收对于退款没有影响吧?", "anxious"),
    ("你帮我备注好 别出问题哈", "anxious"),
    ("好的，谢谢", "satisfied"),
    ("请问这个有货吗", "neutral"),
    ("好的。麻烦你了", "satisfied"),
    ("嗯行 谢了", "satisfied"),
    ("没有啦，辛苦", "satisfied"),
    ("噢好的那就好", "satisfied"),
    ("配件都来了，没人来修", "dissatisfied"),
    ("早知道我就不买了", "dissatisfied"),
    ("商家电话也打了，他们也不回复", "dissatisfied"),
    ("对于积分使用表示非常愤怒", "angry"),
    ("大早上的你就欠骂", "angry"),
    ("哦!那能不能帮忙催一下呢", "neutral"),
    ("不好意思，给你添麻烦了，我想退货", "neutral"),  # the customer's apology is no satisfaction
    ("没有 谢谢", "satisfied"),  # "没有" answers "还有其他问题吗", it does not negate the thanks
    ("唉你好，我想问一下那个流量包", "neutral"),
    ("发票信息错了", "neutral"),  # a calm factual problem report (data/README batch-3 conventions)
    ("反正我用的不多", "neutral"),
    ("下了三个单，只收到一件东西", "dissatisfied"),
    ("这个订单还能改发票吗", "neutral"),  # a plain procedural question is not worry
    ("订单完成后还能申请退款吗", "neutral"),
    ("什么时候能发货呀", "neutral"),
    ("我这个月的补贴还能不能领到", "anxious"),
    ("牛奶放了一晚上还能喝吗", "anxious"),  # doubt about safety is worry about a bad outcome
    ("周五能寄出吗 我下周要出差", "anxious"),  # a departure the delivery must beat is time pressure
    ("明天几点送 我中午就回老家了", "anxious"),
    ("我赶着用，帮忙看看", "anxious"),
    ("退个款要这么久", "dissatisfied"),  # a wait called long
    ("这个会员白买了", "dissatisfied"),  # a purchase regretted
    ("优惠券给我也没用", "dissatisfied"),
    ("试了一下没用", "neutral"),  # a calm report that a fix did not work
    ("这个多久能到账", "neutral"),
    ("退货后多久能退回来呢", "neutral"),
    ("还差一个大灯没收到", "neutral"),
    ("不会吧?刚才还说有货的", "dissatisfied"),  # doubting what was said is push-back, not worry
    ("昨天我白跑了一趟自提点", "dissatisfied"),
    ("不好意思让快递小哥白跑一趟了", "neutral"),  # sparing the courier a wasted trip is no complaint
    ("我刚买完就降价了", "dissatisfied"),
    ("都三天了", "dissatisfied"),
    ("快递员电话也没打一个", "dissatisfied"),
    ("说好今天送，东西没到", "dissatisfied"),
    ("怎么不给我发短信", "dissatisfied"),
    ("你们没有一点专业", "dissatisfied"),  # a negated praise word, with "一点/够/那么" between
    ("客服不够耐心", "dissatisfied"),
    ("你们很专业", "satisfied"),
    ("我的订单莫名其妙退款", "dissatisfied"),  # something done to the customer without cause
    ("为什么无缘无故取消订单", "dissatisfied"),
    ("不到一个月就坏了，这种我可忍受不了", "dissatisfied"),  # a limit of patience
    ("好吧，价位有点伤心", "dissatisfied"),  # a let-down
    ("不敢相信你们网站了", "dissatisfied"),  # distrust
    ("你们什么意思", "dissatisfied"),  # push-back; a plain "什么意思" asks
    ("哎 那就再等等吧", "dissatisfied"),  # batch 5-7: a sigh
    ("。。。 不确定什么时候有货是吧", "dissatisfied"),  # a trailing-off
    ("好 没人配送", "dissatisfied"),  # a service nobody delivers
    ("我在秒杀时买到，压根没有发货给我", "dissatisfied"),
    ("快递返回站点再投是什么意思", "neutral"),
    ("希望您尽早联系我", "anxious"),  # urging speed
    ("好的 麻烦亲帮忙加快一些哦", "anxious"),
    ("快帮忙啊", "anxious"),
    ("我只用支付宝 .... 完蛋", "anxious"),  # fearing the worst
    ("那我可能药丸", "anxious"),
    ("看短信才知道是客服，这要紧嘛", "anxious"),
    ("我这个有质量问题", "dissatisfied"),
    ("质量问题指哪方面呢", "neutral"),  # a category named, not a fault reported
    ("如果是质量问题的话运费谁出", "neutral"),
    # a request signed off with thanks only asks politely (emotion.polite_request); thanks for what was done count
    ("麻烦帮我查一下，谢谢", "neutral"),
    ("帮我转[数字x]号客服 谢谢", "neutral"),
    ("麻烦您帮忙确认一下多谢", "neutral"),
    ("车修好了，还帮我洗了车，谢谢。", "satisfied"),
    ("好的，谢谢", "satisfied"),
    ("这个套餐挺划算的，就它了", "satisfied"),  # a price called a good deal
    ("是今天买划算还是明天买划算", "neutral"),
]


@pytest.mark.parametrize("text, label", REAL_CHAT_EMOTIONS)
def test_real_chat_emotion_cues(engine, text, label):
    assert engine.emotion_batch([text])[0].label == label


# --- real chat, batch 3: a choice the agent asked for owes thanks; the stock opening offer greets ---
CHOICE_TURNS = [
    ("您是什么支付的呢", "微信", "missing_thanks"),
    ("您是选择上门取件还是客户发货呢", "上门取件", "missing_thanks"),
    ("税号需要填写吗", "[数字x]MA[数字x]", "missing_thanks"),
    ("您现在号码给我哦", "[数字]", "missing_thanks"),
    ("税号哦", "[数字]MA[数字]DCQPH[数字]N", "missing_thanks"),
    ("您是什么支付的呢", "我还没付款", "standard"),  # no choice given
    # the item named first, the ask after it
    ("您把正确地址完整告诉小妹下呢", "广东[地址]", "missing_thanks"),
    ("好的 绑定的验证码已发，请您收到告知一下", "[数字]", "missing_thanks"),
    ("您把邮箱发下哦", "[邮箱]", "missing_thanks"),
    ("地址是会自动更新的哦", "广东[地址]", "standard"),  # nothing asked for
]


@pytest.mark.parametrize("agent, customer, label", CHOICE_TURNS)
def test_choice_or_data_asked_for_owes_thanks(engine, agent, customer, label):
    turns = [{"role": "agent", "text": agent}, {"role": "customer", "text": customer}]
    assert _check(engine, "好的，这边为您处理", turns).label == label


OPENING_OFFERS = [
    ("有什么问题我可以帮您处理或解决呢?", "人呢?", "standard"),
    ("您好，请问亲爱的有什么可以为您效劳的呢?", "为啥自动扣费", "standard"),
    ("亲爱的，有什么可以帮您的吗", "收到的东西坏了", "standard"),
    ("这个是活动规则哦", "为啥自动扣费", "missing_apology"),  # an answer, not the stock offer
]


@pytest.mark.parametrize("reply, opening, label", OPENING_OFFERS)
def test_stock_opening_offer_greets(engine, reply, opening, label):
    assert _check(engine, reply, [{"role": "customer", "text": opening}]).label == label
    # after an earlier agent turn the same offer answers the complaint
    if label == "standard" and opening != "人呢?":
        turns = [{"role": "agent", "text": "您好"}, {"role": "customer", "text": opening}]
        assert _check(engine, reply, turns).label == "missing_apology"


# --- real chat, batch 3: a turn that asks to wait and also answers closes the wait ---
WAIT_TURNS = [
    ("还请您稍等，正在为您查询~", "missing_apology"),  # a bare hold: the next turn owes the apology
    ("稍等下哈", "missing_apology"),
    ("小妹马上为您查看一下哦，请您稍等", "missing_apology"),
    ("稍等下哈 您好 妹子看了下 您的专票已经为您邮寄了哈 请您耐心等待下呢", "standard"),
    ("还请您稍等，正在为您查询~ 您的订单预计明天到达的，还请您耐心等待下的", "standard"),
]


@pytest.mark.parametrize("agent, label", WAIT_TURNS)
def test_wait_request_that_also_answers_closes_the_wait(engine, agent, label):
    turns = [{"role": "agent", "text": agent}, {"role": "customer", "text": "好的"}]
    assert _check(engine, "请问还有其他可以帮您的吗", turns).label == label


# --- real chat: the customer's own slip is no company error and no complaint ---
OWN_SLIPS = [
    ("这个单颜色选错了 换颜色", "standard"),
    ("发票信息填错了，直接发给你", "standard"),
    ("你们发错货了", "missing_apology"),  # the company's error still owes the apology
    ("发票开错了", "missing_apology"),
    ("我想把发票的抬头改成公司", "standard"),  # a change request, not an error
    ("发票点成个人了，我要改成公司", "standard"),
    ("发票开成了个人", "missing_apology"),
]


@pytest.mark.parametrize("customer, label", OWN_SLIPS)
def test_customers_own_slip_is_no_company_error(engine, customer, label):
    turns = [{"role": "agent", "text": "您好"}, {"role": "customer", "text": customer}]
    assert _check(engine, "好的，这边为您修改", turns).label == label
    if label == "standard":
        assert engine.emotion_batch([customer])[0].label == "neutral"


# --- real chat: a filler answering a mere acknowledgement is fine; to a question it is filler-only ---
FILLER_REPLIES = [
    ("好的", "嗯嗯", "standard"),
    ("哦!好的", "嗯嗯", "standard"),
    ("好吧", "嗯", "standard"),
    ("什么时候能到?", "嗯嗯", "non_compliant"),
    ("可以改地址吗", "嗯", "non_compliant"),
    # an address or particle alone ("亲亲", "嗯呢") answers nothing either; after an acknowledgement it is fine
    ("今天能送到吗", "亲亲", "non_compliant"),
    ("退货要填单号吗", "嗯呢", "non_compliant"),
    ("我已经申请退款了", "亲", "non_compliant"),
    ("好的", "嗯嗯亲", "standard"),
    ("ok好的", "嗯呢", "standard"),
]


@pytest.mark.parametrize("customer, reply, label", FILLER_REPLIES)
def test_filler_after_an_acknowledgement(engine, customer, reply, label):
    turns = [{"role": "agent", "text": "预计明天送达哦"}, {"role": "customer", "text": customer}]
    assert _check(engine, reply, turns).label == label


def test_unless_cues_switch_a_rule_off_and_are_validated(tmp_path):
    book = load_rulebook()
    rule = next(r for r in book.rules if r.id == "ban.filler_only")
    assert rule.unless_cues == ("customer_ack",)
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - id: ban.filler_only\n    unless_cues: [no_such_cue]\n", encoding="utf-8")
    with pytest.raises(Exception, match="unless_cues"):
        load_rulebook([bad])


# --- a refusal with a short reason owes an apology; a brush-off stays non_compliant at any length ---
SHORT_REFUSALS = [
    ("不可以的", "non_compliant"),
    ("不行", "non_compliant"),
    ("亲这个订单生成 没有办法修改地址的哦", "missing_apology"),
    ("不可以的哈 是您的收货地址哈", "missing_apology"),
    ("厂家不发货，我们也没办法，你找厂家去说。", "non_compliant"),
    ("那是司法冻结，我们也没办法，您找法院吧。", "non_compliant"),
]


@pytest.mark.parametrize("reply, label", SHORT_REFUSALS)
def test_short_reasoned_refusal_vs_brush_off(engine, reply, label):
    turns = [{"role": "agent", "text": "您好"}, {"role": "customer", "text": "可以帮我改一下地址吗"}]
    assert _check(engine, reply, turns).label == label


# --- real chat: blaming, arguing, excuses and lecturing in chat wording are non_compliant ---
CHAT_FAULTS = [
    ("亲爱的，不是您取消寄件的吗", "ban.blaming"),
    ("怎么会呢 这边查询您的商品是纯外单", "ban.arguing"),
    ("具体时间我们也无法估计", "ban.excuse"),
    ("小妹也办不到呢", "ban.excuse"),  # chat wording of "我也没办法"
    ("目前还没有进入站点，小妹这边也很无奈", "ban.excuse"),
    ("建议下次着急的话可以购买咱们自营商品快些呢", "ban.lecturing"),
    ("不是说了退回来不发吗", "ban.lecturing"),
]


@pytest.mark.parametrize("reply, rule_id", CHAT_FAULTS)
def test_chat_wording_of_forbidden_families(engine, reply, rule_id):
    turns = [{"role": "agent", "text": "您好"}, {"role": "customer", "text": "怎么回事"}]
    r = _check(engine, reply, turns)
    assert r.label == "non_compliant" and any(f.rule_id == rule_id for f in r.findings), r.findings


# --- real chat: thanks followed by a further question still owes the courtesy reply ---
THANKS_THEN_ASKS = [
    ("谢谢你! 我需要做什么呢?", "已经给您提交了，您在我的订单里查看进度哦", "missing_thanks"),
    ("谢谢你! 我需要做什么呢?", "不客气，已经给您提交了，您在我的订单里查看进度哦", "standard"),
    ("购买后降价了,能返还差价吗?谢谢.", "可以的，这边帮您申请", "standard"),  # a polite ask, not thanks
    ("麻烦你帮我申请一下退款 谢谢", "好的，这边为您申请", "standard"),  # a request signed off with thanks
    ("帮我转人工客服，谢谢", "好的，这边为您转接", "standard"),
    ("好的，那就帮我换开吧，谢谢你们哦", "好的，这边为您换开", "missing_thanks"),  # sincere thanks to the team
    ("是你们帮我申请了吧，谢谢!", "是的，已经申请了", "missing_thanks"),  # thanks for what was done
]


@pytest.mark.parametrize("customer, reply, label", THANKS_THEN_ASKS)
def test_thanks_then_a_question_owes_courtesy(engine, customer, reply, label):
    turns = [{"role": "agent", "text": "好的呢"}, {"role": "customer", "text": customer}]
    assert _check(engine, reply, turns).label == label


def test_customer_apology_in_chat_owes_no_forgive_reply(engine):
    # chat: "不好意思" is politeness around a request or a correction (real-chat labels)
    turns = [{"role": "agent", "text": "您好"}, {"role": "customer", "text": "不好意思!是收到了两本"}]
    assert _check(engine, "好的亲", turns).label == "standard"
    # a written (string) context keeps the phone convention: answer an apology with "没关系"
    assert _check(engine, "好的，请问还有什么可以帮您？", "对不起，刚才是我说错了").label == "missing_thanks"
    # so does a call transcript (timed turns)
    timed = [{"role": "agent", "text": "您好", "start": 0.0, "end": 1.0},
             {"role": "customer", "text": "对不起，刚才是我说错了", "start": 1.5, "end": 3.0}]
    assert _check(engine, "好的，请问还有什么可以帮您？", timed).label == "missing_thanks"


def test_opening_or_reopening_nudge_is_a_greeting(engine):
    # "有人吗" as the opening line, or "还在吗" after the agent closed the chat, greets (data/README conventions)
    assert _check(engine, "您好，请问我这边有什么可以帮助您的吗?", [{"role": "customer", "text": "有人吗"}]).label == "standard"
    closed = [{"role": "agent", "text": "感谢您对京东的支持，祝您生活愉快，再见!"}, {"role": "customer", "text": "还在吗"}]
    assert _check(engine, "在的", closed).label == "standard"
    mid = [{"role": "agent", "text": "预计明天送达哦"}, {"role": "customer", "text": "还在吗"}]
    assert _check(engine, "在的", mid).label == "missing_apology"


# --- real chat: a product that fails in use or a lost parcel is the company's fault; a question is not ---
PRODUCT_FAULTS = [
    ("这个毛巾一擦全是毛，也不吸水", "亲拍个照片我看下", "missing_apology"),
    ("手机最近很费电", "您可以先清理一下后台应用", "missing_apology"),
    ("我的包裹丢失了，一直没收到", "这边帮您核实一下", "missing_apology"),
    ("这个全棉的会掉毛吗", "不会的呢", "standard"),
    ("我这个有质量问题，我要换货", "您看下是哪里有问题呢", "missing_apology"),
    # "质量问题" named as a category (a reason, a hypothesis, a definition) reports no fault
    ("我担心你们以没有质量问题为由再给我退回来", "不需要的哦 商品已经取走了", "standard"),
    ("质量问题指哪方面呢", "出现商品故障的话可以申请售后哦", "standard"),
    ("那如果是质量问题，运费谁出?", "是商家承担的哦", "standard"),
]


@pytest.mark.parametrize("customer, reply, label", PRODUCT_FAULTS)
def test_product_fault_report_owes_an_apology(engine, customer, reply, label):
    turns = [{"role": "agent", "text": "您好"}, {"role": "customer", "text": customer}]
    assert _check(engine, reply, turns).label == label


# --- real chat: "好的 / 妹子等您哦" holds the floor; the request in the agent turn before it still stands ---
HELD_REQUESTS = [
    ("好的", "税号:[数字x]", "好的，这边帮您修改发票", "missing_thanks"),
    ("妹子等您哦", "[电话x]", "已为您登记，专员会联系您", "missing_thanks"),
    ("好的", "税号:[数字x]", "好的，谢谢您，这边帮您修改发票", "standard"),
    ("这边帮您修改发票哦", "税号:[数字x]", "好的，已经提交了", "standard"),  # the last turn asked nothing
]


@pytest.mark.parametrize("hold, customer, reply, label", HELD_REQUESTS)
def test_request_before_a_holding_ack_still_owes_thanks(engine, hold, customer, reply, label):
    turns = [{"role": "agent", "text": "麻烦您提供一下抬头和税号"}, {"role": "customer", "text": "抬头是[组织机构x]"},
             {"role": "agent", "text": hold}, {"role": "customer", "text": customer}]
    assert _check(engine, reply, turns).label == label


# --- real chat: "正在为您查询 / 帮您查看下" puts the customer on hold and owes an apology ---
CHAT_HOLDS = [
    ("正在为您查询，请您耐心等待一下哈", "missing_apology"),
    ("好的，小妹给您查询下哈", "missing_apology"),
    ("帮您看下哈，亲明天不可以呢", "missing_apology"),  # holds and answers: judged as the wait request
    ("不好意思，正在为您查询中~", "standard"),
    ("麻烦您提供一下订单号，帮您查询下", "standard"),  # asks for data first: no wait yet
    ("好的，我帮您看一下充值记录。", "standard"),  # announces a check of a named record (phone style)
    ("需要我帮您查一下吗？", "standard"),  # an offer
    ("嗯 查询下哈", "missing_apology"),  # the bare hold, no "帮您"
    ("我帮您看下", "missing_apology"),  # batch 5-7: announced actions are holds
    ("好的，帮您计算一下哦", "missing_apology"),
    ("这边帮您联系下配送员", "missing_apology"),
    ("我这边联系站点询问下哈", "missing_apology"),
    ("帮您看下了 已帮您修改好了", "standard"),  # the same turn gives the result
]


@pytest.mark.parametrize("reply, label", CHAT_HOLDS)
def test_chat_hold_phrases_owe_an_apology(engine, reply, label):
    turns = [{"role": "agent", "text": "您好"}, {"role": "customer", "text": "我的订单什么时候发货"}]
    assert _check(engine, reply, turns).label == label


# --- real chat: a request answered by a bare refusal and a particle is non_compliant ---
CHAT_BARE_REFUSALS = [
    ("可以帮我改成明天送吗", "明天不行呢", "non_compliant"),
    ("能恢复订单吗", "无法恢复的呢", "non_compliant"),
    ("有别的渠道吗", "亲亲，不支持的哦", "non_compliant"),
    ("能恢复订单吗", "很抱歉，订单取消后无法恢复的呢，您可以重新下单", "standard"),
    ("可以改成明天送吗", "不行呢，只能后天送哦", "missing_apology"),  # a reason: owes an apology only
    ("这款是防水的吧", "不是的呢", "standard"),  # a factual question, not a request
    ("可以帮我备注一下吗", "这边是不可以帮您备注的呢", "non_compliant"),  # batch 5-7: softened, still bare
    ("能改一下地址吗", "亲，这个是不能修改的哦", "non_compliant"),
]


# --- real chat: "不用了" closes the chat only as the whole turn ---
NOT_NEEDED = [
    ("不用了", "好的呢，祝您生活愉快", "missing_thanks"),
    ("那不用了，谢谢", "好的呢", "missing_thanks"),
    ("那个号码已经不用了，现在用新号码", "请您提供一下新号码哦", "standard"),
    ("不用了!我申请退货", "好的，这边帮您提交申请", "standard"),
]


@pytest.mark.parametrize("customer, reply, label", NOT_NEEDED)
def test_not_needed_closes_only_as_whole_turn(engine, customer, reply, label):
    turns = [{"role": "agent", "text": "需要帮您改地址吗"}, {"role": "customer", "text": customer}]
    assert _check(engine, reply, turns).label == label


# --- real chat: "…可以吗 / 可以用? / 能开成[数字x]吗" ask whether something can be done; a refusal owes an apology ---
CAN_IT_BE_DONE = [
    ("用电信的卡可以吗", "不支持电信卡哦，需要移动卡", "missing_apology"),
    ("移动副卡可以用?", "不支持副卡哦 需要原卡哦", "missing_apology"),
    ("发票能开成[数字x]吗", "不可以哦 发票是根据实际支付金额开票的哦", "missing_apology"),
    ("今天下午可以吗?", "很抱歉，今天到不了站点哦", "standard"),
    ("用电信的卡可以吗", "可以的哦", "standard"),
    # "只能…" leaves the customer only a lesser option: the need cannot be met as asked, even without a request cue
    ("是到村吗", "一般只能到达镇上哦", "missing_apology"),
    ("我要是要那货了咋办?", "这个您只能重新下单呢", "missing_apology"),
    ("是到村吗", "很抱歉，一般只能到达镇上哦", "standard"),
    # an answer without a guarantee cannot meet the need either (batch-4 convention)
    ("明天是指定不能送到，对不对?", "这个不能保证呢", "missing_apology"),
    ("帮我预约[数字]号下午[数字]点送", "这个不能确定具体时间呢", "missing_apology"),
    ("他不是七天内降价的嘛", "这个无法确定呢", "missing_apology"),
    ("明天是指定不能送到，对不对?", "抱歉，这个不能保证呢", "standard"),
]


@pytest.mark.parametrize("customer, reply, label", CHAT_BARE_REFUSALS + CAN_IT_BE_DONE)
def test_chat_refusals_of_requests(engine, customer, reply, label):
    turns = [{"role": "agent", "text": "您好"}, {"role": "customer", "text": customer}]
    assert _check(engine, reply, turns).label == label


def test_sparing_the_courier_a_wasted_trip_is_no_complaint(engine):
    turns = [{"role": "agent", "text": "您好"}, {"role": "customer", "text": "今天没人，怕快递小哥白跑一趟"}]
    assert _check(engine, "可以和配送员协商您方便的时间哦", turns).label == "standard"
    turns = [{"role": "agent", "text": "您好"}, {"role": "customer", "text": "自提点关门了，我白跑了一趟"}]
    assert _check(engine, "可以和配送员协商您方便的时间哦", turns).label == "missing_apology"


# --- a Weibo emoji name "[呵呵]" is not the sneer "呵呵" ---
SNEER_OR_EMOJI = [
    ("您好,请提供业务归属地以便为您核实[呵呵]！", False),
    ("呵呵，您自己看吧", True),
]


@pytest.mark.parametrize("reply, sneers", SNEER_OR_EMOJI)
def test_weibo_emoji_name_is_no_sneer(engine, reply, sneers):
    turns = [{"role": "agent", "text": "您好"}, {"role": "customer", "text": "宽带账号怎么查"}]
    r = _check(engine, reply, turns)
    assert any(f.rule_id == "ban.sarcasm" for f in r.findings) == sneers, r.findings


# --- real chat: a rating request closes the chat; without thanks it is missing_thanks ---
RATING_REQUESTS = [
    ("还辛苦您给小妹打个评价呢~点击表情栏旁边的“+”哦。", "missing_thanks"),
    ("麻烦您给妹子的服务做个评价可以嘛", "missing_thanks"),
    ("感谢您的支持，还辛苦您给小妹打个评价呢~", "standard"),
]


@pytest.mark.parametrize("reply, label", RATING_REQUESTS)
def test_rating_request_owes_thanks(engine, reply, label):
    turns = [{"role": "agent", "text": "已经为您提交了哦"}, {"role": "customer", "text": "好的"}]
    assert _check(engine, reply, turns).label == label


# --- "给您造成不便了" apologises like "给您带来不便了" (LABELS apology equivalents) ---
def test_caused_inconvenience_is_an_apology(engine):
    turns = [{"role": "agent", "text": "您好"}, {"role": "customer", "text": "能不能补发呢"}]
    assert _check(engine, "全球购不支持补发的哦，给您造成不便了，您看可以申请退款吗", turns).label == "standard"
    assert _check(engine, "全球购不支持补发的哦，您看可以申请退款吗", turns).label == "missing_apology"
