"""The baseline trains and scores on a tiny split (no repository data needed)."""
import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("sklearn")  # the training stack (the 'train' extra); SDK-only installs skip this
from training import baseline  # noqa: E402

FIX = Path(__file__).parent / "fixtures" / "data" / "valid"


def test_scores_macro_f1():
    s = baseline.scores("emotion", ["angry", "angry", "neutral", "satisfied"], ["angry", "neutral", "neutral", "satisfied"])
    assert s["accuracy"] == 0.75
    assert s["per_label"]["angry"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}
    # anxious/dissatisfied have no support and count as 0 in the 5-label macro average
    assert s["macro_f1"] == round((0.6667 + 0.6667 + 1.0) / 5, 4)


def test_separate_encoding_uses_context(tmp_path):
    recs = []
    for i in range(12):
        recs.append({"id": f"a{i}", "context": "[客户已等待约2分钟]", "utterance": f"查到了，结果是{i}", "label": "missing_apology"})
        recs.append({"id": f"b{i}", "context": "你好", "utterance": f"查到了，结果是{i}", "label": "standard"})
    model = baseline.Baseline("compliance", "separate").fit(recs)
    pred = model.predict([{"context": "[客户已等待约2分钟]", "utterance": "查到了，结果是99"},
                          {"context": "你好", "utterance": "查到了，结果是99"}])
    assert pred == ["missing_apology", "standard"]


def test_run_end_to_end_on_fixture_splits(tmp_path, monkeypatch):
    d = tmp_path / "data"
    (d / "splits").mkdir(parents=True)
    recs = [json.loads(l) for l in (FIX / "emotion_ok.jsonl").read_text("utf-8").splitlines()]
    rows = []
    for i in range(6):
        for r in recs:
            rows.append(dict(r, id=f"{r['id']}-{i}", text=r["text"] + "！" * i))
    for s in ("train", "dev", "test"):
        (d / "splits" / f"emotion_{s}.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                                                         encoding="utf-8")
    monkeypatch.setattr(baseline, "load", lambda task, split: __import__("training.dataset", fromlist=["load"]).load(
        task, split, data_dir=d))
    report = baseline.run(["emotion"], curve=True)
    res = report["tasks"]["emotion"]
    assert res["encodings"]["text"]["dev"]["accuracy"] == 1.0
    assert [p["fraction"] for p in res["learning_curve"]][-1] == 1.0
    assert res["subsets"]["hand-written train only"]["skipped"] == "fewer than 2 labels in this training subset"
    assert "| angry |" in baseline.markdown(report)
