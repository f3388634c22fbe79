"""Readers' labels of real conversations -> final labels, agreement, conversation split, records."""
import json

import pytest

from training import real_labels
from training.validate import open_text, validate_files

CONVS = [
    {"conv_id": f"jddc2019-c{k}", "source": "real:jddc2019", "licence": "research-only", "channel": "chat",
     "turns": [{"i": 0, "role": "customer", "text": "在吗"}, {"i": 1, "role": "agent", "text": "请您稍等"},
               {"i": 2, "role": "customer", "text": "好的"}, {"i": 3, "role": "agent", "text": "查到了"}]}
    for k in range(8)
]


def _write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture()
def setup(tmp_path):
    conv_path = tmp_path / "conversations.jsonl"
    _write(conv_path, CONVS)
    lab = tmp_path / "labelling"
    lab.mkdir()
    a, b = [], []
    for c in CONVS:
        for i, (la, lb) in enumerate([("neutral", "neutral"), ("missing_apology", "standard"),
                                      ("neutral", "anxious"), ("missing_apology", "missing_apology")]):
            a.append({"conv_id": c["conv_id"], "i": i, "label": la})
            b.append({"conv_id": c["conv_id"], "i": i, "label": lb})
    _write(lab / "readerA_part1.jsonl", a)
    _write(lab / "readerB_part1.jsonl", b)
    return tmp_path, conv_path, lab


def test_disagreements_need_adjudication(setup):
    tmp, conv_path, lab = setup
    with pytest.raises(real_labels.LabelError, match="no final label"):
        real_labels.import_labels(lab, tmp / "out", conversations=conv_path)


def test_import_writes_valid_split_records_and_kappa(setup):
    pytest.importorskip("sklearn")  # Cohen's kappa; the 'train' extra
    tmp, conv_path, lab = setup
    adj = [{"conv_id": c["conv_id"], "i": i, "label": lab_} for c in CONVS for i, lab_ in ((1, "missing_apology"),
                                                                                          (2, real_labels.UNCLEAR))]
    _write(lab / "adjudicated.jsonl", adj)
    out = tmp / "out"
    counts = real_labels.import_labels(lab, out, conversations=conv_path)
    assert counts["compliance_blind"] == 2 * 2 and counts["emotion_blind"] == 2  # 2 of 8 conversations; turn 2 unclear
    assert sum(v for k, v in counts.items() if k.startswith("compliance")) == 16
    problems, loaded = validate_files(sorted(out.glob("*_*.jsonl*")))
    for split in real_labels.SPLITS:  # all xz: the tracked tree must fit what a device call carries
        assert (out / f"compliance_{split}.jsonl.xz").exists() and not (out / f"compliance_{split}.jsonl").exists()
    assert not problems
    rec = next(r for recs in loaded.values() for r in recs if r.get("turn") == 3)
    assert rec["label"] == "missing_apology" and [t["role"] for t in rec["context"]] == ["customer", "agent", "customer"]
    agree = json.loads((out / "agreement.json").read_text())
    assert agree["all"]["compliance"]["agreement"] == 0.5 and agree["real:jddc2019"]["emotion"]["kappa"] == 0.0


def test_bad_label_names_file_line_and_value(setup):
    tmp, conv_path, lab = setup
    _write(lab / "readerB_part2.jsonl", [{"conv_id": "jddc2019-c0", "i": 1, "label": "angry"}])
    with pytest.raises(real_labels.LabelError, match=r"readerB_part2.jsonl:1: label 'angry' for a compliance item"):
        real_labels.import_labels(lab, tmp / "out", conversations=conv_path)


def test_split_is_by_conversation_and_keeps_a_blind_fifth():
    convs = [dict(CONVS[0], conv_id=f"x{k}", source=s) for k in range(40) for s in ("real:a", "real:b")][:80]
    split = real_labels.split_of_conversations(convs)
    for s in ("real:a", "real:b"):
        mine = [split[c["conv_id"]] for c in convs if c["source"] == s]
        assert mine.count("blind") / len(mine) >= 0.2 and mine.count("dev") >= 1


def test_a_later_batch_keeps_earlier_labels_and_splits(setup):
    pytest.importorskip("sklearn")
    tmp, conv_path, lab = setup
    _write(lab / "adjudicated.jsonl", [{"conv_id": c["conv_id"], "i": i, "label": "missing_apology" if i == 1 else "neutral"}
                                       for c in CONVS for i in (1, 2)])
    later = [dict(c, conv_id=c["conv_id"].replace("-c", "-n"), batch=2) for c in CONVS]
    _write(conv_path, CONVS + later)
    out = tmp / "out"
    real_labels.import_labels(lab, out, conversations=conv_path)  # batch 1; batch 2 is not labelled yet
    first = real_labels.read_label_rows(out)
    assert not any("-n" in r["conv_id"] for r in first) and "-n" not in open_text(out / "compliance_blind.jsonl.xz").read()
    lab2 = tmp / "labelling2"
    lab2.mkdir()
    rows = [{"conv_id": c["conv_id"], "i": i, "label": "standard" if i % 2 else "satisfied"} for c in later for i in range(4)]
    _write(lab2 / "readerA_part1.jsonl", rows)
    _write(lab2 / "readerB_part3.jsonl", rows)
    counts = real_labels.import_labels(lab2, out, conversations=conv_path, batch=2)
    labels = real_labels.read_label_rows(out)
    old = [r for r in labels if "-c" in r["conv_id"]]
    assert old == first  # batch 1: labels and splits unchanged
    new_split = {r["conv_id"]: r["split"] for r in labels if "-n" in r["conv_id"]}
    assert len(new_split) == 8 and list(new_split.values()).count("blind") == 2  # the same rule, within batch 2
    assert sum(counts.values()) == 2 * 8 * 4  # every turn of both batches
    agree = json.loads((out / "agreement.json").read_text())
    assert agree["all"]["compliance"]["n"] == 32  # both batches' reader pairs


def test_adjudication_sheet_marks_only_disputed_turns_without_naming_readers(setup):
    tmp, conv_path, lab = setup
    sheet = real_labels.adjudication_sheet(lab, conversations=conv_path)
    decide = [line for line in sheet.splitlines() if "<<< DECIDE" in line]
    assert len(decide) == 2 * len(CONVS)  # turns 1 and 2 of every conversation; turns 0 and 3 agreed
    assert all(line.split()[0].endswith(("#1", "#2")) for line in decide)
    assert {line.split("DECIDE: ")[1] for line in decide if line.split()[0].endswith("#1")} <= {
        "missing_apology / standard", "standard / missing_apology"}
    assert "reader" not in sheet.lower()
