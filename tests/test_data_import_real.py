"""Real-data import: clean-up, mapping tables, review sheets and caps."""
import csv
import json
from collections import Counter

import pytest

from training import import_real, schema


def test_clean_dialogue_replaces_placeholders():
    out = import_real.clean_dialogue("您的[订单x]金额[金额x]，#E-s[数字x]稍等[数字x]分钟")
    assert "[" not in out and "订单号81234567" in out and "99元" in out and "#E" not in out


def test_clean_weibo_strips_noise():
    assert import_real.clean_weibo("@中国联通 网速太慢了[怒] #投诉# http://t.cn/abc") == "网速太慢了"


def test_mapping_tables_use_our_labels():
    for table in import_real.EMOTION_MAPS.values():
        assert set(v for v in table.values() if v) <= set(schema.LABELS["emotion"])


def _tsv(name):
    with (import_real.REVIEW_DIR / name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


@pytest.mark.parametrize("cands, review, labels", [
    ("compliance_candidates.tsv", "compliance_review.tsv", set(schema.LABELS["compliance"]) | {"drop"}),
    ("emotion_candidates.tsv", "emotion_review.tsv", set(schema.LABELS["emotion"]) | {"drop"}),
    ("emotion_candidates_focus.tsv", "emotion_review_focus.tsv", set(schema.LABELS["emotion"]) | {"drop"}),
])
def test_every_candidate_was_reviewed(cands, review, labels):
    c, r = _tsv(cands), _tsv(review)
    assert [x["key"] for x in c] == [x["key"] for x in r]
    assert {x["label"] for x in r} <= labels
    if "scenario" in r[0]:
        assert {x["scenario"] for x in r} <= set(schema.SCENARIOS)


def test_real_files_are_capped_and_licensed():
    files = sorted(import_real.REAL_DIR.glob("emotion_*.jsonl"))
    if not files:
        pytest.skip("data/real not built")
    for path in files:
        recs = [json.loads(l) for l in path.read_text("utf-8").splitlines()]
        assert len(recs) <= 5 * import_real.MAX_PER_LABEL
        assert max(Counter(r["label"] for r in recs).values()) <= import_real.MAX_PER_LABEL
        for r in recs:
            assert r["license"] == schema.REAL_DATASETS[r["source"].split(":")[1]]
