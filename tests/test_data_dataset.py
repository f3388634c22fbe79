"""The loader refuses invalid data and filters licences."""
import json
import shutil
from pathlib import Path

import pytest

from training.dataset import load, model_input
from training.validate import DataError

FIX = Path(__file__).parent / "fixtures" / "data"


def _data_dir(tmp_path, src: Path, name: str) -> Path:
    (tmp_path / "splits").mkdir()
    shutil.copy(src, tmp_path / "splits" / name)
    return tmp_path


def test_load_valid_split(tmp_path):
    d = _data_dir(tmp_path, FIX / "valid" / "compliance_ok.jsonl", "compliance_train.jsonl")
    recs = load("compliance", "train", data_dir=d)
    assert len(recs) == 5
    assert {r["license"] for r in recs} == {"Apache-2.0", "research-only"}


def test_permissive_only_drops_research_only(tmp_path):
    d = _data_dir(tmp_path, FIX / "valid" / "emotion_ok.jsonl", "emotion_dev.jsonl")
    recs = load("emotion", "dev", permissive_only=True, data_dir=d)
    assert [r["id"] for r in recs] == ["fx-e-1", "fx-e-2"]


def test_load_refuses_invalid_data(tmp_path):
    d = _data_dir(tmp_path, FIX / "invalid" / "compliance_bad.jsonl", "compliance_train.jsonl")
    with pytest.raises(DataError) as err:
        load("compliance", "train", data_dir=d)
    assert len(err.value.problems) >= 10
    assert "compliance_train.jsonl:1:" in str(err.value)


def test_load_errors_name_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="training.split"):
        load("compliance", "dev", data_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown task 'sentiment'"):
        load("sentiment", "dev", data_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown split 'val'"):
        load("emotion", "val", data_dir=tmp_path)


def test_model_input():
    rec = json.loads((FIX / "valid" / "compliance_ok.jsonl").read_text("utf-8").splitlines()[2])
    assert model_input("compliance", rec) == " [SEP] 喂，说话呀"
    assert model_input("emotion", {"text": "好"}) == "好"


@pytest.mark.parametrize("compress", [True, False])
def test_write_split_round_trip_compressed_or_plain(tmp_path, compress):
    from training.split import write_split

    records = load("compliance", "train", data_dir=_data_dir(tmp_path, FIX / "valid" / "compliance_ok.jsonl",
                                                             "compliance_train.jsonl"))
    write_split(tmp_path / "splits" / "compliance_train.jsonl", records, compress=compress)
    names = sorted(p.name for p in (tmp_path / "splits").iterdir())
    assert names == ["compliance_train.jsonl.xz" if compress else "compliance_train.jsonl"]  # no stale twin
    assert load("compliance", "train", data_dir=tmp_path) == records


def test_invalid_compressed_split_names_the_xz_file(tmp_path):
    import lzma

    (tmp_path / "splits").mkdir()
    bad = (FIX / "invalid" / "compliance_bad.jsonl").read_bytes()
    (tmp_path / "splits" / "compliance_train.jsonl.xz").write_bytes(lzma.compress(bad))
    with pytest.raises(DataError) as err:
        load("compliance", "train", data_dir=tmp_path)
    assert "compliance_train.jsonl.xz:1:" in str(err.value)


@pytest.mark.parametrize("compress", [True, False])
def test_real_blind_set_reads_compressed_or_plain(tmp_path, compress):
    from training.split import write_split

    records = load("compliance", "train", data_dir=_data_dir(tmp_path, FIX / "valid" / "compliance_ok.jsonl",
                                                             "compliance_train.jsonl"))
    (tmp_path / "real_conv").mkdir()
    write_split(tmp_path / "real_conv" / "compliance_blind.jsonl", records, compress=compress)
    assert load("compliance", "real_blind", data_dir=tmp_path) == records
