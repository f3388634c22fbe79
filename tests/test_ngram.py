"""The numpy n-gram engine reproduces the sklearn baseline it was exported from."""
import numpy as np
import pytest

pytest.importorskip("sklearn")
from scipy.sparse import hstack  # noqa: E402

from sdk.engines.ngram_engine import NgramModel  # noqa: E402
from training.baseline import Baseline  # noqa: E402
from training.ngram import export  # noqa: E402

COMPLIANCE = [
    {"context": None, "utterance": "您好，请问有什么可以帮您？", "label": "standard"},
    {"context": "[客户已等待约2分钟] 喂？", "utterance": "好的，我帮您查一下。", "label": "missing_apology"},
    {"context": "[客户已等待约2分钟] 喂？", "utterance": "对不起，让您久等了。", "label": "standard"},
    {"context": "我建议你们周末也开门", "utterance": "好的。", "label": "missing_thanks"},
    {"context": "我建议你们周末也开门", "utterance": "感谢您的建议！", "label": "standard"},
    {"context": "我的账单不对", "utterance": "不知道，自己去查。", "label": "non_compliant"},
    {"context": None, "utterance": "喂，说话呀！  快点", "label": "non_compliant"},
    {"context": "谢谢你啊", "utterance": "嗯。", "label": "missing_thanks"},
]


def test_export_round_trip_matches_sklearn(tmp_path):
    model = Baseline("compliance", "separate").fit(COMPLIANCE * 3)
    paths = export(model, tmp_path)
    assert sorted(p.name for p in paths) == ["ngram_compliance.f16", "ngram_compliance.json"]
    ours = NgramModel(tmp_path / "ngram_compliance")
    probe = COMPLIANCE + [{"context": "ABC 没见过的字", "utterance": "ＯＫ，Hello  World", "label": "standard"},
                          {"context": None, "utterance": "全新句子完全陌生", "label": "standard"},
                          {"context": "", "utterance": " \t\n ", "label": "standard"},
                          {"context": "好", "utterance": "😀您好😀，谢谢\n\n您", "label": "standard"},
                          {"context": "İSTANBUL 谢谢", "utterance": "好的。好的。好的。", "label": "standard"}]
    cols = model._columns(probe)
    expected = model.clf.predict_proba(hstack([v.transform(c) for v, c in zip(model.vecs, cols)]).tocsr())
    got = ours.predict_proba(list(zip(*cols)))
    assert ours.labels == list(model.clf.classes_)
    np.testing.assert_allclose(got, expected, atol=2e-3)  # float16 weights
    assert (got.argmax(1) == expected.argmax(1)).all()
    order = ["standard", "non_compliant", "missing_apology", "missing_thanks"]
    reordered = ours.predict_proba_in(list(zip(*cols)), order)
    assert np.allclose(reordered[:, 0], got[:, ours.labels.index("standard")])


def test_wrong_format_is_refused(tmp_path):
    (tmp_path / "m.json").write_text('{"format": "other"}', encoding="utf-8")
    (tmp_path / "m.f16").write_bytes(b"")
    with pytest.raises(ValueError, match="format"):
        NgramModel(tmp_path / "m")


def test_dialogue3_round_trip_matches_sklearn(tmp_path):
    from sdk.dialogue import ngram_rows

    recs = [dict(r, context=[{"role": "agent", "text": "请稍等"}, {"role": "customer", "text": r["context"]}])
            if r["context"] else r for r in COMPLIANCE]
    model = Baseline("compliance", "dialogue3").fit(recs * 3)
    export(model, tmp_path)
    ours = NgramModel(tmp_path / "ngram_compliance")
    cols = model._columns(recs)
    expected = model.clf.predict_proba(hstack([v.transform(c) for v, c in zip(model.vecs, cols)]).tocsr())
    rows = ngram_rows([r["utterance"] for r in recs], [r["context"] for r in recs], "dialogue3")
    np.testing.assert_allclose(ours.predict_proba(rows), expected, atol=2e-3)
