"""Text normalisation for matching, with a map back to the original offsets.

Rules match on a cleaned copy of the utterance (half-width, simplified
Chinese, no whitespace, no ASR fillers, stutters collapsed); findings must
still point into the *original* utterance, so every normalised character
remembers the index of the original character it came from.

Everything here is pure Python and cheap: the traditional→simplified table
is read once from opencc-python-reimplemented's character dictionary and
applied with ``str.translate``. Every step maps one character to exactly one
character, so offsets survive: lower-casing keeps a character whose lower
case would be longer (``"İ".lower()`` is two characters) as its one-character
twin, and OpenCC's phrase-level converter (only run on the rare text that holds
traditional characters) is taken position by position, and only where it
chose one of the character table's own candidates for that position.
Lone surrogates (text decoded with ``surrogateescape``) pass through as they are.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Dict, FrozenSet, List, Tuple

# Fillers that carry no content in ASR output. "啊/哦" are left alone: they are
# also sentence particles that change tone ("说话啊"), which rules need to see.
_FILLER_CHARS = frozenset("嗯呃唔")
# "额" is a filler only when it stands alone ("额，这个…"), never in 额度/金额.
_STANDALONE_FILLERS = frozenset("额呃嗯唔哦噢喔啊")
_SPACE_RE = re.compile(r"\s")
_PUNCT = frozenset(",.!?;:、。~…·\"'()[]<>-—")
# A character repeated 3+ times is an ASR stutter ("我我我") or emphasis
# ("喂喂喂"); two copies keep the emphasis visible to rules.
_MAX_RUN = 2


@dataclass(frozen=True)
class Normalized:
    """Normalised text plus ``offsets[i]`` = index in the original of ``text[i]``."""

    text: str
    offsets: Tuple[int, ...]
    original: str

    def span(self, start: int, end: int) -> Tuple[int, int]:
        """Original [start, end) covering normalised [start, end)."""
        if end <= start:
            raise ValueError(f"empty span {start}:{end}")
        return self.offsets[start], self.offsets[end - 1] + 1


def _width_table() -> Dict[int, str]:
    table = {0x3000: " "}  # ideographic space
    for code in range(0xFF01, 0xFF5F):  # full-width ASCII block
        table[code] = chr(code - 0xFEE0)
    # Chinese punctuation that has an obvious half-width twin.
    for src, dst in {
        "。": ".",
        "、": ",",
        "～": "~",
        "“": '"',
        "”": '"',
        "‘": "'",
        "’": "'",
        "【": "[",
        "】": "]",
        "《": "<",
        "》": ">",
        "…": "…",
    }.items():
        table[ord(src)] = dst
    return table


def _t2s_candidates() -> Dict[int, str]:
    """{traditional code point: its simplified candidates, best first} from OpenCC's character table."""
    try:
        import opencc  # noqa: WPS433 (lazy: only needed the first time text is normalised)
    except ImportError:
        return {}
    path = os.path.join(os.path.dirname(opencc.__file__), "dictionary", "TSCharacters.txt")
    table: Dict[int, str] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 2 and len(parts[0]) == 1:
                targets = "".join(t for t in parts[1].split(" ") if len(t) == 1)
                if targets and targets != parts[0]:
                    table[ord(parts[0])] = targets
    return table


@lru_cache(maxsize=1)
def _tables() -> Tuple[Dict[int, int], Dict[int, str], FrozenSet[str]]:
    candidates = _t2s_candidates()
    table = _width_table()
    table.update({code: targets[0] for code, targets in candidates.items()})
    table[0x130] = "i"  # "İ".lower() is "i" + a combining dot: two characters for one
    return str.maketrans(table), candidates, frozenset(chr(code) for code in candidates)  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def _opencc_t2s() -> Any:
    try:
        import opencc

        return opencc.OpenCC("t2s")
    except Exception:  # package missing or broken: the character table still applies
        return None


def to_simplified_halfwidth(text: str) -> str:
    """Same-length conversion: full→half width, traditional→simplified, lower case.

    ``len(result) == len(text)`` always, and ``result[i]`` comes from ``text[i]`` alone
    (or, for traditional characters, from OpenCC's reading of the phrase around it)."""
    table, candidates, traditional = _tables()
    out = text.translate(table)
    lowered = out.lower()
    # lower() only ever lengthens a character; equal length means every one stayed one character
    out = (
        lowered
        if len(lowered) == len(out)
        else "".join(low if len(low) == 1 else ch for ch, low in ((ch, ch.lower()) for ch in out))
    )
    if not traditional.isdisjoint(text):
        out = _phrase_t2s(text, out, candidates)
    return out


