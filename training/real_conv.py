"""Real customer-service conversations with roles, for labelling every turn in its dialogue.

``extract`` rebuilds whole conversations from the real dialogue sets in /work/shared/data and
writes a deterministic, source-stratified selection to data/real_conv/conversations.jsonl:

    {"conv_id", "source", "licence", "channel", "turns": [{"i", "role", "text"}]}

role is agent | customer | event. Text is kept as the source has it (de-identification
placeholders such as ``[订单x]`` stay; nothing else is masked). Only two source artefacts are
undone: CSDS lists a speaker's consecutive chat messages separately and cuts long ones at 27
characters, so consecutive same-role messages are joined with a space, which is the unit JDDC 2019
already uses (one row per turn, a speaker's messages space-joined); the Taobao ECD sample is
word-segmented, so the spaces between Chinese characters are removed.

Conversations come in labelling batches (``BATCHES``): a later batch continues each source's hash
order, so adding one leaves the earlier conversations, their labels and their splits as they are.

``sheets`` splits one batch's conversations into parts (stratified by source) and writes the
human-readable labelling sheets and the item lists (every agent turn: compliance; every customer
turn: emotion) to a folder outside the repository.

    python -m training.real_conv extract            # data/real_conv/conversations.jsonl
    python -m training.real_conv sheets --out DIR [--batch 2 --parts 4]   # DIR/part{k}.txt, DIR/items_part{k}.jsonl
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional

from training.validate import DATA_DIR

SHARED = Path("/work/shared/data")
OUT_DIR = DATA_DIR / "real_conv"
CONVERSATIONS = OUT_DIR / "conversations.jsonl"
SEED = 20261211
MAX_TURNS = 40  # longer conversations keep their first 40 turns
MIN_TURNS = 4
ROLES = ("agent", "customer", "event")
ROLE_ZH = {"agent": "客服", "customer": "客户", "event": "事件"}

# How many conversations each labelling batch draws per source, continuing the source's hash order
# (batch 2 takes the conversations after batch 1's, so earlier batches never change). JD.com chats
# weigh most: the project is measured on them.
BATCHES = {
    1: {"jddc2019": 345, "csds": 120, "stc3": 60, "mobilecs": 10, "ecd": 30},
    2: {"jddc2019": 120, "csds": 50, "stc3": 20, "ecd": 10},
    3: {"jddc2019": 250, "csds": 100, "stc3": 40, "ecd": 20},
    4: {"jddc2019": 200, "csds": 170, "stc3": 50, "ecd": 10},
    5: {"jddc2019": 79, "csds": 220, "stc3": 40, "ecd": 6},
    6: {"csds": 300, "stc3": 44},
    7: {"csds": 250},
    8: {"csds": 251},
}
LICENCE = {"jddc2019": "research-only", "csds": "research-only", "stc3": "research-only",
           "mobilecs": "research-only", "ecd": "research-only"}
CHANNEL = {"jddc2019": "chat", "csds": "chat", "stc3": "social", "mobilecs": "phone", "ecd": "chat"}


def _h(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


def _append(turns: List[dict], role: str, text: str, merge: bool) -> None:
    text = text.strip()
    if not text:
        return
    if merge and turns and turns[-1]["role"] == role:
        turns[-1]["text"] = f"{turns[-1]['text']} {text}"
    else:
        turns.append({"role": role, "text": text})


# --- readers: yield (source, conv_id, turns) with turns = [{"role", "text"}] -------------------

def read_jddc2019() -> Iterator[tuple]:
    sessions: Dict[str, List[dict]] = collections.OrderedDict()
    with (SHARED / "jddc2019_chat_sample/chat_0.1per.txt").open(encoding="utf-8") as fh:
        for line in fh:
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 7:
                continue
            role = "agent" if cols[2] == "1" else "customer"
            # rows already alternate; merging only matters where an empty row was skipped
            _append(sessions.setdefault(cols[0], []), role, cols[6], merge=True)
    for sid, turns in sessions.items():
        yield "jddc2019", f"jddc2019-{sid[:12]}", turns


def read_csds() -> Iterator[tuple]:
    seen = set()
    for split in ("val", "test"):
        path = SHARED / f"csds_val_test_dialogues/csds_topic_{split}.json"
        for rec in json.loads(path.read_text("utf-8")):
            dia = rec["Dialogue"]
            if dia in seen:  # the same dialogue once per topic upstream
                continue
            seen.add(dia)
            turns: List[dict] = []
            ok = True
            for raw in dia.split("[SEP][CLS]"):
                who, _, text = raw.partition(":")
                role = {"客服": "agent", "用户": "customer"}.get(who)
                if role is None:  # merchant / courier in the chat: a three-party dialogue, left out
                    ok = False
                    break
                _append(turns, role, text, merge=True)
            if ok:
                yield "csds", f"csds-{_h(dia)}", turns


def read_stc3() -> Iterator[tuple]:
    # The test file: its dialogues are not among the STC-3 train turns already in data/real/.
    for rec in json.loads((SHARED / "stc3_customer_helpdesk/test_data_cn.json").read_text("utf-8")):
        turns: List[dict] = []
        for t in rec["turns"]:
            role = "agent" if t["sender"] == "helpdesk" else "customer"
            _append(turns, role, " ".join(u.strip() for u in t["utterances"]), merge=True)
        yield "stc3", f"stc3-{rec['id']}", turns


def read_mobilecs() -> Iterator[tuple]:
    for rec in json.loads((SHARED / "mobilecs_example/mobilecs1_example_10dialogs.json").read_text("utf-8")):
        turns: List[dict] = []
        for step in rec["content"]:
            _append(turns, "agent", step.get("[SPEAKER 1]", ""), merge=True)
            _append(turns, "customer", step.get("[SPEAKER 2]", ""), merge=True)
        yield "mobilecs", f"mobilecs-{rec['id'][:12]}", turns


_SEG_SPACE = re.compile(r"(?<=[\u4e00-\u9fff\uff00-\uffef。，！？、])\s+|\s+(?=[\u4e00-\u9fff\uff00-\uffef。，！？、])")


def read_ecd() -> Iterator[tuple]:
    """Positive lines only: the last utterance is the shop's true response, so roles alternate
    backwards from it (agent, customer, agent, ...)."""
    seen = set()
    with (SHARED / "ecd_taobao_sample/ecd_sample_train.tsv").open(encoding="utf-8") as fh:
        for line in fh:
            cols = line.rstrip("\n").split("\t")
            if cols[0] != "1" or len(cols) < 3:
                continue
            utts = [_SEG_SPACE.sub("", u).strip() for u in cols[1:]]
            key = "\x00".join(utts)
            if key in seen:
                continue
            seen.add(key)
            n = len(utts)
            turns: List[dict] = []
            for k, u in enumerate(utts):
                _append(turns, "agent" if (n - 1 - k) % 2 == 0 else "customer", u, merge=True)
            yield "ecd", f"ecd-{_h(key)}", turns


READERS = {"jddc2019": read_jddc2019, "csds": read_csds, "stc3": read_stc3,
           "mobilecs": read_mobilecs, "ecd": read_ecd}


def _usable(turns: List[dict]) -> bool:
    roles = collections.Counter(t["role"] for t in turns[:MAX_TURNS])
    return len(turns) >= MIN_TURNS and roles["agent"] >= 2 and roles["customer"] >= 1


def extract() -> List[dict]:
    """The deterministic selection: per source, usable conversations in hash order (seeded), cut
    into the labelling batches in order."""
    pools = {}
    for source in READERS:
        pool = [(cid, turns) for _, cid, turns in READERS[source]() if _usable(turns)]
        pools[source] = sorted(pool, key=lambda x: hashlib.sha1(f"{SEED}|{x[0]}".encode()).hexdigest())
    out, taken = [], collections.Counter()
    for batch, quotas in sorted(BATCHES.items()):
        for source, quota in quotas.items():
            for cid, turns in pools[source][taken[source]:taken[source] + quota]:
                out.append({"conv_id": cid, "source": f"real:{source}", "licence": LICENCE[source],
                            "channel": CHANNEL[source], "batch": batch,
                            "turns": [{"i": i, "role": t["role"], "text": t["text"]}
                                      for i, t in enumerate(turns[:MAX_TURNS])]})
            taken[source] += quota
    ids = [c["conv_id"] for c in out]
    if len(ids) != len(set(ids)):
        raise ValueError("duplicate conv_id in the selection")
    return out


def load(path: Path = CONVERSATIONS) -> List[dict]:
    convs = []
    for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        c = json.loads(line)
        for t in c["turns"]:
            if t["role"] not in ROLES:
                raise ValueError(f"{path}:{n}: role {t['role']!r}, expected one of {ROLES}")
        c.setdefault("batch", 1)  # selections written before batches existed
        convs.append(c)
    return convs


def of_batch(convs: List[dict], batch: int) -> List[dict]:
    return [c for c in convs if c["batch"] == batch]


def write_jsonl(path: Path, rows: List[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def sheet_parts(convs: List[dict], n: int = 2) -> Dict[str, List[dict]]:
    """part1 .. part<n>, dealt in turn within each source in hash order (stratified by source)."""
    parts: Dict[str, List[dict]] = {f"part{k + 1}": [] for k in range(n)}
    by_source: Dict[str, List[dict]] = collections.defaultdict(list)
    for c in convs:
        by_source[c["source"]].append(c)
    for source in sorted(by_source):
        group = sorted(by_source[source], key=lambda c: hashlib.sha1(f"{SEED}|half|{c['conv_id']}".encode()).hexdigest())
        for k, c in enumerate(group):
            parts[f"part{k % n + 1}"].append(c)
    return parts


def turn_line(conv: dict, turn: dict) -> str:
    """One turn as a labelling sheet shows it: ``<conv_id>#<i> [role] text`` on one line."""
    text = turn["text"].replace("\n", " ")
    return f"{conv['conv_id']}#{turn['i']} [{ROLE_ZH[turn['role']]}] {text}"


