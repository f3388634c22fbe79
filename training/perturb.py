"""Input variants for robustness checks: the same records in traditional characters or without
punctuation (ASR-like), labels unchanged.

    from training.perturb import perturb
    blind_trad = perturb(records, "traditional")
    blind_nopunct = perturb(records, "unpunctuated")

Only the words change: bracketed events in a string context and the roles of turns stay as they
are (an ASR pipeline writes events as metadata, not as punctuation).
"""
from __future__ import annotations

import random
import re
from functools import lru_cache
from typing import Callable, Dict, List, Sequence

from sdk.normalize import strip_events

VARIANTS = ("traditional", "unpunctuated")
_PUNCT = re.compile(r"[\s,.!?;:、，。！？；：…~～·\"'“”‘’()（）《》—\-]+")


@lru_cache(maxsize=1)
def _s2t() -> Callable[[str], str]:
    import opencc  # opencc-python-reimplemented, a dependency of the SDK

    return opencc.OpenCC("s2t").convert


def _unpunctuate(text: str) -> str:
    return _PUNCT.sub("", text)


def _words(fn: Callable[[str], str]) -> Callable[[str], str]:
    """Apply fn to a string context's words, keeping its bracketed events."""
    def apply(context: str) -> str:
        events, words = strip_events(context)
        return " ".join(p for p in (events, fn(words)) if p)
    return apply


def _context(value, fn: Callable[[str], str]):
    if value is None:
        return None
    if isinstance(value, str):
        return _words(fn)(value) or None
    return [dict(t, text=fn(t["text"])) if t.get("role") != "event" else dict(t) for t in value]


def perturb(records: Sequence[dict], variant: str) -> List[dict]:
    """Copies of ``records`` with utterance / text / context words transformed by ``variant``."""
    fns: Dict[str, Callable[[str], str]] = {"traditional": lambda t: _s2t()(t), "unpunctuated": _unpunctuate}
    if variant not in fns:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    fn = fns[variant]
    out = []
    for r in records:
        new = dict(r)
        for field in ("utterance", "text"):
            if field in new:
                new[field] = fn(new[field]) or new[field]  # an utterance of punctuation only stays
        if "context" in new:
            new["context"] = _context(new["context"], fn)
        out.append(new)
    return out


def with_variant(records: Sequence[dict], variant: str, share: float, seed: int) -> List[dict]:
    """``variant`` copies of a seeded share of ``records`` whose words actually change (training
    augmentation: a copy identical to its original would only reweight it)."""
    rng = random.Random(seed)
    picked = [r for r in records if rng.random() < share]
    return [new for old, new in zip(picked, perturb(picked, variant)) if new != old]
