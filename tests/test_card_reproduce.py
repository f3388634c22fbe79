"""The model card's Reproduce commands retrain what the manifest records: each training command, parsed by
training.train's own parser, gives back every result-changing setting of the shipped model."""
import json
import shlex

import pytest

from training.evaluate import reproduce, train_command
from training.export import RUN_ONLY_SETTINGS
from training.settings import TrainSettings
from training.train import parse_args

PLAIN = dict(task="compliance", out="runs/y", layers=4, epochs=3.0, seed=7, class_weighting="sqrt")
STUDENT = dict(task="emotion", out="runs/x", layers=4, max_len=64, epochs=10.0, max_minutes=12.0,
               unpunctuated_share=0.3, source_weights=(("real:", 2.0),),
               exclude_sources=("real:cped", "real:smp2020"), permissive_only=True)


@pytest.fixture
def teacher(tmp_path):
    (tmp_path / "t6").mkdir()
    (tmp_path / "t6" / "config.json").write_text("{}")
    return str(tmp_path / "t6")


def recorded(settings: TrainSettings) -> dict:
    return {k: v for k, v in settings.to_dict().items() if k not in RUN_ONLY_SETTINGS}


@pytest.mark.parametrize("fields", [STUDENT, PLAIN], ids=["distilled-unpunctuated", "plain"])
def test_card_command_round_trips_the_recorded_settings(fields, teacher):
    settings = TrainSettings(**fields, teacher=teacher if fields is STUDENT else None)
    command = train_command(settings.task, recorded(settings))
    parsed = parse_args(shlex.split(command)[3:])  # after "python -m training.train"
    assert recorded(parsed) == recorded(settings)


def test_reproduce_lists_a_command_per_trained_task_and_the_version(teacher):
    manifest = {"version": "9.9.9", "tasks": {
        "compliance": {"training": {"settings": recorded(TrainSettings(**PLAIN))}},
        "emotion": {"training": {"settings": recorded(TrainSettings(**STUDENT, teacher=teacher))}}}}
    lines = reproduce(manifest)
    assert sum(line.startswith("python -m training.train") for line in lines) == 2
    assert any("--unpunctuated-share 0.3" in line and f"--teacher {teacher}" in line for line in lines)
    assert any("--version 9.9.9" in line for line in lines)


def test_export_records_every_result_changing_setting(tmp_path, teacher):
    from training.export import training_info

    settings = TrainSettings(**STUDENT, teacher=teacher).to_dict()
    (tmp_path / "train_report.json").write_text(json.dumps({"settings": settings}))
    expected = json.loads(json.dumps(recorded(TrainSettings(**STUDENT, teacher=teacher))))  # tuples as JSON lists
    assert training_info(tmp_path)["settings"] == expected
