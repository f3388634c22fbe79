"""Turn the readers' labels of real conversations into the project's labelled data.

Two independent readers (A, B) labelled every agent turn's compliance and every customer turn's
emotion in data/real_conv/conversations.jsonl (sheets by ``training.real_conv sheets``); a third
pass adjudicated their disagreements. This module

* joins reader files and the adjudication into one final label per turn (``unclear`` = dropped),
* measures agreement per source and task (Cohen's kappa, raw agreement),
* splits by conversation, stratified by source, into train / dev / **blind** (>= 20 %: never used
  for training, tuning or any choice; read only by the final evaluation),
* writes records in data/SCHEMA.md form whose context is the list of turns before the turn:

    data/real_conv/labels.jsonl.xz                       final label + both readers' labels per turn
    data/real_conv/{compliance,emotion}_{train,dev,blind}.jsonl.xz  records (xz-compressed)
    data/real_conv/agreement.json                        kappa per source and task

    python -m training.real_labels import --labels /work/coord/labelling
    python -m training.real_labels import --labels /work/coord/labelling2 --batch 2   # a later batch

Conversations come in labelling batches (``real_conv.BATCHES``). Importing a batch keeps every other
batch's labels and splits as ``labels.jsonl`` has them, and splits the new batch's conversations by
the same rule among themselves, so no conversation ever changes split.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import json
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from training import real_conv, schema
from training.split import write_split
from training.validate import open_text, stored

OUT_DIR = real_conv.OUT_DIR
SPLITS = ("train", "dev", "blind")
# Share of conversations per split within each source (hash order). Blind >= 20 % by the issue.
FRACTIONS = {"blind": 0.25, "dev": 0.15}
UNCLEAR = "unclear"
LABELS_FILE = "labels.jsonl"
SEED = 20261212
DOMAIN = {"jddc2019": "ecommerce", "csds": "ecommerce", "ecd": "ecommerce", "stc3": "other", "mobilecs": "telecom"}
Key = Tuple[str, int]


class LabelError(ValueError):
    """A reader or adjudication file that does not fit the items (names the file, line and value)."""


def read_labels(path: Path, items: Dict[Key, dict]) -> Dict[Key, str]:
    """{(conv_id, i): label} of one reader / adjudication file, validated against the items."""
    out: Dict[Key, str] = {}
    problems = []
    for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            key = (rec["conv_id"], int(rec["i"]))
            label = rec["label"]
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"{path}:{n}: unreadable ({exc}); expected {{\"conv_id\", \"i\", \"label\"}}")
            continue
        item = items.get(key)
        if item is None:
            problems.append(f"{path}:{n}: item {key} is not an agent or customer turn of the conversations")
            continue
        allowed = schema.LABELS[item["task"]] + (UNCLEAR,)
        if label not in allowed:
            problems.append(f"{path}:{n}: label {label!r} for a {item['task']} item, expected one of {', '.join(allowed)}")
            continue
        out[key] = label  # a later line corrects an earlier one
    if problems:
        raise LabelError("\n".join(problems[:50]) + (f"\n... {len(problems) - 50} more" if len(problems) > 50 else ""))
    return out


def all_items(convs: Sequence[dict]) -> Dict[Key, dict]:
    return {(it["conv_id"], it["i"]): it for it in real_conv.items(convs)}


def final_labels(items: Dict[Key, dict], a: Dict[Key, str], b: Dict[Key, str],
                 adjudicated: Dict[Key, str]) -> Tuple[Dict[Key, dict], List[Key]]:
    """Per item: the adjudicated label where there is one, else the readers' shared label.
    Returns (labels, items still without a final label: missing reader or unresolved disagreement)."""
    out, open_items = {}, []
    for key in sorted(items):
        la, lb = a.get(key), b.get(key)
        if key in adjudicated:
            final = adjudicated[key]
        elif la is not None and la == lb:
            final = la
        else:
            open_items.append(key)
            continue
        out[key] = {"conv_id": key[0], "i": key[1], "task": items[key]["task"], "label": final,
                    "reader_a": la, "reader_b": lb, "adjudicated": key in adjudicated}
    return out, open_items


def cohen_kappa(pairs: Sequence[Tuple[str, str]]) -> Optional[float]:
    from sklearn.metrics import cohen_kappa_score

    if not pairs:
        return None
    a, b = zip(*pairs)
    if len(set(a) | set(b)) < 2:
        return 1.0
    return round(float(cohen_kappa_score(a, b)), 4)


def agreement(convs: Sequence[dict], items: Dict[Key, dict], a: Dict[Key, str], b: Dict[Key, str]) -> dict:
    """Cohen's kappa and raw agreement of readers A and B per source and task (items both labelled)."""
    source_of = {c["conv_id"]: c["source"] for c in convs}
    pairs: Dict[Tuple[str, str], List[Tuple[str, str]]] = collections.defaultdict(list)
    for key, item in items.items():
        if key in a and key in b:
            for src in (source_of[key[0]], "all"):
                pairs[(src, item["task"])].append((a[key], b[key]))
    out: Dict[str, dict] = {}
    for (src, task), ps in sorted(pairs.items()):
        out.setdefault(src, {})[task] = {"n": len(ps), "kappa": cohen_kappa(ps),
                                         "agreement": round(sum(x == y for x, y in ps) / len(ps), 4)}
    return out


