"""Prefilter anchors: literal strings of which every match of a regex must contain one.

The rules engine feeds all anchors of all rules to one Aho–Corasick automaton, so a rule's regex
only runs on utterances that contain one of its anchors.
"""

from __future__ import annotations

import re
from typing import Any, FrozenSet, Iterable, List, Optional, Set

_COMMON = frozenset("你您我的是了不这那吧啊有在说们就也都,.!?")


def _sre_parse() -> Any:
    """The regex parser module (private in the standard library, hence untyped)."""
    try:
        from re import _parser  # type: ignore[attr-defined]  # Python >= 3.11

        return _parser
    except ImportError:  # pragma: no cover - older Pythons
        import sre_parse

        return sre_parse


def anchor_strings(pattern: Optional["re.Pattern[str]"]) -> Optional[FrozenSet[str]]:
    """A small set of literal strings such that every match of ``pattern``
    contains at least one of them, or None when none is found (always search).

    The engine feeds all anchors of all rules to one Aho–Corasick automaton, so
    a rule's regex only runs on utterances that contain one of its anchors."""
    if pattern is None:
        return None
    sre_parse = _sre_parse()
    try:
        tree = sre_parse.parse(pattern.pattern, pattern.flags)
    except Exception:  # pragma: no cover - it compiled, so it parses
        return None
    found = _need(sre_parse, list(tree))
    return frozenset(found) if found else None


def _cost(strings: Iterable[str]) -> float:
    return sum((4.0 if (len(x) == 1 and x in _COMMON) else 1.0) / len(x) for x in strings)


def _need(sp: Any, items: List[Any]) -> Optional[Set[str]]:
    """Cheapest set of mandatory literal strings for a parsed sequence (or None)."""
    candidates: List[Set[str]] = []
    run = ""
    for op, av in items:
        if op is sp.LITERAL:
            run += chr(av)
            continue
        if run:
            candidates.append({run})
            run = ""
        cand: Optional[Set[str]] = None
        if op is sp.IN:
            chars: Optional[Set[str]] = set()
            for iop, iav in av:
                if iop is sp.LITERAL and chars is not None:
                    chars.add(chr(iav))
                elif iop is sp.RANGE and iav[1] - iav[0] < 16 and chars is not None:
                    chars.update(chr(x) for x in range(iav[0], iav[1] + 1))
                else:  # categories, negation, big ranges: unknown
                    chars = None
                    break
            cand = chars or None
        elif op is sp.SUBPATTERN:
            cand = _need(sp, list(av[-1]))
        elif op is sp.BRANCH:
            union: Optional[Set[str]] = set()
            for branch in av[1]:
                sub = _need(sp, list(branch))
                if not sub or union is None:
                    union = None
                    break
                union |= sub
            cand = union or None
        elif op in (sp.MAX_REPEAT, sp.MIN_REPEAT) and av[0] >= 1:
            cand = _need(sp, list(av[2]))
        if cand:
            candidates.append(cand)
    if run:
        candidates.append({run})
    if not candidates:
        return None
    return min(candidates, key=_cost)


def split_alternatives(pattern: str) -> List[str]:
    """Split a regex at its top-level ``|`` (outside groups, classes, escapes)."""
    parts: List[str] = []
    depth, in_class, escaped, start = 0, False, False, 0
    for i, ch in enumerate(pattern):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            if ch == "]":
                in_class = False
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
    parts.append(pattern[start:])
    return [p for p in parts if p]