def sheet_text(convs: List[dict]) -> str:
    lines = []
    for c in convs:
        lines.append(f"=== {c['conv_id']}  ({c['source']}, {c['channel']}, {len(c['turns'])} turns) ===")
        lines += [turn_line(c, t) for t in c["turns"]]
        lines.append("")
    return "\n".join(lines)


def items(convs: List[dict]) -> List[dict]:
    return [{"conv_id": c["conv_id"], "i": t["i"], "role": t["role"],
             "task": "compliance" if t["role"] == "agent" else "emotion"}
            for c in convs for t in c["turns"] if t["role"] in ("agent", "customer")]


def summary(convs: List[dict]) -> str:
    rows = collections.defaultdict(collections.Counter)
    for c in convs:
        rows[c["source"]]["conversations"] += 1
        for t in c["turns"]:
            rows[c["source"]][t["role"]] += 1
    total = collections.Counter()
    out = ["source conversations agent customer event"]
    for s in sorted(rows):
        total.update(rows[s])
        out.append(f"{s} {rows[s]['conversations']} {rows[s]['agent']} {rows[s]['customer']} {rows[s]['event']}")
    out.append(f"total {total['conversations']} {total['agent']} {total['customer']} {total['event']}")
    return "\n".join(out)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("extract", help="write data/real_conv/conversations.jsonl")
    sh = sub.add_parser("sheets", help="write the labelling sheets of one batch")
    sh.add_argument("--out", type=Path, required=True)
    sh.add_argument("--batch", type=int, default=1, choices=sorted(BATCHES), help="the labelling batch to write")
    sh.add_argument("--parts", type=int, default=2, help="how many sheets (each read by both readers)")
    args = ap.parse_args(argv)
    if args.command == "extract":
        convs = extract()
        write_jsonl(CONVERSATIONS, convs)
        print(summary(convs))
        return 0
    convs = of_batch(load(), args.batch)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, part in sheet_parts(convs, args.parts).items():
        (args.out / f"{name}.txt").write_text(sheet_text(part), encoding="utf-8")
        write_jsonl(args.out / f"items_{name}.jsonl", items(part))
        print(f"== {name}\n{summary(part)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