def split_of_conversations(convs: Sequence[dict]) -> Dict[str, str]:
    """{conv_id: split}: within each source, conversations in seeded hash order; the first 25 % are
    blind, the next 15 % dev, the rest train (so every source is in every split)."""
    by_source: Dict[str, List[str]] = collections.defaultdict(list)
    for c in convs:
        by_source[c["source"]].append(c["conv_id"])
    out = {}
    for source, ids in by_source.items():
        ids.sort(key=lambda cid: hashlib.sha1(f"{SEED}|{cid}".encode()).hexdigest())
        n_blind = max(1, round(len(ids) * FRACTIONS["blind"]))
        n_dev = max(1, round(len(ids) * FRACTIONS["dev"]))
        for k, cid in enumerate(ids):
            out[cid] = "blind" if k < n_blind else "dev" if k < n_blind + n_dev else "train"
    return out


def records(convs: Sequence[dict], labels: Dict[Key, dict]) -> Dict[str, List[dict]]:
    """{"compliance": [...], "emotion": [...]}: one record per labelled turn (unclear left out),
    its context the turns before it."""
    out: Dict[str, List[dict]] = {"compliance": [], "emotion": []}
    for c in convs:
        dataset = c["source"].split(":", 1)[1]
        for t in c["turns"]:
            lab = labels.get((c["conv_id"], t["i"]))
            if lab is None or lab["label"] == UNCLEAR:
                continue
            context = [{"role": p["role"], "text": p["text"]} for p in c["turns"][:t["i"]]] or None
            common = {"id": f"rc-{c['conv_id']}-{t['i']}", "label": lab["label"], "source": c["source"],
                      "license": c["licence"], "group": c["conv_id"], "domain": DOMAIN[dataset],
                      "conv_id": c["conv_id"], "turn": t["i"]}
            if lab["task"] == "compliance":
                out["compliance"].append({**common, "context": context, "utterance": t["text"]})
            else:
                out["emotion"].append({**common, "context": context, "text": t["text"]})
    return out


def label_counts(recs: Iterable[dict]) -> collections.Counter:
    return collections.Counter(r["label"] for r in recs)


