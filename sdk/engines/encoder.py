"""Text -> BERT input ids, the same at training and run time (training and export import it).

Needs only the tokenizer object (``tokenizers``) and numpy; never torch.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, List, Optional, Sequence, Tuple

from .base import ModelUnavailable

if TYPE_CHECKING:
    import numpy as np

# Full-width letters and digits ("ＡＢＣ１２３") -> ASCII, so they tokenize like their
# half-width twins; Chinese punctuation is left alone (the base model was pretrained on it).
_WIDTH = {code: code - 0xFEE0 for span in ((0xFF10, 0xFF19), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A))
          for code in range(span[0], span[1] + 1)}
_WIDTH[0x3000] = 0x20
# A lone surrogate (text decoded with surrogateescape) cannot be passed to the tokenizer (it raised
# TypeError and sank the whole batch): it becomes U+FFFD, one character for one.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _model_text(text: str) -> str:
    text = text.translate(_WIDTH)
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


@dataclass
class Encoded:
    """Token ids per item (special tokens included) and notes about truncation."""
    ids: List[List[int]]
    type_ids: List[List[int]]
    notes: List[List[str]]


def special_ids(tokenizer: Any) -> Tuple[int, int, int]:
    ids = [tokenizer.token_to_id(tok) for tok in ("[CLS]", "[SEP]", "[PAD]")]
    if any(i is None for i in ids):
        raise ModelUnavailable("tokenizer has no [CLS]/[SEP]/[PAD] tokens; expected a BERT WordPiece tokenizer")
    return ids[0], ids[1], ids[2]


def encode(tokenizer: Any, texts: Sequence[str], contexts: Optional[Sequence[Optional[str]]], max_len: int) -> Encoded:
    """BERT inputs for single texts (``contexts`` None) or (context, text) pairs.

    Pairs are always ``[CLS] context [SEP] text [SEP]``; a missing context is
    empty. Over-long input keeps the start of the text and the *end* of the
    context (the words just before the reply), and says so in ``notes``.
    """
    cls_id, sep_id, _ = special_ids(tokenizer)
    texts = [_model_text(t) for t in texts]
    text_ids = [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
    out = Encoded([], [], [])
    if contexts is None:
        budget = max_len - 2
        for ids in text_ids:
            notes: List[str] = [_truncation_note("text", len(ids), budget, max_len)] if len(ids) > budget else []
            ids = ids[:budget]
            out.ids.append([cls_id] + ids + [sep_id])
            out.type_ids.append([0] * (len(ids) + 2))
            out.notes.append(notes)
        return out
    ctx_ids = [e.ids for e in tokenizer.encode_batch([_model_text(c or "") for c in contexts],
                                                     add_special_tokens=False)]
    budget = max_len - 3
    for ids, ctx in zip(text_ids, ctx_ids):
        notes = []
        if len(ids) + len(ctx) > budget:
            # The reply matters most; the context keeps at least a quarter of the budget (its tail).
            ctx_keep = min(len(ctx), max(budget - len(ids), budget // 4))
            text_keep = min(len(ids), budget - ctx_keep)
            if text_keep < len(ids):
                notes.append(_truncation_note("utterance", len(ids), text_keep, max_len))
            if ctx_keep < len(ctx):
                notes.append(f"context has {len(ctx)} tokens; the model read only its last {ctx_keep} "
                             f"(max_len={max_len})")
            ids, ctx = ids[:text_keep], ctx[len(ctx) - ctx_keep:]
        out.ids.append([cls_id] + ctx + [sep_id] + ids + [sep_id])
        out.type_ids.append([0] * (len(ctx) + 2) + [1] * (len(ids) + 1))
        out.notes.append(notes)
    return out


def _truncation_note(what: str, have: int, kept: int, max_len: int) -> str:
    return (f"{what} has {have} tokens; the model read only the first {kept} (max_len={max_len}); "
            "split long text into turns")


def pad_batch(ids: Sequence[Sequence[int]], type_ids: Sequence[Sequence[int]],
              pad_id: int) -> Tuple["np.ndarray", "np.ndarray", "np.ndarray"]:
    """numpy int64 input_ids, attention_mask, token_type_ids padded to the longest item."""
    import numpy as np

    width = max(len(row) for row in ids)
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    types = np.zeros((len(ids), width), dtype=np.int64)
    for i, (row, trow) in enumerate(zip(ids, type_ids)):
        input_ids[i, :len(row)] = row
        mask[i, :len(row)] = 1
        types[i, :len(trow)] = trow
    return input_ids, mask, types


def length_batches(lengths: Sequence[int], batch_size: int) -> List[List[int]]:
    """Indices grouped into batches of similar length, so little padding is computed."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def softmax(logits: "np.ndarray") -> "np.ndarray":
    import numpy as np

    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    out: np.ndarray = exp / exp.sum(axis=-1, keepdims=True)
    return out
