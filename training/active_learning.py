"""Active learning: which real turns a QA team should label next, and bringing their labels back.

    python -m training.active_learning rank --out sheet.jsonl [--n 200] [--conversations FILE]
    python -m training.active_learning rank --out sheet.csv ...         # the same sheet as CSV
    python -m training.active_learning merge sheet.jsonl [more sheets] [--name NAME]

``rank`` runs the SDK (model + rules, calibrated) over unlabelled real conversations (default: the
real dialogue sets' conversations that data/real_conv/ has not labelled; or a JSONL of conversations
in the data/real_conv/conversations.jsonl format, e.g. a QA team's own logs) and ranks every agent
turn (compliance) and customer turn (emotion) by
  * uncertainty: 1 - the calibrated top score,
  * disagreement: the model and the rules name different labels (+0.5),
then picks greedily for diversity: at most ``--per-conversation`` turns of one conversation, no two
turns with the same normalised text, and a round-robin over the predicted labels so rarer labels are
read too. The sheet holds each turn with its conversation context (the turns before it), the SDK's
guess, and an empty ``label`` column for the reader.

``merge`` validates filled sheets (every label one of the task's labels, or ``unclear``; known ids;
no conflicting duplicates) and writes the labelled turns to data/real_conv/{task}_active_<name>.jsonl,
which ``training.split`` adds to train (never to dev or a blind set). Nothing is written if any row
is invalid; every problem is listed with its file and line.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from sdk.dialogue import model_text
from training import real_conv, schema

CONTEXT_TURNS = 6  # turns of context shown on the sheet (the model sees up to 8)
DISAGREEMENT_BONUS = 0.5
UNCLEAR = "unclear"
SHEET_FIELDS = ("item_id", "conv_id", "i", "source", "licence", "task", "context", "text", "sdk_label",
                "sdk_confidence", "rules_label", "priority", "label")


class SheetError(ValueError):
    """A filled sheet that cannot be merged (every problem listed)."""


# --- the pool ------------------------------------------------------------------------------------

def unlabelled_pool(limit: Optional[int] = None, seed: int = real_conv.SEED) -> List[dict]:
    """Conversations of the real dialogue sets that data/real_conv/conversations.jsonl does not hold."""
    taken = {c["conv_id"] for c in real_conv.load()} if real_conv.CONVERSATIONS.exists() else set()
    out = []
    for source, read in real_conv.READERS.items():
        for _, cid, turns in read():
            if cid in taken or not real_conv._usable(turns):
                continue
            out.append({"conv_id": cid, "source": f"real:{source}", "licence": real_conv.LICENCE[source],
                        "channel": real_conv.CHANNEL[source],
                        "turns": [{"i": i, "role": t["role"], "text": t["text"]}
                                  for i, t in enumerate(turns[:real_conv.MAX_TURNS])]})
    out.sort(key=lambda c: hashlib.sha1(f"{seed}|pool|{c['conv_id']}".encode()).hexdigest())
    return out[:limit] if limit else out


def candidate_turns(convs: Sequence[dict]) -> List[dict]:
    """Every agent and customer turn with the turns before it."""
    out = []
    for c in convs:
        for t in c["turns"]:
            if t["role"] not in ("agent", "customer"):
                continue
            out.append({"item_id": f"{c['conv_id']}#{t['i']}", "conv_id": c["conv_id"], "i": t["i"],
                        "source": c["source"], "licence": c["licence"],
                        "task": "compliance" if t["role"] == "agent" else "emotion", "text": t["text"],
                        "context": [{"role": p["role"], "text": p["text"]} for p in c["turns"][:t["i"]]]})
    return out


# --- scoring and selection -----------------------------------------------------------------------

def score(checker, items: List[dict]) -> None:
    """Adds sdk_label, sdk_confidence, rules_label and priority to each item (in place)."""
    agent = [x for x in items if x["task"] == "compliance"]
    customer = [x for x in items if x["task"] == "emotion"]
    results = checker.check_batch([{"utterance": x["text"], "context": x["context"] or None} for x in agent])
    rules = _rules_checker().check_batch([{"utterance": x["text"], "context": x["context"] or None} for x in agent])
    for x, r, rr in zip(agent, results, rules):
        _annotate(x, r.label, max(r.scores.values()), rr.label)
    emotions = checker.emotion_batch([x["text"] for x in customer])
    rule_emotions = _rules_checker().emotion_batch([x["text"] for x in customer])
    for x, e, re_ in zip(customer, emotions, rule_emotions):
        _annotate(x, e.label, max(e.scores.values()), re_.label if re_.cues else None)


def _annotate(item: dict, label: str, confidence: float, rules_label: Optional[str]) -> None:
    item.update(sdk_label=label, sdk_confidence=round(float(confidence), 4), rules_label=rules_label or "")
    disagree = rules_label is not None and rules_label != label
    item["priority"] = round(1.0 - float(confidence) + (DISAGREEMENT_BONUS if disagree else 0.0), 4)


_RULES = None


def _rules_checker():
    global _RULES
    if _RULES is None:
        import sdk

        _RULES = sdk.Checker(engine="rules")
    return _RULES


def select(items: Sequence[dict], n: int, per_conversation: int = 2) -> List[dict]:
    """The n items to label: highest priority first, diverse (see module docstring)."""
    by_label: Dict[Tuple[str, str], List[dict]] = defaultdict(list)
    for x in sorted(items, key=lambda x: (-x["priority"], x["item_id"])):
        by_label[(x["task"], x["sdk_label"])].append(x)
    queues = [by_label[k] for k in sorted(by_label, key=lambda k: -by_label[k][0]["priority"])]
    taken: List[dict] = []
    per_conv: Counter = Counter()
    seen_text = set()
    while len(taken) < n and any(queues):
        for q in queues:  # one from each predicted label per round: rarer labels get read too
            while q:
                x = q.pop(0)
                key = (x["task"], model_text(x["text"]))
                if per_conv[x["conv_id"]] >= per_conversation or key in seen_text:
                    continue
                per_conv[x["conv_id"]] += 1
                seen_text.add(key)
                taken.append(x)
                break
            if len(taken) >= n:
                break
    return taken


# --- sheets --------------------------------------------------------------------------------------

def render_context(context: Sequence[dict]) -> str:
    roles = {"agent": "客服", "customer": "客户", "event": "事件"}
    return "\n".join(f"[{roles[t['role']]}] {t['text']}" for t in context[-CONTEXT_TURNS:])


def write_sheet(path: Path, items: Sequence[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{**{k: x.get(k, "") for k in SHEET_FIELDS}, "context": x["context"], "label": ""} for x in items]
    if path.suffix == ".csv":
        # Readers see the context as lines; the merge reads it back from context_json.
        with path.open("w", encoding="utf-8-sig", newline="") as fh:  # BOM: spreadsheet apps read UTF-8
            w = csv.DictWriter(fh, fieldnames=SHEET_FIELDS + ("context_json",))
            w.writeheader()
            for r in rows:
                w.writerow({**r, "context": render_context(r["context"]),
                            "context_json": json.dumps(r["context"], ensure_ascii=False)})
    else:
        real_conv.write_jsonl(path, rows)


def read_sheet(path: Path) -> List[Tuple[int, dict]]:
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return [(n, dict(row)) for n, row in enumerate(csv.DictReader(fh), start=2)]
    rows = []
    for n, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                rows.append((n, {"_error": f"bad JSON ({exc.msg})"}))
    return rows


def held_out_conversations(out_dir: Path = real_conv.OUT_DIR) -> set:
    """Conversations of the labelled real dev and blind sets (training.real_labels)."""
    from training.real_labels import read_label_rows

    return {r["conv_id"] for r in read_label_rows(out_dir) if r.get("split") in ("dev", "blind")}


def merge(paths: Sequence[Path], name: str, out_dir: Path = real_conv.OUT_DIR) -> Dict[str, int]:
    """Validate filled sheets and write their labelled turns as training records (see docstring)."""
    problems: List[str] = []
    final: Dict[str, dict] = {}
    held_out = held_out_conversations(out_dir)
    for path in paths:
        for n, row in read_sheet(path):
            where = f"{path}:{n}"
            if "_error" in row:
                problems.append(f"{where}: {row['_error']}")
                continue
            label = (row.get("label") or "").strip()
            task = row.get("task")
            if task not in schema.TASKS:
                problems.append(f"{where}: task {task!r}, expected one of {', '.join(schema.TASKS)}")
                continue
            if not label:
                continue  # not labelled (yet): left out, not an error
            if label not in schema.LABELS[task] + (UNCLEAR,):
                problems.append(f"{where}: label {label!r} for a {task} turn, expected one of "
                                f"{', '.join(schema.LABELS[task])} or {UNCLEAR}")
                continue
            context = row.get("context_json", row.get("context"))
            if isinstance(context, str):
                try:
                    context = json.loads(context) if context.strip() else []
                except json.JSONDecodeError:
                    problems.append(f"{where}: context is not the JSON list of turns the sheet was written with")
                    continue
            source = row.get("source", "")
            dataset = source.split(":", 1)[-1]
            if schema.expected_license(source) is None or not row.get("text"):
                problems.append(f"{where}: source {source!r} / text {row.get('text')!r:.40} not usable; expected "
                                f"a real:<dataset> source and the turn's text")
                continue
            if row.get("conv_id") in held_out:
                problems.append(f"{where}: conversation {row['conv_id']} belongs to the real dev/blind sets; its "
                                "turns may never be trained on")
                continue
            item_id = row.get("item_id") or f"{row.get('conv_id')}#{row.get('i')}"
            prev = final.get(item_id)
            if prev is not None and prev["label"] != label:
                problems.append(f"{where}: {item_id} labelled {label!r} here and {prev['label']!r} at {prev['where']}")
                continue
            final[item_id] = {"label": label, "where": where, "task": task, "row": row, "context": context,
                              "dataset": dataset}
    if problems:
        raise SheetError("\n".join(problems[:50]) + (f"\n... {len(problems) - 50} more" if len(problems) > 50 else ""))
    records: Dict[str, List[dict]] = {t: [] for t in schema.TASKS}
    for item_id, f in sorted(final.items()):
        if f["label"] == UNCLEAR:
            continue
        row = f["row"]
        common = {"id": f"al-{name}-{item_id.replace('#', '-')}", "label": f["label"], "source": row["source"],
                  "license": schema.expected_license(row["source"]), "group": row.get("conv_id") or item_id,
                  "conv_id": row.get("conv_id") or item_id, "turn": int(row.get("i") or 0)}
        ctx = [{"role": t["role"], "text": t["text"]} for t in f["context"]] or None
        if f["task"] == "compliance":
            records["compliance"].append({**common, "context": ctx, "utterance": row["text"]})
        else:
            records["emotion"].append({**common, "context": ctx, "text": row["text"]})
    counts = {}
    for task, recs in records.items():
        if recs:
            real_conv.write_jsonl(out_dir / f"{task}_active_{name}.jsonl", recs)
        counts[task] = len(recs)
    return counts


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    rk = sub.add_parser("rank", help="write a labelling sheet of the most useful unlabelled turns")
    rk.add_argument("--out", type=Path, required=True, help="sheet path (.jsonl or .csv)")
    rk.add_argument("--n", type=int, default=200)
    rk.add_argument("--conversations", type=Path, help="JSONL of conversations (default: the unlabelled real ones)")
    rk.add_argument("--pool", type=int, default=300, help="conversations to score (default 300; 0 = all)")
    rk.add_argument("--per-conversation", type=int, default=2)
    rk.add_argument("--model-dir", type=Path)
    mg = sub.add_parser("merge", help="validate filled sheets and add their labels to the training data")
    mg.add_argument("sheets", type=Path, nargs="+")
    mg.add_argument("--name", default="1", help="suffix of data/real_conv/{task}_active_<name>.jsonl")
    args = ap.parse_args(argv)
    if args.command == "merge":
        try:
            counts = merge(args.sheets, args.name)
        except SheetError as exc:
            print(f"error: nothing merged:\n{exc}", file=sys.stderr)
            return 2
        print(", ".join(f"{task}: {n} labelled turns" for task, n in counts.items())
              + f" -> data/real_conv/*_active_{args.name}.jsonl; run `python -m training.split` to add them to train")
        return 0
    import sdk

    if args.n < 1 or args.per_conversation < 1:
        ap.error("--n and --per-conversation must be positive")
    convs = real_conv.load(args.conversations) if args.conversations else unlabelled_pool(args.pool or None)
    items = candidate_turns(convs)
    checker = sdk.Checker(engine="auto", model_dir=args.model_dir)
    score(checker, items)
    chosen = select(items, args.n, args.per_conversation)
    write_sheet(args.out, chosen)
    tasks = Counter(x["task"] for x in chosen)
    print(f"scored {len(items)} turns of {len(convs)} conversations with engine={checker.engine}; wrote "
          f"{len(chosen)} ({dict(tasks)}) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
