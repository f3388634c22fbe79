"""Label-safe augmentation of the hand-written TRAIN split into data/augmented/.

    python -m training.augment

Only hand-written records whose group lands in train (training.split decides) are used, so
no augmented sibling of a dev/test record can exist. Every output keeps its parent's `group`
and says how it was made in `source: augmented:<method>`:

* slot_fill     - agent numbers, customer surnames and same-industry brand names swapped (label kept).
* context_swap  - a `standard` reply with no apology put after a hold-return context becomes
                  `missing_apology`; one with no thanks put after a suggestion becomes `missing_thanks`.
* phrase_edit   - minimal pairs: the apology (thanks) clause removed from a `standard` reply in a
                  situation that calls for it -> `missing_apology` (`missing_thanks`); an apology
                  (thanks) inserted into a `missing_apology` (`missing_thanks`) reply -> `standard`.
* rude_insert   - a forbidden phrase (LABELS.md wording, written here) added to a `standard`
                  reply -> `non_compliant`.

An output whose (context, text) already exists is skipped; if it exists with another label the
transformation was not label-safe there and it is skipped and counted.
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from training import schema
from training.split import handwritten_assignment, load_sources
from training.validate import DATA_DIR

AUG_DIR = DATA_DIR / "augmented"

APOLOGY = re.compile(r"对不起|抱歉|不好意思|久等|请您原谅|请原谅|见谅|谅解|歉意|添麻烦|带来不便|sorry", re.I)
THANKS = re.compile(r"谢|感谢|不客气|别客气|不用客气|应该做的|应该的")
_CLAUSE = re.compile(r"[^，,。！!？?；;～~]+[，,。！!？?；;～~]*")

# Situations that call for an apology only / for thanks only (LABELS.md). Records of other
# scenarios are not edited: removing a phrase there would not reliably change the label.
APOLOGY_SCENARIOS = {"hold_return", "hold_request", "complaint_busy_line", "complaint_slow", "ask_repeat",
                     "cannot_hear", "equipment_fault", "complaint_error", "request_cannot_be_met"}
THANKS_SCENARIOS = {"info_supplied", "suggestion", "customer_thanks", "closing"}
# Plain replies that read naturally after another context.
SWAP_SCENARIOS = {"general_enquiry", "verify_details", "long_info", "cannot_answer_now", "transfer"}

APOLOGY_INSERT = {"hold_return": "对不起，让您久等了，", "hold_request": "对不起，", "ask_repeat": "不好意思，",
                  "cannot_hear": "不好意思，"}
THANKS_INSERT = {"info_supplied": "谢谢您的配合，", "suggestion": "谢谢您的建议，", "customer_thanks": "不客气，"}

HOLD_RETURN_CONTEXTS = ["[客户已等待约2分钟] 喂？还有人吗？", "[通话保持中，客户等待了90秒]", "[客户已等待约1分钟]",
                        "[通话保持中，客户等待了3分钟] 查到了没有？"]
SUGGESTION_CONTEXTS = ["我建议你们把营业时间延长一点，下班了根本来不及办", "你们的短信通知能不能写清楚一点，我看了半天没看懂",
                       "提个意见，你们APP的客服入口太难找了", "希望你们以后上门前能提前打个电话"]
RUDE_PREFIX = ["你听好了，", "说了多少遍了，", "烦不烦啊，", "喂，听清楚没有，"]
RUDE_SUFFIX = ["，这都不懂吗？", "，自己不会看啊？", "，别再问了。", "，听明白了没有？"]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
_NAME = re.compile(r"([王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高])(先生|女士|小姐|师傅|阿姨|大爷)")
_AGENT_NO = re.compile(r"(工号|编号为?|我是)(\d{3,5})")
# Interchangeable organisation names within one industry.
BRANDS = [("中国移动", "中国联通", "中国电信"), ("移动客服", "联通客服", "电信客服"), ("工商银行", "建设银行", "农业银行", "招商银行"),
          ("顺丰", "中通", "圆通", "韵达"), ("美团", "饿了么"), ("平安保险", "太平洋保险", "人寿保险")]
COURTESY = re.compile(r"很高兴|荣幸|乐意|客气")
def _pick(options: Sequence[str], key: str) -> str:
    return options[int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) % len(options)]


def _tidy(text: str) -> str:
    text = re.sub(r"^[，,。；;、\s]+", "", text)
    text = re.sub(r"([，,])\s*([。！!？?])", r"\2", text).strip()
    return re.sub(r"[，,、；;]$", "。", text)


def drop_clauses(text: str, pattern: re.Pattern) -> Optional[str]:
    """The text without the clauses matching pattern; None if nothing sensible is left."""
    kept = [c for c in _CLAUSE.findall(text) if not pattern.search(c)]
    out = _tidy("".join(kept))
    if len(re.sub(r"\W", "", out)) < 4 or pattern.search(out):
        return None
    return out


def slot_fill(text: str, key: str, context: Optional[str] = None) -> Optional[str]:
    """Another agent number, customer surname or same-industry brand. Only slots the context
    does not mention are changed, so the reply never contradicts what the customer said."""
    ctx = context or ""

    def name(m: re.Match) -> str:
        if m.group(1) in ctx:
            return m.group(0)
        return _pick([c for c in SURNAMES if c != m.group(1)], key + m.group(0)) + m.group(2)

    def agent_no(m: re.Match) -> str:
        h = hashlib.sha1((key + m.group(2)).encode("utf-8")).hexdigest()
        return m.group(1) + "".join(str(int(c, 16) % 9 + 1) for c in h[: len(m.group(2))])

    out = _AGENT_NO.sub(agent_no, _NAME.sub(name, text))
    for family in BRANDS:
        for b in family:
            if b in out and b not in ctx and not any(o in out for o in family if o != b and b not in o):
                out = out.replace(b, _pick([o for o in family if o != b], key + b))
                break
    return out if out != text else None


def compliance_variants(r: dict) -> Iterator[Tuple[str, Optional[str], str, str, str]]:
    """(method, context, utterance, label, scenario) for one hand-written record."""
    utt, ctx, label, scen, rid = r["utterance"], r["context"], r["label"], r["scenario"], r["id"]
    filled = slot_fill(utt, rid, ctx)
    if filled:
        yield "slot_fill", ctx, filled, label, scen
    if label == "standard" and scen in SWAP_SCENARIOS:
        if not APOLOGY.search(utt):
            yield "context_swap", _pick(HOLD_RETURN_CONTEXTS, rid), utt, "missing_apology", "hold_return"
        if not THANKS.search(utt) and not APOLOGY.search(utt):
            yield "context_swap", _pick(SUGGESTION_CONTEXTS, rid), utt, "missing_thanks", "suggestion"
    if label == "standard" and scen in APOLOGY_SCENARIOS and APOLOGY.search(utt):
        cut = drop_clauses(utt, APOLOGY)
        if cut:
            yield "phrase_edit", ctx, cut, "missing_apology", scen
    if label == "standard" and scen in THANKS_SCENARIOS and THANKS.search(utt) and not APOLOGY.search(utt):
        cut = drop_clauses(utt, THANKS)
        if cut and not COURTESY.search(cut):  # "很高兴为您服务" already answers thanks
            yield "phrase_edit", ctx, cut, "missing_thanks", scen
    # A hold request needs consent as well as an apology; only add the apology where consent is there.
    consent_ok = scen != "hold_request" or bool(re.search(r"好吗|可以吗|行吗|方便", utt))
    if label == "missing_apology" and scen in APOLOGY_INSERT and consent_ok and not APOLOGY.search(utt):
        yield "phrase_edit", ctx, APOLOGY_INSERT[scen] + utt, "standard", scen
    if label == "missing_thanks" and scen in THANKS_INSERT and not THANKS.search(utt):
        yield "phrase_edit", ctx, THANKS_INSERT[scen] + utt, "standard", scen
    if label == "missing_thanks" and scen == "closing" and "再见" in utt and not THANKS.search(utt):
        yield "phrase_edit", ctx, utt.replace("再见", "感谢您的来电，再见", 1), "standard", scen
    if label == "standard" and int(hashlib.sha1(rid.encode()).hexdigest()[:2], 16) < 64:  # about 1 in 4
        body = utt.rstrip("。！!")
        rude = (_pick(RUDE_PREFIX, rid) + utt) if int(hashlib.sha1(rid.encode()).hexdigest()[2], 16) % 2 \
            else body + _pick(RUDE_SUFFIX, rid)
        yield "rude_insert", ctx, rude, "non_compliant", scen


def emotion_variants(r: dict) -> Iterator[Tuple[str, None, str, str, None]]:
    filled = slot_fill(r["text"], r["id"])
    if filled:
        yield "slot_fill", None, filled, r["label"], None


def augment(sources: Dict[str, List[dict]]) -> Tuple[Dict[str, List[dict]], Counter]:
    out: Dict[str, List[dict]] = {}
    stats: Counter = Counter()
    for task in schema.TASKS:
        records = sources[task]
        assignment, _ = handwritten_assignment(task, records)
        text_field = schema.TEXT_FIELD[task]
        seen = {((r.get("context") or ""), r[text_field].strip()): r["label"] for r in records}
        made: List[dict] = []
        for r in records:
            if r["source"] != "handwritten" or assignment[r["group"]] != "train":
                continue
            variants = compliance_variants(r) if task == "compliance" else emotion_variants(r)
            for k, (method, ctx, text, label, scen) in enumerate(variants):
                key = (ctx or "", text.strip())
                if key in seen:
                    stats["skipped: same label exists" if seen[key] == label else "skipped: label conflict"] += 1
                    continue
                seen[key] = label
                rec = {"id": f"aug-{method}-{r['id']}-{k}"}
                if task == "compliance":
                    rec.update(context=ctx, utterance=text, label=label, scenario=scen)
                else:
                    rec.update(text=text, label=label)
                rec.update(source=f"augmented:{method}", license=schema.PROJECT_LICENSE, group=r["group"],
                           domain=r["domain"])
                made.append(rec)
                stats[f"{task} {method}"] += 1
        out[task] = made
    return out, stats


def write(data_dir: Path = DATA_DIR) -> Counter:
    sources = load_sources(data_dir)
    # Earlier augmented output must not feed itself.
    sources = {t: [r for r in recs if schema.source_kind(r["source"]) != "augmented"] for t, recs in sources.items()}
    made, stats = augment(sources)
    aug_dir = data_dir / "augmented"
    aug_dir.mkdir(parents=True, exist_ok=True)
    for task, recs in made.items():
        path = aug_dir / f"{task}_augmented.jsonl"
        if not recs:
            path.unlink(missing_ok=True)
            continue
        with path.open("w", encoding="utf-8") as fh:
            for r in recs:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return stats


def main() -> int:
    from training.validate import DataError
    try:
        stats = write()
    except DataError as e:
        print(e, file=sys.stderr)
        return 1
    for k, v in sorted(stats.items()):
        print(f"{v:6d}  {k}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
