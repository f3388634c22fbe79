"""Grouped splits: no group or near-duplicate straddles splits, test is hand-written only."""
import json
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from training import split
from training.validate import DataError


def _hw(i, group, text, label="standard"):
    return {"id": f"h{i}", "context": None, "utterance": text, "label": label, "scenario": "general_enquiry",
            "source": "handwritten", "license": "Apache-2.0", "group": group, "domain": "telecom"}


def _synthetic(n_groups=60):
    recs = []
    for g in range(n_groups):
        recs.append(_hw(2 * g, f"g{g:03d}", f"这是第{g}组的标准回复，内容各不相同：{'甲乙丙丁戊己庚辛壬癸'[g % 10] * (g % 7 + 1)}{g}号"))
        recs.append(_hw(2 * g + 1, f"g{g:03d}", f"第{g}组的另一个兄弟句子{'子丑寅卯辰巳午未申酉'[g % 10] * (g % 5 + 2)}", "missing_apology"))
    return recs


def test_normalise_removes_digits_names_and_punctuation():
    assert split.normalise("[客户已等待] 王先生，您的工号是1234！") == split.normalise("李先生，您的工号是98。")


def test_near_duplicates_found_and_distinct_texts_not():
    a = split.ngrams(split.normalise("您好，请问还有什么可以帮您的吗？我们一直都在为您服务"))
    b = split.ngrams(split.normalise("您好，请问还有什么可以帮您的吗？我们一直都在为您服务的"))
    c = split.ngrams(split.normalise("您的快递明天上午送达，请保持电话畅通"))
    index = split.NearDupIndex([a, c])
    assert index.matches(b) == {0}


def test_split_of_is_deterministic_and_roughly_70_15_15():
    got = [split.split_of(f"group-{i}") for i in range(2000)]
    assert got == [split.split_of(f"group-{i}") for i in range(2000)]
    share = {s: got.count(s) / len(got) for s in split.SPLITS}
    assert 0.65 < share["train"] < 0.75 and 0.11 < share["dev"] < 0.19 and 0.11 < share["test"] < 0.19


def test_near_duplicate_groups_are_joined():
    recs = _synthetic()
    # Two groups whose utterances differ only in a name and digits must land together.
    recs.append(_hw(900, "zz-a", "王先生，您的宽带已经恢复正常，工号1234为您服务，请您重启一下光猫试试"))
    recs.append(_hw(901, "zz-b", "李女士，您的宽带已经恢复正常，工号5678为您服务，请您重启一下光猫试试"))
    assignment, _ = split.handwritten_assignment("compliance", recs)
    assert assignment["zz-a"] == assignment["zz-b"]


def test_make_splits_routes_real_and_augmented():
    recs = _synthetic()
    assignment, _ = split.handwritten_assignment("compliance", recs)
    held_out = next(g for g, s in assignment.items() if s != "train")
    train_g = next(g for g, s in assignment.items() if s == "train")
    held_text = next(r["utterance"] for r in recs if r["group"] == held_out)
    extra = [
        dict(_hw(1000, held_out, "增强句子甲"), id="a1", source="augmented:slot_fill"),
        dict(_hw(1001, train_g, "增强句子乙乙乙乙乙"), id="a2", source="augmented:slot_fill"),
        dict(_hw(1002, "real-x", held_text + "。"), id="r1", source="real:jddc2019", license="research-only"),
        dict(_hw(1003, "real-y", "真实的完全不同的一句话呢"), id="r2", source="real:jddc2019", license="research-only"),
    ]
    out, dropped = split.make_splits("compliance", recs + extra)
    ids = {s: {r["id"] for r in v} for s, v in out.items()}
    assert "a2" in ids["train"] and "r2" in ids["train"]
    assert not ({"a1", "r1"} & set().union(*ids.values()))
    assert sum(dropped.values()) == 2
    assert all(r["source"] == "handwritten" for r in out["test"])
    _assert_no_straddle(out)


def _assert_no_straddle(out):
    where = defaultdict(set)
    for s, recs in out.items():
        for r in recs:
            where[r["group"]].add(s)
    straddling = {g: s for g, s in where.items() if len(s) > 1}
    assert not straddling, straddling


def test_repository_splits():
    """The committed data/splits: disjoint, grouped, test hand-written only, dev has no augmented."""
    from training.dataset import split_path
    from training.validate import open_text

    if not all(split_path("compliance", s).exists() for s in split.SPLITS):
        pytest.skip("splits not written yet")
    for task in ("compliance", "emotion"):
        out = {}
        for s in split.SPLITS:  # the train splits are stored .jsonl.xz
            with open_text(split_path(task, s)) as fh:
                out[s] = [json.loads(line) for line in fh.read().splitlines()]
        ids = [r["id"] for recs in out.values() for r in recs]
        assert len(ids) == len(set(ids))
        assert all(r["source"] == "handwritten" for r in out["test"])
        assert not any(r["source"].startswith("augmented") for r in out["dev"] + out["test"])
        _assert_no_straddle({s: [r for r in v if "group" in r] for s, v in out.items()})
        # No near-duplicate of a test text in train.
        _, linker = split.handwritten_assignment(task, out["test"])
        field = "utterance" if task == "compliance" else "text"
        leaks = [r["id"] for r in out["train"] if linker.linked_groups(r[field])]
        assert not leaks, leaks[:10]


def test_corrections_relabel_and_drop(tmp_path):
    fix = Path(__file__).parent / "fixtures" / "data" / "valid"
    (tmp_path / "handwritten").mkdir()
    shutil.copy(fix / "compliance_ok.jsonl", tmp_path / "handwritten" / "compliance_x_01.jsonl")
    (tmp_path / "review").mkdir()
    corr = tmp_path / "review" / "corrections.jsonl"
    corr.write_text('{"id": "fx-c-1", "new_label": "missing_thanks"}\n{"id": "fx-c-3", "new_label": null}\n', "utf-8")
    recs = {r["id"]: r for r in split.load_sources(tmp_path)["compliance"]}
    assert recs["fx-c-1"]["label"] == "missing_thanks" and "fx-c-3" not in recs
    corr.write_text('{"id": "gone", "new_label": null}\n{"id": "nope", "new_label": "standard"}\n'
                    '{"id": "fx-c-1", "new_label": "angry"}\n', "utf-8")
    with pytest.raises(DataError) as err:
        split.load_sources(tmp_path)
    msgs = [str(p) for p in err.value.problems]
    assert len(msgs) == 2  # dropping an id that is already gone is fine
    assert any(":2: relabel for unknown id 'nope'" in m for m in msgs)
    assert any(":3: new_label 'angry' is not a compliance label" in m for m in msgs)
