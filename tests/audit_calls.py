"""Hand-written whole calls for the audit tests: a clean phone call and a clean chat written
to the seed standards, and functions that plant exactly one fault in a copy."""
import copy

# Seed 000 二.一.1 (greeting), 四.8 (hold with consent, apology after), 五.2 (ask, thank),
# 五.3 (the customer hangs up first); seed 004 (greet within 2 s, hold <= 60 s).
CLEAN_PHONE = {
    "id": "phone-clean", "channel": "phone", "ring_seconds": 6.0, "agent_id": "A1023",
    "turns": [
        {"role": "agent", "text": "您好，星河电力客服中心，工号1023，很高兴为您服务，请问有什么可以帮您？", "start": 0.5, "end": 5.0},
        {"role": "customer", "text": "你好，我家停电了，想问一下什么时候能来电。", "start": 5.5, "end": 9.0},
        {"role": "agent", "text": "好的，请您提供一下户号，好吗？", "start": 9.3, "end": 11.5},
        {"role": "customer", "text": "户号是1234567890。", "start": 12.0, "end": 15.0},
        {"role": "agent", "text": "谢谢您，我需要帮您查询一下，对不起，请您稍等片刻，好吗？", "start": 15.3, "end": 19.5},
        {"role": "customer", "text": "好的。", "start": 19.8, "end": 20.5},
        {"role": "event", "text": "hold", "start": 21.0, "end": 50.0},
        {"role": "agent", "text": "对不起，让您久等了。您所在的区域正在检修线路，预计下午三点前恢复供电。", "start": 50.5, "end": 57.0},
        {"role": "customer", "text": "好的，我知道了。", "start": 57.5, "end": 59.0},
        {"role": "agent", "text": "请问还有什么可以帮您？", "start": 59.3, "end": 61.0},
        {"role": "customer", "text": "没有了，谢谢。", "start": 61.5, "end": 63.0},
        {"role": "agent", "text": "不客气，感谢您的来电，再见！", "start": 63.3, "end": 66.0},
        {"role": "event", "text": "customer_hangup", "start": 67.0},
        {"role": "event", "text": "agent_hangup", "start": 68.0},
    ],
}

# Seed 002: greet within 30 s, reply within 60 s, the agent sends the closing, no one-character replies.
CLEAN_CHAT = {
    "id": "chat-clean", "channel": "chat",
    "turns": [
        {"role": "customer", "text": "在吗？我买的耳机一直没发货", "start": 0.0},
        {"role": "agent", "text": "亲，您好，很高兴为您服务！请问您的订单号是多少呢？", "start": 12.0},
        {"role": "customer", "text": "订单号是12345678", "start": 40.0},
        {"role": "agent", "text": "谢谢亲，不好意思，请您稍等一下，我帮您查询，好吗？", "start": 55.0},
        {"role": "agent", "text": "亲，让您久等了，您的订单已经在今天下午发出，预计明天送达。", "start": 95.0},
        {"role": "customer", "text": "好的，谢谢", "start": 110.0},
        {"role": "agent", "text": "不客气，请问还有其他可以帮您的吗？", "start": 120.0},
        {"role": "customer", "text": "没有了", "start": 140.0},
        {"role": "agent", "text": "感谢您的咨询，祝您生活愉快，再见！", "start": 150.0},
    ],
}

# Seed 000 二.一.4: the silent-caller procedure done right.
CLEAN_SILENT = {
    "id": "silent-clean", "channel": "phone",
    "turns": [
        {"role": "agent", "text": "您好！星河电力客服中心，请问有什么可以帮您？", "start": 0.5, "end": 3.5},
        {"role": "agent", "text": "您好，请问有什么可以帮您？", "start": 9.0, "end": 11.0},
        {"role": "agent", "text": "对不起，您的电话没有声音，请您换一部电话再次打来，好吗？再见！", "start": 16.5, "end": 21.0},
        {"role": "event", "text": "agent_hangup", "start": 26.5},
    ],
}


def variant(base, edits=(), insert=(), delete=(), **fields):
    """A copy of ``base`` with turn edits {index: {field: value}}, inserts [(index, turn)], deletes."""
    call = copy.deepcopy(base)
    turns = call["turns"]
    for i, change in dict(edits).items():
        turns[i].update(change)
    for i in sorted(delete, reverse=True):
        del turns[i]
    for i, turn in insert:
        turns.insert(i, turn)
    call.update(fields)
    return call
