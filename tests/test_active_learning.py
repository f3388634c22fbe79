"""Active learning: ranking unlabelled turns for diversity, and merging labelled sheets back."""
import json

import pytest

from training import active_learning as al
from training.validate import validate_files


def _item(conv, i, task, label, priority, text=None):
    return {"item_id": f"{conv}#{i}", "conv_id": conv, "i": i, "task": task, "sdk_label": label,
            "priority": priority, "text": text or f"{conv}-{i}", "source": "real:jddc2019",
            "licence": "research-only", "context": [{"role": "customer", "text": "在吗"}]}


def test_select_takes_uncertain_first_but_spreads_over_conversations_labels_and_texts():
    items = [_item("c1", i, "compliance", "standard", 0.9 - i / 100) for i in range(5)]
    items += [_item("c2", 1, "compliance", "missing_apology", 0.2), _item("c3", 1, "compliance", "standard", 0.85,
                                                                          text="c1-0")]
    chosen = al.select(items, 4, per_conversation=2)
    ids = [x["item_id"] for x in chosen]
    assert ids[0] == "c1#0" and "c2#1" in ids  # the rare predicted label is read although less uncertain
    assert sum(x["conv_id"] == "c1" for x in chosen) == 2 and "c3#1" not in ids  # per-conversation cap, same text


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_sheet_round_trip_and_merge_writes_training_records(tmp_path, suffix):
    items = [dict(_item("jddc2019-x", 1, "compliance", "standard", 0.5), sdk_confidence=0.5, rules_label=""),
             dict(_item("jddc2019-x", 2, "emotion", "neutral", 0.4), sdk_confidence=0.6, rules_label="")]
    sheet = tmp_path / f"sheet{suffix}"
    al.write_sheet(sheet, items)
    rows = [r for _, r in al.read_sheet(sheet)]
    rows[0]["label"], rows[1]["label"] = "missing_apology", "anxious"
    filled = tmp_path / f"filled{suffix}"
    if suffix == ".csv":
        import csv

        with filled.open("w", encoding="utf-8-sig", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    else:
        filled.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    counts = al.merge([filled], "t", out_dir=tmp_path / "out")
    assert counts == {"compliance": 1, "emotion": 1}
    problems, loaded = validate_files(sorted((tmp_path / "out").glob("*.jsonl")))
    assert not problems
    comp = loaded[tmp_path / "out" / "compliance_active_t.jsonl"][0]
    assert comp["label"] == "missing_apology" and comp["context"] == [{"role": "customer", "text": "在吗"}]


def test_merge_refuses_bad_labels_conflicts_and_held_out_conversations(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "labels.jsonl").write_text(json.dumps({"conv_id": "jddc2019-blind", "i": 1, "split": "blind"}) + "\n")
    base = {"task": "compliance", "source": "real:jddc2019", "text": "好的", "context": "[]"}
    rows = [dict(base, item_id="a#1", conv_id="a", i=1, label="rude"),
            dict(base, item_id="b#1", conv_id="b", i=1, label="standard"),
            dict(base, item_id="b#1", conv_id="b", i=1, label="missing_thanks"),
            dict(base, item_id="jddc2019-blind#1", conv_id="jddc2019-blind", i=1, label="standard")]
    sheet = tmp_path / "s.jsonl"
    sheet.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(al.SheetError) as err:
        al.merge([sheet], "t", out_dir=out)
    msg = str(err.value)
    assert "s.jsonl:1: label 'rude'" in msg and "s.jsonl:3: b#1 labelled" in msg and "s.jsonl:4: conversation" in msg
    assert not list(out.glob("*_active_*"))
