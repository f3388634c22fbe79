"""Import real text from /work/shared/data into data/real/, licence recorded per record.

Two kinds of real data:

* Dialogue turns (JDDC 2019 chat, JDDC 2018 QA, CSDS, STC-3) have no labels of ours. They are
  labelled by reading: ``candidates`` writes a deterministic sample to
  data/real/review/*_candidates.tsv; a person fills data/real/review/*_review.tsv
  (key, label, scenario / key, label; label "drop" for unclear turns); ``build`` joins the two.
* Labelled emotion corpora (CPED, SMP2020-EWECT, NLPCC 2013) are mapped onto our five emotion
  labels by the tables in EMOTION_MAPS, doubtful classes dropped, each source capped and balanced
  (MAX_PER_LABEL) so out-of-domain text cannot swamp the call-center data.
* Offensive-language corpora (COLD, ToxiCN): the few items that insult the person addressed were
  picked by reading into data/real/review/offensive_review.tsv (source, text, label = angry).

    python -m training.import_real candidates   # write missing review sheets (existing ones are frozen)
    python -m training.import_real build        # write data/real/*.jsonl (default)
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import re
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

from training import schema
from training.validate import DATA_DIR

SHARED = Path("/work/shared/data")
REAL_DIR = DATA_DIR / "real"
REVIEW_DIR = REAL_DIR / "review"
SEED = 20261122
MAX_PER_LABEL = 500  # per labelled corpus -> at most 2,500 records each
MAX_CHARS = 120

# --- text clean-up -------------------------------------------------------------------------

# JDDC/CSDS de-identification placeholders read like our "[event]" markers, so they are replaced
# by plain, fixed stand-ins (one per type) before they reach a model.
_PLACEHOLDERS = [
    (re.compile(r"#E-[a-z]\[数字x?\]|#E-[a-z]\d*"), ""),  # emoticon codes
    (re.compile(r"\[ORDERID_\d+\]|\[订单x?\]|\[订单编号\]"), "订单号81234567"),
    (re.compile(r"\[金额x?\]"), "99元"),
    (re.compile(r"\[日期x?\]"), "5月3日"),
    (re.compile(r"\[时间x?\]"), "10点"),
    (re.compile(r"\[地址x?\]"), "幸福路8号"),
    (re.compile(r"\[姓名x?\]|\[链接x?\]"), ""),  # 姓名 marks product names too: drop it
    (re.compile(r"\[站点x?\]"), "城东站"),
    (re.compile(r"\[电话x?\]|\[手机号x?\]"), "138****0000"),
    (re.compile(r"\[邮箱x?\]"), "a***@example.com"),
    (re.compile(r"\[数字x?\]"), "3"),
    (re.compile(r"USERID_\d+"), ""),
]
_WEIBO_NOISE = [
    re.compile(r"https?://\S+"),
    re.compile(r"@[\w\u4e00-\u9fff\-]+"),
    re.compile(r"#[^#]{1,30}#"),
    re.compile(r"\[[\u4e00-\u9fffA-Za-z]{1,6}\]"),  # [哈哈] emoticon tags
    re.compile(r"//.*$"),  # repost chains
    re.compile(r"回复\s*:?"),
]


def clean_dialogue(text: str) -> str:
    for pat, rep in _PLACEHOLDERS:
        text = pat.sub(rep, text)
    return re.sub(r"\s+", " ", text).strip(" ,，")


def clean_weibo(text: str) -> str:
    for pat in _WEIBO_NOISE:
        text = pat.sub("", text)
    return re.sub(r"\s+", " ", text).strip(" ,，:：")


def _h(*parts: str) -> str:
    return hashlib.sha1("|".join(parts).encode("utf-8")).hexdigest()[:10]


# --- dialogue readers: yield (dataset, dialogue_id, [(role, text), ...]) role in {agent, customer}


def read_jddc2019() -> Iterator[Tuple[str, str, List[Tuple[str, str]]]]:
    sessions: Dict[str, List[Tuple[str, str]]] = {}
    with (SHARED / "jddc2019_chat_sample/chat_0.1per.txt").open(encoding="utf-8") as fh:
        for line in fh:
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 7:
                continue
            role = "agent" if cols[2] == "1" else "customer"
            turns = sessions.setdefault(cols[0], [])
            text = clean_dialogue(cols[6])
            if turns and turns[-1][0] == role:  # consecutive messages of one speaker = one turn
                turns[-1] = (role, f"{turns[-1][1]} {text}".strip())
            else:
                turns.append((role, text))
    for sid, turns in sessions.items():
        yield "jddc2019", sid[:12], turns


def read_csds() -> Iterator[Tuple[str, str, List[Tuple[str, str]]]]:
    seen = set()
    for split in ("val", "test"):
        for rec in json.loads((SHARED / f"csds_val_test_dialogues/csds_topic_{split}.json").read_text("utf-8")):
            dia = rec["Dialogue"]
            if dia in seen:  # one copy per topic upstream
                continue
            seen.add(dia)
            turns: List[Tuple[str, str]] = []
            for raw in dia.split("[SEP][CLS]"):
                who, _, text = raw.partition(":")
                role = {"客服": "agent", "用户": "customer"}.get(who)
                if role is None:  # merchant / courier turns break the agent<->customer pairing
                    turns.append(("other", text))
                    continue
                text = clean_dialogue(text)
                if turns and turns[-1][0] == role:
                    turns[-1] = (role, f"{turns[-1][1]} {text}".strip())
                else:
                    turns.append((role, text))
            yield "csds", _h(dia), turns


def read_stc3() -> Iterator[Tuple[str, str, List[Tuple[str, str]]]]:
    for rec in json.loads((SHARED / "stc3_customer_helpdesk/train_data_cn.json").read_text("utf-8")):
        turns = []
        for t in rec["turns"]:
            role = "agent" if t["sender"] == "helpdesk" else "customer"
            turns.append((role, clean_weibo(" ".join(t["utterances"]))))
        yield "stc3", str(rec["id"]), turns


def read_jddc2018() -> Iterator[Tuple[str, str, List[Tuple[str, str]]]]:
    """Each line: QAQAQ context -> agent reply. Roles inside the context are not marked, so only
    the last comma-separated message (part of the last customer turn) is kept as context."""
    enc = (SHARED / "jddc2018_baseline_qa/train.enc.txt").read_text("utf-8").split("\n")
    dec = (SHARED / "jddc2018_baseline_qa/train.dec.txt").read_text("utf-8").split("\n")
    for n, (q, a) in enumerate(zip(enc, dec)):
        last = [m for m in q.split(",") if m.strip()]
        if not last or not a.strip():
            continue
        yield "jddc2018", f"l{n}", [("customer", clean_dialogue(last[-1])), ("agent", clean_dialogue(a.replace(",", "，")))]


DIALOGUE_READERS = {"jddc2019": read_jddc2019, "csds": read_csds, "stc3": read_stc3, "jddc2018": read_jddc2018}
DIALOGUE_DOMAIN = {"jddc2019": "ecommerce", "csds": "ecommerce", "jddc2018": "ecommerce", "stc3": "other"}


def agent_pairs(dataset: str) -> List[dict]:
    """Agent turns with the customer turn right before them."""
    out = []
    for ds, did, turns in DIALOGUE_READERS[dataset]():
        for i in range(1, len(turns)):
            (r0, ctx), (r1, utt) = turns[i - 1], turns[i]
            if r0 == "customer" and r1 == "agent" and 2 <= len(utt) <= 80 and 1 <= len(ctx) <= 100:
                out.append({"key": f"{ds}:{did}:{i}", "dataset": ds, "dialogue": did, "context": ctx, "utterance": utt})
    return out


def customer_turns(dataset: str) -> List[dict]:
    out = []
    for ds, did, turns in DIALOGUE_READERS[dataset]():
        for i, (role, text) in enumerate(turns):
            if role == "customer" and 2 <= len(text) <= 100 and not re.fullmatch(r"[\W\d订单号]+", text):
                out.append({"key": f"{ds}:{did}:{i}", "dataset": ds, "dialogue": did, "text": text})
    return out


# Pre-filters only decide which turns a reviewer sees (so rarer labels get read at all);
# the labels themselves come from reading.
_AGENT_INTEREST = re.compile(r"稍等|久等|抱歉|对不起|不好意思|谢谢|感谢|不客气|没办法|不知道|不行|不能|自己|再见|^.{1,6}$")
_CTX_INTEREST = re.compile(r"谢谢|感谢|多谢|好的|在吗|人呢|怎么还|投诉|太慢|垃圾|什么破|等了|[!！?？]{2,}|建议|错了")
_EMO_INTEREST = re.compile(r"急|快点|怎么还|还没|投诉|垃圾|骗|太慢|差评|气|[!！]|[?？]{2,}|谢谢|感谢|太好|满意|担心|会不会|麻烦死|无语|坑|服了|什么破")

_EMO_FOCUS = re.compile(r"急|担心|会不会|怕|赶紧|万一|投诉|垃圾|骗|什么破|滚|妈的|他妈|315|工信部|曝光|消协|经理|气死|恶心|无耻|坑人|受够|忍")

COMPLIANCE_QUOTA = {"jddc2019": 130, "csds": 130, "stc3": 100, "jddc2018": 40}
EMOTION_QUOTA = {"jddc2019": 120, "csds": 120, "stc3": 120}


def _sample(items: List[dict], n: int, interesting, rng: random.Random) -> List[dict]:
    hot = [x for x in items if interesting(x)]
    cold = [x for x in items if not interesting(x)]
    rng.shuffle(hot)
    rng.shuffle(cold)
    picked = hot[: n * 6 // 10] + cold[: n - min(len(hot), n * 6 // 10)]
    seen_text, out = set(), []
    for x in picked:
        t = x.get("utterance", x.get("text"))
        if t not in seen_text:
            seen_text.add(t)
            out.append(x)
    return sorted(out, key=lambda x: x["key"])


def write_candidates() -> None:
    """Write the review sheets that do not exist yet. A sheet is frozen once it exists: its
    keys are what the review file labels, so it is never regenerated."""
    REVIEW_DIR.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    sheets = [
        ("compliance_candidates.tsv", ["key", "context", "utterance"], _compliance_candidates),
        ("emotion_candidates.tsv", ["key", "text"], _emotion_candidates),
        ("emotion_candidates_focus.tsv", ["key", "text"], _emotion_focus_candidates),
    ]
    for name, cols, make in sheets:
        path = REVIEW_DIR / name
        if path.exists():
            print(f"kept {path} (frozen)")
            continue
        rows = make(rng)
        _write_tsv(path, cols, rows)
        print(f"wrote {len(rows)} candidates to {path}")


def _compliance_candidates(rng: random.Random) -> List[dict]:
    comp = []
    for ds, n in COMPLIANCE_QUOTA.items():
        comp += _sample(agent_pairs(ds), n,
                        lambda x: bool(_AGENT_INTEREST.search(x["utterance"]) or _CTX_INTEREST.search(x["context"])), rng)
    return comp


def _emotion_candidates(rng: random.Random) -> List[dict]:
    emo = []
    for ds, n in EMOTION_QUOTA.items():
        emo += _sample(customer_turns(ds), n, lambda x: bool(_EMO_INTEREST.search(x["text"])), rng)
    return emo


def _emotion_focus_candidates(rng: random.Random) -> List[dict]:
    """The first sheet turned up few anxious/angry turns, so a second one reads more of those."""
    seen = {r["key"] for r in _read_tsv(REVIEW_DIR / "emotion_candidates.tsv")}
    focus = []
    for ds, n in EMOTION_QUOTA.items():
        pool = [x for x in customer_turns(ds) if x["key"] not in seen and _EMO_FOCUS.search(x["text"])]
        focus += _sample(pool, n * 2 // 3, lambda x: True, rng)
    return focus


def _write_tsv(path: Path, cols: List[str], rows: List[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow([r[c].replace("\t", " ") for c in cols])


def _read_tsv(path: Path) -> List[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


# --- labelled corpora: label mapping tables (documented in data/README.md) --------------------
# None = dropped as doubtful for customer-service emotion.
EMOTION_MAPS: Dict[str, Dict[str, Optional[str]]] = {
    "cped": {  # column Emotion
        "neutral": "neutral", "happy": "satisfied", "grateful": "satisfied", "relaxed": "satisfied",
        "positive-other": None, "worried": "anxious", "fear": "anxious", "anger": "angry",
        "disgust": "dissatisfied", "depress": None, "sadness": None, "negative-other": None,
        "astonished": None,
    },
    "smp2020": {  # labels.json: 0 neutral 1 angry 2 happy 3 sad 4 fear 5 surprise
        "neutral": "neutral", "angry": "angry", "happy": "satisfied", "fear": "anxious",
        "sad": None, "surprise": None,
    },
    "nlpcc2013": {
        "none": "neutral", "happiness": "satisfied", "like": "satisfied", "fear": "anxious",
        "anger": "angry", "disgust": "dissatisfied", "sadness": None, "surprise": None,
    },
}
_SMP_IDS = {"0": "neutral", "1": "angry", "2": "happy", "3": "sad", "4": "fear", "5": "surprise"}


def read_cped() -> Iterator[Tuple[str, str]]:
    with (SHARED / "cped/valid_split.csv").open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            yield row["Emotion"], row["Utterance"]


def read_smp2020() -> Iterator[Tuple[str, str]]:
    for sub in ("usual", "virus"):
        for split in ("train", "dev"):  # the test split is withheld upstream
            path = SHARED / "smp2020_ewect" / sub / f"{split}.tsv"
            with path.open(encoding="utf-8") as fh:
                next(fh)
                for line in fh:
                    lab, _, text = line.rstrip("\n").partition("\t")
                    if lab in _SMP_IDS:
                        yield _SMP_IDS[lab], text


def read_nlpcc2013() -> Iterator[Tuple[str, str]]:
    with (SHARED / "nlpcc2013_weibo_emotion/Nlpcc2013Train.csv").open(encoding="utf-8-sig") as fh:
        next(fh)
        for line in fh:
            lab, _, text = line.rstrip("\n").partition(",")  # text may contain commas
            yield lab, text


CORPUS_READERS = {"cped": read_cped, "smp2020": read_smp2020, "nlpcc2013": read_nlpcc2013}


def mapped_corpus(name: str, rng: random.Random) -> List[dict]:
    """Map, clean, dedupe and cap one labelled corpus (balanced: <= MAX_PER_LABEL per label)."""
    table = EMOTION_MAPS[name]
    by_label: Dict[str, List[str]] = {}
    seen = set()
    for raw_label, text in CORPUS_READERS[name]():
        label = table.get(raw_label)
        if label is None:
            continue
        text = clean_weibo(text) if name != "cped" else text.strip()
        if not (4 <= len(text) <= MAX_CHARS) or text in seen:
            continue
        seen.add(text)
        by_label.setdefault(label, []).append(text)
    out = []
    for label in sorted(by_label):
        texts = by_label[label]
        rng.shuffle(texts)
        out += [{"text": t, "label": label} for t in sorted(texts[:MAX_PER_LABEL])]
    return out


# --- build ----------------------------------------------------------------------------------

def _record_base(dataset: str) -> dict:
    return {"source": f"real:{dataset}", "license": schema.REAL_DATASETS[dataset]}


def build_compliance(review: List[dict]) -> List[dict]:
    pairs: Dict[str, dict] = {}
    for ds in DIALOGUE_READERS:
        pairs.update({p["key"]: p for p in agent_pairs(ds)})
    out, missing = [], 0
    for row in review:
        if row["label"] == "drop":
            continue
        pair = pairs.get(row["key"])
        if pair is None:  # the source text changed under the key: do not guess
            missing += 1
            continue
        ds = pair["dataset"]
        out.append({"id": f"real-{ds}-c-{_h(row['key'])}", "context": pair["context"], "utterance": pair["utterance"],
                    "label": row["label"], "scenario": row["scenario"], **_record_base(ds),
                    "group": f"real-{ds}-{pair['dialogue']}", "domain": DIALOGUE_DOMAIN[ds]})
    if missing:
        print(f"warning: {missing} reviewed compliance key(s) not found in the sources", file=sys.stderr)
    return out


def build_emotion_dialogues(review: List[dict]) -> Dict[str, List[dict]]:
    turns: Dict[str, dict] = {}
    for ds in ("jddc2019", "csds", "stc3"):
        turns.update({t["key"]: t for t in customer_turns(ds)})
    out: Dict[str, List[dict]] = {}
    for row in review:
        t = turns.get(row["key"])
        if row["label"] == "drop" or t is None:
            continue
        ds = t["dataset"]
        out.setdefault(ds, []).append({"id": f"real-{ds}-e-{_h(row['key'])}", "text": t["text"], "label": row["label"],
                                       **_record_base(ds), "group": f"real-{ds}-{t['dialogue']}",
                                       "domain": DIALOGUE_DOMAIN[ds]})
    return out


def _handwritten_labels() -> Dict[Tuple[str, str], str]:
    """(task, text) -> label of hand-written data, so real data never contradicts it."""
    out = {}
    for path in sorted((DATA_DIR / "handwritten").glob("*.jsonl")):
        task = schema.task_of_path(path.name)
        for line in path.read_text("utf-8").splitlines():
            try:
                rec = json.loads(line)
                out[(task, (rec.get("context") or "") + "\x00" + rec[schema.TEXT_FIELD[task]].strip())] = rec["label"]
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # the validator reports broken hand-written lines
    return out


def build() -> Dict[str, int]:
    rng = random.Random(SEED)
    files: Dict[str, List[dict]] = {}
    files["compliance_real.jsonl"] = build_compliance(_read_tsv(REVIEW_DIR / "compliance_review.tsv"))
    reviewed = _read_tsv(REVIEW_DIR / "emotion_review.tsv") + _read_tsv(REVIEW_DIR / "emotion_review_focus.tsv")
    for ds, recs in build_emotion_dialogues(reviewed).items():
        files[f"emotion_{ds}.jsonl"] = recs
    for name in CORPUS_READERS:
        files[f"emotion_{name}.jsonl"] = [
            {"id": f"real-{name}-e-{_h(r['text'])}", "text": r["text"], "label": r["label"], **_record_base(name)}
            for r in mapped_corpus(name, rng)]
    files["emotion_toxicn.jsonl"] = [
        {"id": f"real-{r['source']}-e-{_h(r['text'])}", "text": r["text"], "label": r["label"], **_record_base(r["source"])}
        for r in _read_tsv(REVIEW_DIR / "offensive_review.tsv")]

    # One label per input across all real files and the hand-written data; first one wins.
    seen = {k: v for k, v in _handwritten_labels().items()}
    counts: Dict[str, int] = {}
    REAL_DIR.mkdir(parents=True, exist_ok=True)
    for name, recs in files.items():
        task = schema.task_of_path(name)
        kept, ids = [], set()
        for r in recs:
            key = (task, (r.get("context") or "") + "\x00" + r[schema.TEXT_FIELD[task]].strip())
            if key in seen or r["id"] in ids:
                continue
            seen[key] = r["label"]
            ids.add(r["id"])
            kept.append(r)
        with (REAL_DIR / name).open("w", encoding="utf-8") as fh:
            for r in kept:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        counts[name] = len(kept)
    return counts


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", nargs="?", default="build", choices=("build", "candidates"))
    args = ap.parse_args(argv)
    if args.command == "candidates":
        write_candidates()
        return 0
    for name, n in build().items():
        print(f"{n:6d}  data/real/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
