"""Linear-time regexes for patterns a user wrote (rulebook overlays).

Python's ``re`` backtracks: a user pattern such as ``(a|aa)+$`` takes seconds on 2,000 characters
and grows exponentially. Patterns that come from an overlay are compiled with RE2 (google-re2),
whose matching time is linear in the text, behind the small part of the ``re.Pattern`` interface
the rules engine uses (``search``/``match``/``fullmatch``/``finditer`` with ``pos``/``endpos``,
``pattern``, ``flags``). RE2 has no lookaround and no backreferences; such a pattern is refused
at load with a message saying so. The shipped default rulebook keeps Python's ``re``.
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Optional

# Python escapes RE2 spells differently: \uXXXX / \UXXXXXXXX -> \x{...}, \Z -> \z.
_ESCAPES = re.compile(r"\\(\\|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|Z)")
_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_PATTERN_CHARS = 20_000


class LinearRegexError(ValueError):
    """A pattern RE2 cannot compile; the message says why in words."""


def _to_re2(pattern: str) -> str:
    def swap(m: "re.Match[str]") -> str:
        if m.group(1) == "\\":
            return "\\\\"
        if m.group(1) == "Z":
            return "\\z"
        return "\\x{" + (m.group(2) or m.group(3)) + "}"

    return _ESCAPES.sub(swap, pattern)


def _clean(text: str) -> str:
    """RE2 reads UTF-8: a lone surrogate (one character) becomes U+FFFD (one character), so offsets hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


class LinearPattern:
    """A compiled user pattern with the ``re.Pattern`` methods the rules engine calls.

    ``endpos`` behaves as in ``re``: the text is treated as ending there (``$`` matches at it).
    """

    __slots__ = ("pattern", "flags", "_compiled")

    def __init__(self, pattern: str) -> None:
        import re2

        if len(pattern) > MAX_PATTERN_CHARS:
            raise LinearRegexError(f"pattern has {len(pattern):,} characters; the limit is {MAX_PATTERN_CHARS:,}")
        options = re2.Options()
        options.log_errors = False
        try:
            self._compiled = re2.compile(_to_re2(pattern), options)
        except re2.error as exc:
            reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
            hint = ""
            if re.search(r"\(\?<?[=!]|\\[1-9]|\(\?P=", pattern):
                hint = " (lookaround and backreferences are not supported: user patterns run in linear time)"
            raise LinearRegexError(f"{reason}{hint}") from None
        self.pattern = pattern
        self.flags = 0

    def _args(self, text: str, endpos: Optional[int]) -> str:
        text = _clean(text)
        return text if endpos is None or endpos >= len(text) else text[: max(endpos, 0)]

    def search(self, text: str, pos: int = 0, endpos: Optional[int] = None) -> Any:
        return self._compiled.search(self._args(text, endpos), pos)

    def match(self, text: str, pos: int = 0, endpos: Optional[int] = None) -> Any:
        return self._compiled.match(self._args(text, endpos), pos)

    def fullmatch(self, text: str, pos: int = 0, endpos: Optional[int] = None) -> Any:
        return self._compiled.fullmatch(self._args(text, endpos), pos)

    def finditer(self, text: str, pos: int = 0, endpos: Optional[int] = None) -> Iterator[Any]:
        return iter(self._compiled.finditer(self._args(text, endpos), pos))

    def __repr__(self) -> str:
        return f"LinearPattern({self.pattern[:80]!r})"
