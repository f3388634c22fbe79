"""A short, safe preview of any value, for error messages.

``f"{value!r:.60}"`` builds the *whole* repr before cutting it: a list nested
100,000 deep raises RecursionError, a 10-million-item list takes seconds, a
huge int raises ValueError and a user object's ``__repr__`` may raise or lie.
:func:`short_repr` looks at a bounded number of elements of the built-in
types only (by exact type, so a subclass cannot redirect it) and names every
other object by its type.
"""

from __future__ import annotations

from itertools import islice
from typing import Any, Dict, Iterable

_SCALARS = (bool, float, complex, type(None))
_TYPE_NAME = type.__dict__["__name__"]  # the slot itself: a metaclass cannot override it
_MAX_ITEMS = 4
_MAX_STRING = 40
_MAX_DEPTH = 2


def _type_name(value: Any) -> str:
    name = _TYPE_NAME.__get__(type(value))
    return name if isinstance(name, str) else "object"


def _items(values: Iterable[Any], size: int, depth: int, left: str, right: str) -> str:
    if depth <= 0:
        return f"{left}...{right}" if size else f"{left}{right}"
    pieces = [_preview(v, depth - 1) for v in islice(values, _MAX_ITEMS)]
    if size > _MAX_ITEMS:
        pieces.append("...")
    return left + ", ".join(pieces) + right


def _dict(value: Dict[Any, Any], depth: int) -> str:
    if depth <= 0:
        return "{...}" if value else "{}"
    pieces = [f"{_preview(k, depth - 1)}: {_preview(v, depth - 1)}" for k, v in islice(value.items(), _MAX_ITEMS)]
    if len(value) > _MAX_ITEMS:
        pieces.append("...")
    return "{" + ", ".join(pieces) + "}"


def _preview(value: Any, depth: int) -> str:
    kind = type(value)
    if kind is str:
        return repr(value[:_MAX_STRING]) + ("..." if len(value) > _MAX_STRING else "")
    if kind is bytes or kind is bytearray:
        return repr(bytes(value[:_MAX_STRING])) + ("..." if len(value) > _MAX_STRING else "")
    if kind is int:
        return repr(value) if value.bit_length() <= 128 else f"<int of {value.bit_length()} bits>"
    if kind in _SCALARS:
        return repr(value)
    if kind is list:
        return _items(value, len(value), depth, "[", "]")
    if kind is tuple:
        return _items(value, len(value), depth, "(", ",)" if len(value) == 1 else ")")
    if kind is set or kind is frozenset:
        return _items(value, len(value), depth, "{", "}") if value else f"{kind.__name__}()"
    if kind is dict:
        return _dict(value, depth)
    return f"<{_type_name(value)} object>"


def short_repr(value: Any, limit: int = 60) -> str:
    """``type name: preview`` of ``value`` in at most about ``limit`` characters, in bounded time."""
    try:
        preview = _preview(value, _MAX_DEPTH)
    except Exception:  # defensive: never let an error message raise
        preview = f"<{_type_name(value)} object>"
    if len(preview) > limit:
        preview = preview[: limit - 3] + "..."
    return f"{_type_name(value)}: {preview}"
