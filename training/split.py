"""Grouped, deterministic train/dev/test splits of the labelled data.

    python -m training.split            # write data/splits/{compliance,emotion}_{train,dev,test}.jsonl
    python -m training.split --report   # also rewrite the count tables in data/README.md

Rules:
* Hand-written records are split by *component*: groups joined by their `group` id, and two
  groups are joined when any of their texts (compliance: the utterance) are the same after
  normalisation (digits, names, punctuation removed) or near-identical (character 5-gram
  Jaccard >= 0.8). A component goes to train/dev/test by a hash of its smallest group id
  (about 70/15/15), so the split never depends on file order or on other components.
* The second reader's data/review/corrections.jsonl is applied first (relabel or drop).
* Test holds hand-written records only. Real and augmented records go to train; one that
  belongs to (same group) or nearly duplicates a dev/test component is dropped instead, so
  nothing seen in training leaks into evaluation.
* Labelled turns of real conversations (data/real_conv/, split by conversation in
  training.real_labels) join train and dev as split there; their blind part never enters a split.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import math
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from training import schema
from training.validate import DATA_DIR, DataError, Problem, default_paths, validate_files

SPLITS = ("train", "dev", "test")
FRACTIONS = (0.70, 0.15, 0.15)
JACCARD = 0.8
NGRAM = 5

_EVENT = re.compile(r"\[[^\]]*\]")
_NAME = re.compile(r"[\u4e00-\u9fff](?:先生|女士|小姐|师傅|老师|经理)|小[\u4e00-\u9fff](?=[，,。！!？?\s]|$|为您|很高兴)|我是[\u4e00-\u9fff]{1,3}(?=[，,。])")
_DROP = re.compile(r"[\d\s\W_a-zA-Z]+")


def normalise(text: str) -> str:
    """Text with events, digits, common name patterns, latin letters and punctuation removed."""
    text = _EVENT.sub("", text)
    text = _NAME.sub("", text)
    return _DROP.sub("", text)


def ngrams(norm: str) -> frozenset:
    if len(norm) < NGRAM:
        return frozenset({norm}) if norm else frozenset()
    return frozenset(norm[i:i + NGRAM] for i in range(len(norm) - NGRAM + 1))


def split_of(component_key: str) -> str:
    h = int(hashlib.sha1(component_key.encode("utf-8")).hexdigest()[:8], 16) / 2 ** 32
    return "train" if h < FRACTIONS[0] else "dev" if h < FRACTIONS[0] + FRACTIONS[1] else "test"


class _UnionFind:
    def __init__(self) -> None:
        self.parent: Dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:  # the smaller id becomes the root, so the root is the component key
            lo, hi = sorted((ra, rb))
            self.parent[hi] = lo


class NearDupIndex:
    """Jaccard >= JACCARD lookups over n-gram sets with prefix filtering (rare grams first)."""

    def __init__(self, sets: Sequence[frozenset]):
        df = Counter(g for s in sets for g in s)
        self._rank = {g: (c, g) for g, c in df.items()}
        self._sets = list(sets)
        self._index: Dict[str, List[int]] = defaultdict(list)
        for i, s in enumerate(self._sets):
            for g in self._prefix(s):
                self._index[g].append(i)

    def _prefix(self, s: frozenset) -> List[str]:
        ordered = sorted(s, key=lambda g: self._rank.get(g, (0, g)))
        return ordered[: len(s) - math.ceil(JACCARD * len(s)) + 1] if s else []

    def matches(self, s: frozenset) -> Set[int]:
        found = set()
        for g in self._prefix(s):
            for i in self._index.get(g, ()):
                if i in found:
                    continue
                other = self._sets[i]
                inter = len(s & other)
                if inter and inter / (len(s) + len(other) - inter) >= JACCARD:
                    found.add(i)
        return found


def _text(task: str, rec: dict) -> str:
    return rec[schema.TEXT_FIELD[task]]


def handwritten_assignment(task: str, records: Sequence[dict]) -> Tuple[Dict[str, str], "_Linker"]:
    """{group: split} for the hand-written records of one task, and a linker that finds which
    hand-written groups another text nearly duplicates."""
    hw = [r for r in records if r["source"] == "handwritten"]
    uf = _UnionFind()
    for r in hw:
        uf.find(r["group"])
    linker = _Linker(task, hw)
    by_norm: Dict[str, str] = {}
    for r, norm in zip(hw, linker.norms):
        if norm in by_norm:
            uf.union(by_norm[norm], r["group"])
        else:
            by_norm[norm] = r["group"]
    for i, r in enumerate(hw):
        for j in linker.index.matches(linker.sets[i]):
            uf.union(r["group"], hw[j]["group"])
    return {g: split_of(uf.find(g)) for g in uf.parent}, linker


class _Linker:
    def __init__(self, task: str, hw: Sequence[dict]):
        self.task = task
        self.groups = [r["group"] for r in hw]
        self.norms = [normalise(_text(task, r)) for r in hw]
        self.sets = [ngrams(n) for n in self.norms]
        self.index = NearDupIndex(self.sets)
        self._by_norm: Dict[str, Set[str]] = defaultdict(set)
        for n, g in zip(self.norms, self.groups):
            self._by_norm[n].add(g)

    def linked_groups(self, text: str) -> Set[str]:
        norm = normalise(text)
        out = set(self._by_norm.get(norm, ()))
        out.update(self.groups[i] for i in self.index.matches(ngrams(norm)))
        return out


CORRECTIONS = Path("review") / "corrections.jsonl"


def load_corrections(data_dir: Path, known: Dict[str, dict]) -> Tuple[Dict[str, Optional[str]], List[Problem]]:
    """The second reader's {id: new label, or None = drop} for hand-written records."""
    path = data_dir / CORRECTIONS
    out: Dict[str, Optional[str]] = {}
    problems: List[Problem] = []
    if not path.exists():
        return out, problems
    for n, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            c = json.loads(line)
            rid, new = c["id"], c["new_label"]
        except (ValueError, KeyError, TypeError) as e:
            problems.append(Problem(str(path), n, f"unreadable correction ({e}), expected JSON with 'id' and 'new_label'"))
            continue
        rec = known.get(rid)
        if rec is None and new is None:
            continue  # a drop the writer has already made by deleting the record
        if rec is None or rec["source"] != "handwritten":
            problems.append(Problem(str(path), n, f"relabel for unknown id {rid!r}, expected a hand-written record id"))
            continue
        task = "compliance" if "utterance" in rec else "emotion"
        if new is not None and new not in schema.LABELS[task]:
            problems.append(Problem(str(path), n, f"new_label {new!r} is not a {task} label, expected one of "
                                                  f"{', '.join(schema.LABELS[task])} or null (drop)"))
            continue
        out[rid] = new
    return out, problems