def _phrase_t2s(text: str, out: str, candidates: Dict[int, str]) -> str:
    """Where OpenCC's phrase converter picks another candidate for a traditional
    character (乾隆 vs 乾燥), take it, position by position."""
    converter = _opencc_t2s()
    if converter is None:
        return out
    try:
        phrase = converter.convert(text)
    except Exception:  # the converter is third-party code; the character table already applied
        return out
    if len(phrase) != len(text):
        return out
    chars = list(out)
    for i, ch in enumerate(text):
        options = candidates.get(ord(ch))
        if options is not None and phrase[i] != chars[i] and phrase[i] in options:
            chars[i] = phrase[i]
    return "".join(chars)


def normalize(text: str) -> Normalized:
    """Normalise ``text`` for matching; see module docstring."""
    if not isinstance(text, str):
        raise TypeError(f"normalize() expects str, got {type(text).__name__}")
    base = to_simplified_halfwidth(text)
    if _NEEDS_WORK.search(base) is None:
        # fast path (most utterances): nothing to drop, offsets are the identity
        return Normalized(base, tuple(range(len(base))), text)
    chars: List[str] = []
    offsets: List[int] = []
    n = len(base)
    run_char, run_len = "", 0
    for i, ch in enumerate(base):
        if ch.isspace():
            continue
        if ch in _FILLER_CHARS or (ch in _STANDALONE_FILLERS and _standalone(base, i, n)):
            continue
        if ch == run_char:
            run_len += 1
            # digits and latin letters repeat for real ("88886666"): never collapse them
            if run_len > _MAX_RUN and not ch.isascii():
                continue
        else:
            run_char, run_len = ch, 1
        chars.append(ch)
        offsets.append(i)
    if not any(c not in _PUNCT for c in chars):
        # Only fillers/punctuation: keep them (minus spaces) so "嗯。" stays visible.
        chars, offsets = [], []
        for i, ch in enumerate(base):
            if not ch.isspace():
                chars.append(ch)
                offsets.append(i)
    return Normalized("".join(chars), tuple(offsets), text)


def _standalone(text: str, i: int, n: int) -> bool:
    """True when text[i] is a one-character token between punctuation/space/edges
    and another character of the clause follows (so a lone final "啊" is kept)."""
    before = text[i - 1] if i > 0 else ","
    after = text[i + 1] if i + 1 < n else ""
    if not (before in _PUNCT or before.isspace() or i == 0):
        return False
    if after == "" or not (after in _PUNCT or after.isspace()):
        return False
    # keep it if nothing but punctuation follows: it may be the whole reply ("哦。")
    return any(not (c in _PUNCT or c.isspace()) for c in text[i + 1 :])


def strip_events(context: str) -> Tuple[str, str]:
    """Split a context into (bracketed events joined, customer words)."""
    events, words, _ = split_events(context)
    return events, words


def split_events(context: str) -> Tuple[str, str, Tuple[int, ...]]:
    """(bracketed events joined, customer words, ``offsets[i]`` = index in ``context`` of ``words[i]``).

    Each event becomes one space in the words (so the words on either side stay apart);
    that space maps to the event's first character."""
    events: List[str] = []
    chars: List[str] = []
    offsets: List[int] = []
    pos = 0
    for match in _EVENT_RE.finditer(context):
        chars.append(context[pos : match.start()])
        offsets.extend(range(pos, match.start()))
        chars.append(" ")
        offsets.append(match.start())
        events.append(match.group())
        pos = match.end()
    chars.append(context[pos:])
    offsets.extend(range(pos, len(context)))
    words = "".join(chars)
    lead = len(words) - len(words.lstrip())
    trail = len(words.rstrip())
    if trail <= lead:
        return "".join(events), "", ()
    return "".join(events), words[lead:trail], tuple(offsets[lead:trail])


_NEEDS_WORK = re.compile(r"[\s嗯呃唔额哦噢喔啊]|([^\x00-\x7f])\1\1")
_EVENT_RE = re.compile(r"[\[【［][^\]】］]*[\]】］]")


def normalize_pattern(pattern: str) -> str:
    """A user's regex rewritten to match *normalised* text the way its author meant.

    Rules run on normalised text (lower case, half width, simplified, no spaces), so a literal
    "WiFi", "ＡＢＣ", "沒辦法" or "没 办 法" in a pattern would never match. Literal characters are
    normalised like text (full-width punctuation becomes its escaped half-width twin) and unescaped
    whitespace is dropped; escapes (``\\S``, ``\\d``, ``\\p{Han}``, ``\\x{4e00}``, ``\\u4e00``) are kept
    as written.
    """
    out: List[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            j = min(i + 2, n)
            if j < n and pattern[i + 1] in "pPNx" and pattern[j] == "{":
                close = pattern.find("}", j)
                j = n if close < 0 else close + 1
            out.append(pattern[i:j])
            i = j
            continue
        i += 1
        if ch.isspace():
            continue
        simple = to_simplified_halfwidth(ch)
        if simple != ch.lower() and simple.isascii() and not simple.isalnum():
            out.append(re.escape(simple))  # "（" in a pattern is the literal "(" of normalised text
        else:
            out.append(simple)
    return "".join(out)
