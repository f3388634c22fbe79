"""Transcript readers: the inputs QA teams have (JSONL, plain text, JDDC logs, CSV), encodings,
and one error record per bad call while the rest go on. Real dialogues from ../shared/data are
read and audited when that folder is present."""
import json
from pathlib import Path

import pytest

from sdk.audit.readers import ReaderError, decode, parse_calls, read_calls, seconds

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _calls(text, fmt, **kw):
    return list(parse_calls(text, fmt, "x", **kw))


@pytest.mark.parametrize("stamp, start, end", [
    ("[01:02]", 62.0, None), ("[00:01:02]", 62.0, None), ("[01:02-01:05.5]", 62.0, 65.5),
    ("01:02", 62.0, None), ("【1:00:02】", 3602.0, None), ("", None, None),
])
def test_text_line_times(stamp, start, end):
    rec = _calls(f"{stamp} 客服：您好，请问有什么可以帮您？\n", "text")[0]
    turn = rec.call["turns"][0]
    assert turn["role"] == "agent" and turn["text"] == "您好，请问有什么可以帮您？"
    assert turn.get("start") == start and turn.get("end") == end


@pytest.mark.parametrize("who, role", [
    ("客服", "agent"), ("坐席", "agent"), ("座席", "agent"), ("A", "agent"), ("agent", "agent"),
    ("客户", "customer"), ("顾客", "customer"), ("用户", "customer"), ("B", "customer"), ("事件", "event"),
])
def test_text_speakers(who, role):
    line = f"{who}：保持" if role == "event" else f"{who}: 你好"
    turn = _calls(line, "text")[0].call["turns"][0]
    assert turn["role"] == role
    if role == "event":
        assert turn["text"] == "hold"


def test_text_file_with_header_events_continuation_and_several_calls():
    text = ("# ring_seconds: 12秒\n# channel: phone\n# agent_id: A7\n"
            "[00:00-00:04] 客服：您好，星河电力，请问有什么可以帮您？\n"
            "[00:04-00:08] 客户：我家停电了，\n  两天了。\n"
            "[00:08-01:20] 事件：静音\n"
            "=== c2 ===\n客户：在吗\n客服：您好，在的\n")
    first, second = _calls(text, "text")
    assert first.call["ring_seconds"] == 12.0 and first.call["agent_id"] == "A7"
    assert first.call["turns"][1]["text"] == "我家停电了，两天了。"
    assert first.call["turns"][2] == {"role": "event", "text": "mute", "start": 8.0, "end": 80.0}
    assert second.call["id"] == "c2" and [t["role"] for t in second.call["turns"]] == ["customer", "agent"]


def test_text_line_without_speaker_is_an_error_for_that_call_only():
    recs = _calls("今天天气不错\n=== ok ===\n客服：您好\n", "text")
    assert recs[0].error and "line 1: no speaker" in recs[0].error
    assert recs[1].call["turns"][0]["role"] == "agent"


def test_roles_option_maps_other_names():
    recs = _calls("话务员小王：您好\n来电：你好\n", "text", roles={"agent": ["话务员小王"], "customer": ["来电"]})
    assert [t["role"] for t in recs[0].call["turns"]] == ["agent", "customer"]


def test_jddc_rows_split_by_session_and_messages():
    text = ("s1\tU1\t0\t0\t0\tnan\t在吗\n"
            "s1\tU1\t1\t0\t0\tnan\t您好!@@@!请问有什么可以帮您?\n"
            "s2\t0\t你好\n"
            "s2\t1\tNULL\n")
    s1, s2 = _calls(text, "jddc")
    assert s1.call["channel"] == "chat" and [t["text"] for t in s1.call["turns"]] == ["在吗", "您好", "请问有什么可以帮您?"]
    assert [t["role"] for t in s1.call["turns"]] == ["customer", "agent", "agent"]
    assert s2.call["turns"] == [{"role": "customer", "text": "你好"}]


def test_csv_with_column_mapping_and_times():
    text = ("会话ID,说话人,内容,开始,结束\n"
            "c1,坐席,您好，请问有什么可以帮您？,00:00,00:03\n"
            "c1,客户,查一下话费,3.5,5\n"
            "c2,客户,你好,0,1\n"
            "c2,机器人,你好,1,2\n")
    c1, c2 = _calls(text, "csv")
    assert c1.call["turns"][0] == {"role": "agent", "text": "您好，请问有什么可以帮您？", "start": 0.0, "end": 3.0}
    assert c2.error and "unknown role '机器人'" in c2.error
    mapped = _calls("sid,who,msg\nx,A,hi\n", "csv", columns={"call_id": "sid", "role": "who", "text": "msg"})
    assert mapped[0].call["turns"] == [{"role": "agent", "text": "hi"}]
    with pytest.raises(ReaderError, match="column 'nope'"):
        _calls("a,b\n1,2\n", "csv", columns={"text": "nope"})