def load_sources(data_dir: Path = DATA_DIR, corrections: bool = True) -> Dict[str, List[dict]]:
    """All source records per task, with data/review/corrections.jsonl applied (relabel, or
    drop where new_label is null). Refuses (DataError) if any file breaks the schema."""
    problems, loaded = validate_files(default_paths(data_dir))
    known = {r["id"]: r for recs in loaded.values() for r in recs}
    fixes, more = load_corrections(data_dir, known) if corrections else ({}, [])
    if problems or more:
        raise DataError(problems + more)
    out: Dict[str, List[dict]] = {t: [] for t in schema.TASKS}
    for path, recs in loaded.items():
        for r in recs:
            if r["id"] in fixes:
                if fixes[r["id"]] is None:
                    continue
                r = dict(r, label=fixes[r["id"]])
            out["compliance" if "utterance" in r else "emotion"].append(r)
    return out


def make_splits(task: str, records: Sequence[dict]) -> Tuple[Dict[str, List[dict]], Counter]:
    """(records per split, counts of records dropped by reason)."""
    assignment, linker = handwritten_assignment(task, records)
    out: Dict[str, List[dict]] = {s: [] for s in SPLITS}
    dropped: Counter = Counter()
    for r in records:
        if r["source"] == "handwritten":
            out[assignment[r["group"]]].append(r)
            continue
        kind = schema.source_kind(r["source"])
        linked = linker.linked_groups(_text(task, r))
        if r.get("group") in assignment:
            linked.add(r["group"])
        elif kind == "augmented":
            dropped["augmented: parent group not hand-written"] += 1
            continue
        if any(assignment[g] != "train" for g in linked):
            dropped[f"{kind}: linked to a dev/test group"] += 1
            continue
        out["train"].append(r)
    for s in SPLITS:
        out[s].sort(key=lambda r: r["id"])
    return out, dropped


REAL_CONV = Path("real_conv")


def load_real_conv(data_dir: Path = DATA_DIR) -> Dict[str, Dict[str, List[dict]]]:
    """Labelled turns of real conversations, already split by conversation (training.real_labels):
    {task: {"train": [...], "dev": [...]}}. The blind part is never read here."""
    out: Dict[str, Dict[str, List[dict]]] = {t: {"train": [], "dev": []} for t in schema.TASKS}
    paths = [data_dir / REAL_CONV / f"{t}_{s}.jsonl{x}" for t in schema.TASKS for s in ("train", "dev") for x in ("", ".xz")]
    # Turns a QA team labelled through training.active_learning: training data only.
    paths = [p for p in paths if p.exists()] + sorted((data_dir / REAL_CONV).glob("*_active_*.jsonl"))
    problems, loaded = validate_files(paths)
    if problems:
        raise DataError(problems)
    for path, recs in loaded.items():
        task, split = path.name.split(".", 1)[0].split("_", 1)
        out[task]["train" if split.startswith("active_") else split] += recs
    return out


