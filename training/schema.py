"""The data contract of data/SCHEMA.md as Python constants.

Labels come from sdk.labels so that data and runtime can never disagree.
"""
from __future__ import annotations

from sdk.labels import COMPLIANCE_LABELS, EMOTION_LABELS, SCENARIOS  # noqa: F401 (re-exported)
from sdk.tasks import TASK_LABELS, TASKS as TASK_TABLE

TASKS = tuple(TASK_TABLE)
LABELS = TASK_LABELS


DOMAINS = (
    "telecom", "utilities", "ecommerce", "food_delivery", "banking", "insurance", "logistics",
    "hospital", "travel", "property", "government", "education", "automotive", "internet", "other",
)

# Field sets per task. `group` and `domain` are optional for real data, required otherwise.
REQUIRED_FIELDS = {
    "compliance": ("id", "context", "utterance", "label", "source", "license"),
    "emotion": ("id", "text", "label", "source", "license"),
}
# Required for hand-written and augmented records; real records may lack them (a turn of a real
# conversation has no writer's scenario). `context` on an emotion record: the turns before it.
# `conv_id` / `turn`: where a turn of a real conversation (data/real_conv/) sits.
OPTIONAL_FIELDS = ("group", "domain", "scenario", "conv_id", "turn", "context")
WRITTEN_FIELDS = ("group", "domain", "scenario")
TURN_ROLES = ("customer", "agent", "event")
TEXT_FIELD = {name: task.text_field for name, task in TASK_TABLE.items()}

# Every real dataset we import and the licence its *text* carries. Texts without a stated
# licence are "research-only" even where the annotations are open (STC-3: CC BY 4.0
# annotations over crawled Weibo text).
REAL_DATASETS = {
    "jddc2019": "research-only",
    "jddc2018": "research-only",
    "csds": "research-only",
    "stc3": "research-only",
    "cped": "Apache-2.0",
    "smp2020": "research-only",
    "nlpcc2013": "research-only",
    "cold": "Apache-2.0",
    "toxicn": "CC-BY-NC-ND-4.0",
    "mobilecs": "research-only",
    "ecd": "research-only",
}
AUGMENT_METHODS = ("slot_fill", "context_swap", "phrase_edit", "rude_insert")
PROJECT_LICENSE = "Apache-2.0"  # the project's own writing and everything derived from it
LICENSES = ("Apache-2.0", "MIT", "CC-BY-4.0", "CC-BY-NC-ND-4.0", "research-only")
PERMISSIVE_LICENSES = frozenset({"Apache-2.0", "MIT", "CC-BY-4.0"})


def source_kind(source: str) -> str:
    """'handwritten', 'real' or 'augmented' (the part before ':')."""
    return source.split(":", 1)[0]


def expected_license(source: str):
    """The licence a record from `source` must carry, or None if the source is unknown."""
    kind, _, name = source.partition(":")
    if source == "handwritten":
        return PROJECT_LICENSE
    if kind == "augmented" and name in AUGMENT_METHODS:
        return PROJECT_LICENSE
    if kind == "real" and name in REAL_DATASETS:
        return REAL_DATASETS[name]
    return None


def task_of_path(name: str):
    """Task named by a data file's basename prefix, e.g. compliance_a_01.jsonl -> compliance."""
    for task in TASKS:
        if name.startswith(task + "_") or name == task + ".jsonl":
            return task
    return None
