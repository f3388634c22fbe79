"""A short, safe preview of any value, for error messages.

``f"{value!r:.60}"`` builds the *whole* repr before cutting it: a list nested
100,000 deep raises RecursionError, a 10-million-item list takes seconds, a
huge int raises ValueError and a user object's ``__repr__`` may raise or lie.
:func:`short_repr` looks at a bounded number of elements of the built-in
types only (by exact type, so a subclass cannot redirect it) and names every
other object by its type.
"""
from __future__ import annotations

import reprlib
from itertools import islice
from typing import Any

_SCALARS = (bool, float, complex, type(None))


class _Bounded(reprlib.Repr):
    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 2
        self.maxstring = 40
        self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = self.maxdict = 4

    def repr1(self, x: Any, level: int) -> str:
        kind = type(x)
        if kind is str:
            return self.repr_str(x, level)
        if kind in (bytes, bytearray):
            head = bytes(x[:self.maxstring])
            return repr(head) + ("..." if len(x) > self.maxstring else "")
        if kind is int:
            if x.bit_length() > 128:
                return f"<int of {x.bit_length()} bits>"
            return repr(x)
        if kind in _SCALARS:
            return repr(x)
        if kind is list:
            return self._repr_iterable(x, level, "[", "]", self.maxlist)
        if kind is tuple:
            return self._repr_iterable(x, level, "(", ")", self.maxtuple, ",")
        if kind in (set, frozenset):
            return self._repr_iterable(x, level, "{", "}", self.maxset) if x else f"{kind.__name__}()"
        if kind is dict:
            return self._dict(x, level)
        return f"<{_type_name(x)} object>"

    def _dict(self, x: dict, level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        pieces = [f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}" for k, v in islice(x.items(), self.maxdict)]
        if len(x) > self.maxdict:
            pieces.append("...")
        return "{" + ", ".join(pieces) + "}"


_BOUNDED = _Bounded()


_TYPE_NAME = type.__dict__["__name__"]  # the slot itself: a metaclass cannot override it


def _type_name(value: Any) -> str:
    return _TYPE_NAME.__get__(type(value))


def short_repr(value: Any, limit: int = 60) -> str:
    """``type name: preview`` of ``value`` in at most about ``limit`` characters, in bounded time."""
    try:
        preview = _BOUNDED.repr(value)
    except Exception:  # a container whose len() or iteration raises: name its type only
        preview = f"<{_type_name(value)} object>"
    if len(preview) > limit:
        preview = preview[:limit - 3] + "..."
    return f"{_type_name(value)}: {preview}"