def test_jsonl_bad_line_is_an_error_record():
    recs = _calls('{"id": "a", "turns": [{"role": "agent", "text": "您好"}]}\nnot json\n[]\n', "jsonl")
    assert recs[0].call["id"] == "a" and "line 2 is not valid JSON" in recs[1].error
    assert recs[2].call == {"turns": []}


@pytest.mark.parametrize("encoding", ["gb18030", "gbk", "utf-8-sig", "utf-16"])
def test_encodings_are_detected(tmp_path, encoding):
    text = "客服：您好，星河电力客服中心，很高兴为您服务，请问有什么可以帮您？\n客户：我家停电了，什么时候能来电啊？\n"
    path = tmp_path / "call.txt"
    path.write_bytes(text.encode(encoding))
    rec = next(read_calls(path))
    assert rec.call["turns"][0]["text"].startswith("您好，星河电力")


def test_explicit_encoding_and_undecodable_input():
    assert decode("你好".encode("gb18030"), "gb18030") == "你好"
    with pytest.raises(ReaderError, match="cannot decode as utf-8"):
        decode("你好".encode("gb18030"), "utf-8")


def test_seconds():
    assert seconds("1:02:03.5") == 3723.5 and seconds("12") == 12.0
    with pytest.raises(ValueError):
        seconds("soon")


def test_folder_of_files(tmp_path):
    (tmp_path / "a.txt").write_text("客服：您好\n", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"id": "b", "turns": [{"role": "agent", "text": "您好"}]}\n', encoding="utf-8")
    assert [r.id for r in read_calls(tmp_path)] == ["a", "b"]


# --------------------------------------------------------------------------- real dialogues
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")


@needs_shared
def test_jddc_chat_logs_are_read_and_audited(rules_checker):
    lines = (SHARED / "jddc2019_chat_sample" / "chat_0.1per.txt").read_text(encoding="utf-8").splitlines()[:400]
    recs = _calls("\n".join(lines), "jddc")
    assert len(recs) > 20 and all(r.error is None for r in recs)
    audits = rules_checker.audit_batch([r.call for r in recs])
    assert len(audits) == len(recs)
    for a in audits:
        assert a.channel == "chat" and 0 <= a.score <= 100
        assert "chat.reply_time" in {s.check_id for s in a.skipped}  # no times in JDDC logs


@needs_shared
def test_csds_dialogues_through_the_text_reader(rules_checker):
    data = json.loads((SHARED / "csds_val_test_dialogues" / "csds_topic_val.json").read_text(encoding="utf-8"))
    texts = []
    for d in data[:30]:
        lines = []
        for part in d["Dialogue"].split("[SEP][CLS]"):
            who, _, said = part.replace("[SEP]", "").partition(":")
            if said.strip():
                lines.append(f"{ {'用户': '客户', '商家': '客服'}.get(who, who) }：{said.strip()}")
        texts.append("=== csds-%d ===\n%s" % (len(texts), "\n".join(lines)))
    recs = _calls("\n".join(texts), "text", channel="chat")
    assert len(recs) == 30 and all(r.error is None for r in recs), [r.error for r in recs if r.error][:3]
    audits = rules_checker.audit_batch([r.call for r in recs])
    assert all(len(a.turns) == len(r.call["turns"]) for a, r in zip(audits, recs))


@needs_shared
def test_crosswoz_dialogues_as_a_b_transcripts(rules_checker):
    lines = (SHARED / "crosswoz" / "crosswoz_val.jsonl").read_text(encoding="utf-8").splitlines()[:20]
    blocks = []
    for line in lines:
        d = json.loads(line)
        body = "\n".join(f"{'A' if t['role'] == 'sys' else 'B'}: {t['text']}" for t in d["turns"])
        blocks.append(f"=== {d['id']} ===\n{body}")
    recs = _calls("\n".join(blocks), "text", channel="chat")
    assert len(recs) == 20 and all(r.error is None for r in recs)
    assert all(a.turns for a in rules_checker.audit_batch([r.call for r in recs]))


@needs_shared
def test_stc3_helpdesk_dialogues_through_csv(rules_checker):
    import csv
    import io

    data = json.loads((SHARED / "stc3_customer_helpdesk" / "test_data_cn.json").read_text(encoding="utf-8"))[:30]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["对话", "发送方", "内容"])
    for d in data:
        for t in d["turns"]:
            text = " ".join(u for u in t["utterances"] if u.strip())
            if text:
                w.writerow([d["id"], t["sender"], text])
    recs = _calls(buf.getvalue(), "csv", columns={"call_id": "对话", "role": "发送方", "text": "内容"},
                  roles={"agent": ["helpdesk"]})
    assert recs and all(r.error is None for r in recs)
    audits = rules_checker.audit_batch([r.call for r in recs], channel="chat")
    assert len(audits) == len(recs)