def write(convs: Sequence[dict], labels: Dict[Key, dict], agree: dict, split: Dict[str, str],
          out_dir: Path = OUT_DIR) -> Dict[str, int]:
    out_dir.mkdir(parents=True, exist_ok=True)
    # xz-compressed like the train records: the tracked tree must fit what a device call carries.
    write_split(out_dir / LABELS_FILE, [dict(v, split=split[v["conv_id"]]) for _, v in sorted(labels.items())],
                compress=True)
    counts = {}
    for task, recs in records(convs, labels).items():
        for s in SPLITS:
            part = [r for r in recs if split[r["conv_id"]] == s]
            write_split(out_dir / f"{task}_{s}.jsonl", part, compress=True)
            counts[f"{task}_{s}"] = len(part)
    (out_dir / "agreement.json").write_text(json.dumps(agree, indent=1) + "\n", encoding="utf-8")
    return counts


def read_label_rows(out_dir: Path = OUT_DIR) -> List[dict]:
    """The rows of labels.jsonl (stored as labels.jsonl.xz; a plain file is read too); [] if none yet."""
    path = stored(out_dir / LABELS_FILE)
    if not path.exists():
        return []
    with open_text(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def earlier_batches(convs: Sequence[dict], batch: int, out_dir: Path) -> Tuple[Dict[Key, dict], Dict[str, str]]:
    """(labels, {conv_id: split}) already imported for the other batches' conversations, as they are:
    a new batch never relabels or re-splits them (a blind conversation stays blind). A batch not yet
    imported has none and stays out of the data."""
    others = {c["conv_id"] for c in convs if c["batch"] != batch}
    labels: Dict[Key, dict] = {}
    split: Dict[str, str] = {}
    for rec in read_label_rows(out_dir) if others else []:
        if rec["conv_id"] in others:
            split[rec["conv_id"]] = rec.pop("split")
            labels[(rec["conv_id"], int(rec["i"]))] = rec
    return labels, split


def reader_labels(labelling_dir: Path, items: Dict[Key, dict]) -> Dict[str, Dict[Key, str]]:
    """{"A": labels, "B": labels} from the readers' files in ``labelling_dir``."""
    readers: Dict[str, Dict[Key, str]] = {"A": {}, "B": {}}
    for r in readers:
        for path in sorted(labelling_dir.glob(f"reader{r}_part*.jsonl")):
            readers[r].update(read_labels(path, items))
    return readers


def adjudication_sheet(labelling_dir: Path, conversations: Path = real_conv.CONVERSATIONS, batch: int = 1) -> str:
    """The sheet for the adjudicator: every conversation of the batch with a disagreement (or a turn only
    one reader labelled), in full, each such turn marked with the two labels in random order (the
    adjudicator is not told which reader gave which)."""
    mine = real_conv.of_batch(real_conv.load(conversations), batch)
    readers = reader_labels(labelling_dir, all_items(mine))
    lines = []
    for c in mine:
        marks = {}
        for it in real_conv.items([c]):
            key = (c["conv_id"], it["i"])
            pair = [readers["A"].get(key, "-"), readers["B"].get(key, "-")]
            if pair[0] != pair[1]:
                if hashlib.sha1(f"{SEED}|adj|{key}".encode()).digest()[0] % 2:
                    pair.reverse()
                marks[it["i"]] = " / ".join(pair)
        if not marks:
            continue
        lines.append(f"=== {c['conv_id']}  ({c['source']}, {c['channel']}, {len(marks)} to decide) ===")
        lines += [real_conv.turn_line(c, t) + (f"    <<< DECIDE: {marks[t['i']]}" if t["i"] in marks else "")
                  for t in c["turns"]]
        lines.append("")
    return "\n".join(lines)


def import_labels(labelling_dir: Path, out_dir: Path = OUT_DIR, allow_open: bool = False,
                  conversations: Path = real_conv.CONVERSATIONS, batch: int = 1) -> Dict[str, int]:
    """Import one labelling batch (reader{A,B}_part*.jsonl and adjudicated.jsonl in ``labelling_dir``);
    the other batches' labels and splits in ``out_dir`` are kept as they are."""
    convs = real_conv.load(conversations)
    mine = real_conv.of_batch(convs, batch)
    if not mine:
        raise LabelError(f"no conversations of batch {batch} in {conversations}")
    kept, split = earlier_batches(convs, batch, out_dir)
    items = all_items(mine)
    readers = reader_labels(labelling_dir, items)
    adj_path = labelling_dir / "adjudicated.jsonl"
    adjudicated = read_labels(adj_path, items) if adj_path.exists() else {}
    labels, open_items = final_labels(items, readers["A"], readers["B"], adjudicated)
    if open_items and not allow_open:
        raise LabelError(f"{len(open_items)} item(s) have no final label (a reader's label is missing, or the "
                         f"readers disagree and there is no adjudication), e.g. {open_items[:5]}; "
                         "pass --allow-open to import the rest")
    labelled = {key[0] for key in kept} | {c["conv_id"] for c in mine}  # batches not imported yet stay out
    convs = [c for c in convs if c["conv_id"] in labelled]
    a = {**{k: v["reader_a"] for k, v in kept.items() if v["reader_a"]}, **readers["A"]}
    b = {**{k: v["reader_b"] for k, v in kept.items() if v["reader_b"]}, **readers["B"]}
    split.update(split_of_conversations(mine))
    return write(convs, {**kept, **labels}, agreement(convs, all_items(convs), a, b), split, out_dir)


def datasheet(out_dir: Path = OUT_DIR) -> str:
    """The data/README.md tables: agreement per source and task, final labels per task x split."""
    from training.split import _md_table

    agree = json.loads((out_dir / "agreement.json").read_text("utf-8"))
    rows = [(src, task, a["n"], a["kappa"], f"{a['agreement']:.1%}")
            for src in sorted(agree, key=lambda s: (s == "all", s)) for task, a in sorted(agree[src].items())]
    labels = read_label_rows(out_dir)
    parts = ["Agreement of the two independent readers before adjudication (Cohen's kappa, raw agreement):", "",
             _md_table(["source", "task", "turns", "kappa", "agreement"], rows), ""]
    adjudicated = sum(1 for r in labels if r["reader_a"] != r["reader_b"])
    parts += [f"{adjudicated} of {len(labels)} turns had two different labels and were decided by the adjudicator; "
              f"{sum(1 for r in labels if r['label'] == UNCLEAR)} turns ended `unclear` and are left out.", ""]
    for task in schema.TASKS:
        counts: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        for r in labels:
            if r["task"] == task:
                counts[r["split"]][r["label"]] += 1
        cols = list(schema.LABELS[task]) + [UNCLEAR]
        parts += [f"**{task}** (final labels per split; conversations split 60/15/25 per source)", "",
                  _md_table(["split"] + cols + ["total"],
                            [[s] + [counts[s][c] for c in cols] + [sum(counts[s].values())] for s in SPLITS]), ""]
    return "\n".join(parts)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import", help="write data/real_conv/ labels, records and agreement")
    imp.add_argument("--labels", type=Path, required=True, help="folder with reader{A,B}_part*.jsonl, adjudicated.jsonl")
    imp.add_argument("--allow-open", action="store_true", help="import although some items have no final label")
    imp.add_argument("--batch", type=int, default=1, help="the labelling batch the folder holds (real_conv.BATCHES)")
    adj = sub.add_parser("adjudication-sheet", help="print the disputed turns of one batch in their conversations")
    adj.add_argument("--labels", type=Path, required=True, help="folder with reader{A,B}_part*.jsonl")
    adj.add_argument("--batch", type=int, default=1)
    args = ap.parse_args(argv)
    try:
        if args.command == "adjudication-sheet":
            print(adjudication_sheet(args.labels, batch=args.batch))
            return 0
        counts = import_labels(args.labels, allow_open=args.allow_open, batch=args.batch)
    except LabelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, n in counts.items():
        print(f"{n:6d}  data/real_conv/{name}.jsonl")
    from training.split import rewrite_readme_section

    rewrite_readme_section("real_conv", datasheet())
    print("rewrote the real-conversation tables in data/README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
