"""Tokenised corpus streams: uint16 token ids with turn/role markers and whole-word bits, xz-compressed.

One stream per (source, split) holds its documents back to back. Every turn (a dialogue turn, or one
sentence chunk of plain text) starts with a marker token whose id carries the turn's segment (token
type 0 or 1) and whether a new document starts there:

    TURN0 / TURN1   a turn with token type 0 / 1 (customer-side / agent-side, see training.corpus)
    DOC0  / DOC1    the same, first turn of a document

The markers are bert-base-chinese's [unused1..4], which the tokenizer never produces from text.
Bit 15 of a non-marker token says that a (jieba) word starts at it, so whole-word masking needs no
segmenter at training time (the vocabulary has 21,128 ids, well under 2**15).

`decode` turns a stream into model-ready arrays: a marker becomes [SEP] (it closes the previous turn
and takes that turn's token type), so a window starting at a marker, with [CLS] in its place, reads
``[CLS] turn [SEP] turn [SEP] ...`` exactly like the SDK's ``[CLS] context [SEP] utterance [SEP]``.
"""
from __future__ import annotations

import lzma
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

WORD_START = 0x8000
ID_MASK = 0x7FFF
TURN0, TURN1, DOC0, DOC1 = 1, 2, 3, 4
MARKERS = (TURN0, TURN1, DOC0, DOC1)
XZ_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "lc": 0, "lp": 1, "pb": 1}]

Turn = tuple[int, str]  # (segment 0|1, text)


def marker(segment: int, first_of_document: bool) -> int:
    if segment not in (0, 1):
        raise ValueError(f"turn segment must be 0 or 1, got {segment!r}")
    return (DOC0 if first_of_document else TURN0) + segment


class DocumentEncoder:
    """Documents -> one uint16 stream. `word_starts(text)` gives the char offsets where words begin."""

    def __init__(self, tokenizer_file: Path | str, word_starts: Callable[[str], set[int]] | None = None):
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        if self.tokenizer.get_vocab_size() > ID_MASK:
            raise ValueError(f"vocabulary of {self.tokenizer.get_vocab_size()} ids does not fit 15 bits")
        self.word_starts = word_starts

    def encode(self, documents: Iterable[Sequence[Turn]]) -> np.ndarray:
        documents = [doc for doc in documents if doc]
        texts = [text for doc in documents for _, text in doc]
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        out: list[int] = []
        index = 0
        for doc in documents:
            for position, (segment, text) in enumerate(doc):
                encoding = encodings[index]
                index += 1
                out.append(marker(segment, position == 0))
                starts = self.word_starts(text) if self.word_starts else None
                for token_id, (begin, _) in zip(encoding.ids, encoding.offsets):
                    word_start = starts is None or begin in starts
                    out.append(token_id | WORD_START if word_start else token_id)
        return np.asarray(out, dtype=np.uint16)


def jieba_word_starts(text: str) -> set[int]:
    import jieba

    return {start for _, start, _ in jieba.tokenize(text)}


def write_stream(path: Path, stream: np.ndarray) -> int:
    """Write an xz-compressed little-endian uint16 stream; returns the compressed size in bytes."""
    data = np.ascontiguousarray(stream, dtype="<u2").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(lzma.compress(data, format=lzma.FORMAT_XZ, filters=XZ_FILTERS))
    tmp.replace(path)
    return path.stat().st_size


def read_stream(path: Path) -> np.ndarray:
    stream = np.frombuffer(lzma.decompress(path.read_bytes()), dtype="<u2").astype(np.uint16)
    if stream.size and (int(stream[0]) & ID_MASK) not in (DOC0, DOC1):
        raise ValueError(f"{path}: a stream must start with a document marker, got id {int(stream[0]) & ID_MASK}")
    return stream


def document_bounds(stream: np.ndarray) -> np.ndarray:
    """Start offsets of the documents, plus len(stream) at the end."""
    ids = stream & ID_MASK
    starts = np.flatnonzero((ids == DOC0) | (ids == DOC1))
    return np.append(starts, len(stream)).astype(np.int64)


def take_documents(stream: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The documents whose index is set in the boolean array `keep`, in order."""
    bounds = document_bounds(stream)
    if len(keep) != len(bounds) - 1:
        raise ValueError(f"keep has {len(keep)} entries for {len(bounds) - 1} documents")
    lengths = np.diff(bounds)
    token_keep = np.repeat(keep, lengths)
    return stream[token_keep]


@dataclass
class Decoded:
    ids: np.ndarray          # int32 token ids, markers replaced by [SEP]
    types: np.ndarray        # uint8 token type (segment) per position
    word_start: np.ndarray   # bool: a whole word starts here (markers count as their own word)
    maskable: np.ndarray     # bool: real text token (markers never masked)
    turn_starts: np.ndarray  # int64 positions of the markers (where a window may start)


def decode(stream: np.ndarray, sep_id: int) -> Decoded:
    raw = stream.astype(np.int32)
    ids = raw & ID_MASK
    is_marker = (ids >= TURN0) & (ids <= DOC1)
    positions = np.arange(len(ids))
    last_marker = np.maximum.accumulate(np.where(is_marker, positions, 0))
    segment = ((ids[last_marker] - TURN0) % 2).astype(np.uint8)
    types = segment.copy()
    marker_positions = np.flatnonzero(is_marker)
    inner = marker_positions[marker_positions > 0]
    types[inner] = segment[inner - 1]  # [SEP] closes the previous turn and takes its type
    ids = np.where(is_marker, sep_id, ids).astype(np.int32)
    word_start = ((raw & WORD_START) != 0) | is_marker
    return Decoded(ids, types, word_start, ~is_marker, marker_positions.astype(np.int64))