def add_real_conv(task: str, splits: Dict[str, List[dict]], real: Dict[str, List[dict]], dropped: Counter) -> None:
    """Real-conversation turns join train / dev as split; an older single-turn record of the same
    dialogue (data/real/, group "real-<conv_id>") is superseded by the twice-read conversation."""
    convs = {r["conv_id"] for recs in real.values() for r in recs}
    if not convs:
        return
    kept = [r for r in splits["train"] if not (r.get("group", "").startswith("real-") and r["group"][5:] in convs)]
    if len(kept) < len(splits["train"]):
        dropped["real: superseded by a labelled real conversation"] += len(splits["train"]) - len(kept)
    # As for other real records: a turn that nearly duplicates a hand-written dev/test text stays out of train.
    assignment, linker = handwritten_assignment(task, [r for recs in splits.values() for r in recs
                                                       if r["source"] == "handwritten"])
    real_train = []
    for r in real["train"]:
        if any(assignment.get(g) != "train" for g in linker.linked_groups(_text(task, r))):
            dropped["real conversation turn: near-duplicate of a dev/test text"] += 1
        else:
            real_train.append(r)
    splits["train"] = sorted(kept + real_train, key=lambda r: r["id"])
    splits["dev"] = sorted(splits["dev"] + real["dev"], key=lambda r: r["id"])


def write_split(path: Path, records: List[dict], compress: bool) -> None:
    """One split as JSONL; compressed as ``path``.xz (and the plain file removed) when ``compress``:
    the train and dev splits are most of the data's bytes, and a device call carries the tracked tree."""
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    stale = path if compress else path.with_name(path.name + ".xz")
    stale.unlink(missing_ok=True)
    if compress:
        path.with_name(path.name + ".xz").write_bytes(lzma.compress(text.encode("utf-8"), preset=9))
    else:
        path.write_text(text, encoding="utf-8")


def write_splits(data_dir: Path = DATA_DIR) -> Dict[str, Dict[str, List[dict]]]:
    sources = load_sources(data_dir)
    real = load_real_conv(data_dir)
    result = {}
    split_dir = data_dir / "splits"
    split_dir.mkdir(parents=True, exist_ok=True)
    for task in schema.TASKS:
        splits, dropped = make_splits(task, sources[task])
        add_real_conv(task, splits, real[task], dropped)
        result[task] = splits
        for s, recs in splits.items():
            write_split(split_dir / f"{task}_{s}.jsonl", recs, compress=s in ("train", "dev"))
        sizes = ", ".join(f"{s} {len(v)}" for s, v in splits.items())
        drops = "; ".join(f"{k}: {v}" for k, v in sorted(dropped.items())) or "none"
        print(f"{task}: {sizes} (dropped: {drops})")
    return result


# --- datasheet tables (data/README.md, between <!-- BEGIN name --> / <!-- END name --> markers) ---

README = DATA_DIR / "README.md"


def rewrite_readme_section(name: str, body: str, readme: Path = README) -> None:
    """Replace the text between the markers of section `name`; the markers must exist."""
    begin, end = f"<!-- BEGIN {name} (generated) -->", f"<!-- END {name} -->"
    text = readme.read_text("utf-8")
    if begin not in text or end not in text:
        raise ValueError(f"{readme} has no {begin} ... {end} markers; add them where the table belongs")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{begin}\n{body.strip()}\n{end}{tail}", encoding="utf-8")


def _md_table(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def sources_table(sources: Dict[str, List[dict]]) -> str:
    rows: Dict[Tuple[str, str], Counter] = defaultdict(Counter)
    for task, recs in sources.items():
        for r in recs:
            rows[(r["source"], r["license"])][task] += 1
    body = [(src, lic, "yes" if lic in schema.PERMISSIVE_LICENSES else "**no**", c["compliance"], c["emotion"])
            for (src, lic), c in sorted(rows.items())]
    return _md_table(["source", "licence", "permissive (kept by `permissive_only=True`)", "compliance", "emotion"], body)


def counts_tables(result: Dict[str, Dict[str, List[dict]]]) -> str:
    parts = []
    for task, splits in result.items():
        labels = schema.LABELS[task]
        body = []
        for s in SPLITS:
            by_src: Dict[str, Counter] = defaultdict(Counter)
            for r in splits[s]:
                by_src[r["source"]][r["label"]] += 1
            for src in sorted(by_src):
                c = by_src[src]
                body.append([s, src] + [c[lab] for lab in labels] + [sum(c.values())])
            tot = Counter(r["label"] for r in splits[s])
            body.append([f"**{s} total**", ""] + [tot[lab] for lab in labels] + [len(splits[s])])
        parts.append(f"**{task}**\n\n" + _md_table(["split", "source"] + list(labels) + ["total"], body))
    return "\n\n".join(parts)


def mapping_tables() -> str:
    from training.import_real import EMOTION_MAPS
    parts = []
    for corpus, table in EMOTION_MAPS.items():
        rows = [(raw, mapped or "*dropped*") for raw, mapped in table.items()]
        parts.append(f"**{corpus}**\n\n" + _md_table(["original label", "our label"], rows))
    return "\n\n".join(parts)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--report", action="store_true", help="also rewrite the count tables in data/README.md")
    args = ap.parse_args(argv)
    try:
        result = write_splits()
    except DataError as e:
        print(e, file=sys.stderr)
        return 1
    if args.report:
        sources = load_sources()
        rewrite_readme_section("sources", sources_table(sources))
        rewrite_readme_section("counts", counts_tables(result))
        rewrite_readme_section("mapping", mapping_tables())
        print(f"rewrote the generated tables in {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
