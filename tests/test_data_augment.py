"""Augmentation is label-safe and only touches train groups."""
import random
import re

from training import augment, split


def _rec(i, utt, label, scen, ctx=None, group=None):
    return {"id": f"t{i}", "context": ctx, "utterance": utt, "label": label, "scenario": scen,
            "source": "handwritten", "license": "Apache-2.0", "group": group or f"g{i}", "domain": "telecom"}


def _variants(rec):
    return list(augment.compliance_variants(rec))


def test_drop_clauses():
    assert augment.drop_clauses("在的，对不起让您久等了，您的流量是漫游产生的。", augment.APOLOGY) == "在的，您的流量是漫游产生的。"
    assert augment.drop_clauses("对不起，让您久等了。", augment.APOLOGY) is None


def test_apology_removed_becomes_missing_apology():
    rec = _rec(1, "对不起，让您久等了，您的话费已经到账。", "standard", "hold_return", "[客户已等待约2分钟]")
    edits = [v for v in _variants(rec) if v[0] == "phrase_edit"]
    assert edits == [("phrase_edit", "[客户已等待约2分钟]", "您的话费已经到账。", "missing_apology", "hold_return")]


def test_thanks_inserted_into_closing_becomes_standard():
    rec = _rec(2, "好的，再见。", "missing_thanks", "closing", "没有了")
    assert ("phrase_edit", "没有了", "好的，感谢您的来电，再见。", "standard", "closing") in _variants(rec)


def test_courtesy_reply_is_not_turned_into_missing_thanks():
    rec = _rec(3, "谢谢您的认可，很高兴能帮到您。", "standard", "customer_thanks", "谢谢你")
    assert not [v for v in _variants(rec) if v[3] == "missing_thanks"]


def test_context_swap_only_without_apology():
    with_apology = _rec(4, "抱歉，这个业务需要本人办理。", "standard", "general_enquiry", "能帮我办吗")
    plain = _rec(5, "这个业务需要本人带身份证办理。", "standard", "general_enquiry", "能帮我办吗")
    assert not [v for v in _variants(with_apology) if v[0] == "context_swap"]
    swaps = {v[3] for v in _variants(plain) if v[0] == "context_swap"}
    assert swaps == {"missing_apology", "missing_thanks"}


def test_non_compliant_is_never_relabelled():
    rec = _rec(6, "不知道，您自己去营业厅问吧。", "non_compliant", "general_enquiry", "这个怎么办")
    assert {v[3] for v in _variants(rec)} <= {"non_compliant"}


def test_slot_fill_keeps_names_the_context_mentions():
    rec = _rec(7, "好的王先生，工号3017为您服务。", "standard", "verify_details", "我姓王")
    filled = augment.slot_fill(rec["utterance"], rec["id"], rec["context"])
    assert filled is not None and "王先生" in filled and "3017" not in filled
    assert re.search(r"工号\d{4}", filled)


def test_only_train_groups_are_augmented():
    rng = random.Random(0)
    words = "宽带话费流量套餐账单快递订单退款发票积分水费电费燃气维修预约保单理赔车险航班酒店门票"

    def sentence():  # distinct texts, so near-duplicate joining keeps the groups apart
        return "".join(rng.choice(words) for _ in range(14))
    recs = [_rec(i, f"对不起，让您久等了，{sentence()}已经处理好了。", "standard", "hold_return",
                 "[客户已等待约1分钟]", group=f"grp-{i}") for i in range(80)]
    assignment, _ = split.handwritten_assignment("compliance", recs)
    made, _ = augment.augment({"compliance": recs, "emotion": []})
    assert made["compliance"]
    assert all(assignment[r["group"]] == "train" for r in made["compliance"])
    assert all(r["source"].startswith("augmented:") and r["license"] == "Apache-2.0" for r in made["compliance"])
