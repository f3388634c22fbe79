"""The one task table: each task's labels (in order), what its model reads, and the adapter from a
data record to the model's input. sdk/ (engines, manifest) and training/ (train, export, ensemble,
baseline, evaluate) all read it, so a record is turned into model input the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .labels import COMPLIANCE_LABELS, EMOTION_LABELS


@dataclass(frozen=True)
class Task:
    name: str
    labels: Tuple[str, ...]  # canonical order of score vectors and model heads
    inputs: str  # "pair": the model reads (context, text); "single": the text alone
    text_field: str  # the record field holding the text that is labelled
    context_field: Optional[str] = None  # the record field holding the context (pair tasks)

    @property
    def pair(self) -> bool:
        return self.inputs == "pair"

    def model_inputs(self, records: Sequence[Mapping[str, Any]]) -> Tuple[List[str], Optional[List[Any]]]:
        """(texts, contexts) as a model takes them; contexts is None for single-text tasks. A context
        stays as the record has it (string, list of turns or None): each model's input format
        (sdk.dialogue, named in its manifest) decides how it is read."""
        texts = [r[self.text_field] for r in records]
        if not self.pair:
            return texts, None
        return texts, [r.get(self.context_field or "") for r in records]

    def columns(self, records: Sequence[Mapping[str, Any]], encoding: str = "pair") -> List[Tuple[str, ...]]:
        """One tuple of strings per record: the n-gram member's input in ``encoding`` (sdk.dialogue:
        "pair" = (context string or "", text) / (text,); "dialogue3" = three normalised columns)."""
        from .dialogue import ngram_rows

        texts, contexts = self.model_inputs(records)
        return ngram_rows(texts, contexts, encoding)

    def label_ids(self, records: Sequence[Mapping[str, Any]]) -> List[int]:
        return [self.labels.index(r["label"]) for r in records]


def context_text(value: Any) -> Optional[str]:
    """A record's context (a string or a list of turns) as the one string the models read."""
    if value is None or isinstance(value, str):
        return value or None
    from .context import parse_context

    parsed = parse_context(value)
    return parsed.text or None if parsed is not None else None


TASKS: Dict[str, Task] = {
    "compliance": Task("compliance", COMPLIANCE_LABELS, "pair", "utterance", "context"),
    "emotion": Task("emotion", EMOTION_LABELS, "single", "text"),
}
TASK_LABELS: Dict[str, Tuple[str, ...]] = {name: task.labels for name, task in TASKS.items()}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {', '.join(TASKS)}")
    return TASKS[name]
