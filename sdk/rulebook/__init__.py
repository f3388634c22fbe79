"""The rulebook: service-standard rules as validated YAML data (schema version 2).

``load_rulebook()`` returns the default rulebook shipped in ``sdk/rules/``
(loaded once, then cached); ``load_rulebook([overlay.yaml, ...])`` layers a QA
team's overlays on top of it. A broken rulebook raises :class:`RulebookError`
listing every problem, each naming the file, the rule (or cue, section) and the
field — it never silently falls back to defaults.

Modules: ``schema`` (what each section may hold), ``overlay`` (reading YAML and
layering overlays), ``compile`` (validated data -> the engine's compiled form),
``anchors`` (prefilter strings for the Aho–Corasick pass).

Rule anatomy (see ``sdk/rules/default.yaml`` for the full, commented format):

* ``kind: forbidden`` — fires when a phrase/pattern occurs in the utterance
  (minus ``not_before``/``not_after`` local exceptions and ``unless`` whole-
  utterance exceptions), optionally only when a context cue is present.
* ``kind: required`` — fires when a trigger is present (a context cue from
  ``when_cues`` or an utterance pattern from ``when_utterance``; both when
  ``trigger: all``) and none of ``requires`` occurs in the utterance (with
  ``met_earlier: true``, nor in an earlier agent turn of the context).
* ``unless_cues`` (either kind) — the rule is off when one of these context cues
  is present.
* ``advisory: true`` — reported as a finding (with label ``standard``) but never
  decides the label.
* ``binding: true`` — decides the label under every engine, over the model (rules
  an overlay adds are binding unless they say ``binding: false``).

Patterns may embed a lexicon as ``{lex:name}`` (an escaped alternation) and the
company name as ``{company}`` (a rule using it runs only when ``company_name`` is set).
"""

from __future__ import annotations

import copy
import os
from functools import lru_cache
from typing import Any, Dict, Sequence, Tuple, Union

from ..labels import SCENARIOS
from .anchors import anchor_strings, split_alternatives
from .compile import CompiledCue, CompiledRule, EmotionLexicon, Rulebook, compile_rulebook
from .overlay import apply_overlay, read_yaml
from .schema import CUE_WHERE, SCHEMA_VERSION, SEVERITIES, Problems, RulebookError

__all__ = [
    "load_rulebook",
    "Rulebook",
    "RulebookError",
    "CompiledRule",
    "CompiledCue",
    "EmotionLexicon",
    "DEFAULT_RULEBOOK",
    "SCHEMA_VERSION",
    "SEVERITIES",
    "CUE_WHERE",
    "SCENARIOS",
    "anchor_strings",
    "split_alternatives",
]

DEFAULT_RULEBOOK = os.path.join(os.path.dirname(os.path.dirname(__file__)), "rules", "default.yaml")
PathLike = Union[str, "os.PathLike[str]"]


def load_rulebook(
    paths: Union[None, PathLike, Sequence[PathLike]] = None, *, base: Union[None, PathLike] = None
) -> Rulebook:
    """The default rulebook (or the complete rulebook file ``base``), extended /
    overridden by the overlay YAML files in ``paths``, in order."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    overlays = tuple(os.fspath(p) for p in (paths or ()))
    base_path = DEFAULT_RULEBOOK if base is None else os.fspath(base)
    if base_path == DEFAULT_RULEBOOK and not overlays:
        return _default_rulebook()
    return _build(base_path, overlays)


@lru_cache(maxsize=1)
def _default_rulebook() -> Rulebook:
    return _build(DEFAULT_RULEBOOK, ())


@lru_cache(maxsize=1)
def _default_raw() -> Dict[str, Any]:
    """The shipped default as read from YAML (callers get a deep copy: overlays change it)."""
    return read_yaml(DEFAULT_RULEBOOK)


def _build(base: str, overlays: Tuple[str, ...]) -> Rulebook:
    sources = (base,) + overlays
    problems = Problems(" + ".join(os.path.basename(s) for s in sources))
    raw = copy.deepcopy(_default_raw()) if base == DEFAULT_RULEBOOK else read_yaml(base)
    for path in overlays:
        raw = apply_overlay(raw, read_yaml(path), path, problems)
    book = compile_rulebook(raw, sources, problems)
    problems.raise_if_any()
    assert book is not None  # compile_rulebook returns None only with problems
    return book
