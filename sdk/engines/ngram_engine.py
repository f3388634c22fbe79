"""Character n-gram TF-IDF + logistic regression, inferred with numpy alone.

The same model as the project's baseline (training/baseline.py), shipped as
``ngram_<task>.json`` (labels, vocabularies, array layout) plus
``ngram_<task>.f16`` (raw little-endian float16 arrays) — no pickle, no zip,
nothing that can run code on load. It sits beside the fine-tuned BERT as an
ensemble member: the two make different mistakes, and the blend weight is
chosen on dev (training/ensemble.py). Reproduces sklearn's
TfidfVectorizer(analyzer="char", lowercase=True, sublinear_tf=True, norm="l2")
up to float16 rounding of the weights; tests/test_ngram.py checks parity.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Mapping, Sequence, Tuple

import numpy as np

from ..tasks import TASK_LABELS
from .base import ModelUnavailable

if TYPE_CHECKING:
    from ..model_manifest import Manifest

_WHITE = re.compile(r"\s\s+")
FORMAT = "cs-qa-ngram/1"
MAX_N = 3  # n-gram keys pack 3 code points into one uint64


def save(
    path_stem: Path,
    labels: Sequence[str],
    ngram_range: Sequence[int],
    vocabs: Sequence[Sequence[str]],
    idfs: Sequence[np.ndarray],
    coef: np.ndarray,
    intercept: np.ndarray,
) -> List[Path]:
    """Write ``<stem>.json`` + ``<stem>.f16``; coef is (labels, total features)."""
    arrays = [np.asarray(a, dtype="<f2").ravel() for a in (*idfs, coef.T, intercept)]
    layout, offset = [], 0
    for name, a in zip([f"idf_{c}" for c in range(len(idfs))] + ["coef_t", "intercept"], arrays):
        layout.append({"name": name, "offset": offset, "size": int(a.size)})
        offset += int(a.size)
    meta = {
        "format": FORMAT,
        "labels": list(labels),
        "ngram_range": list(ngram_range),
        "vocabs": ["\n".join(v) for v in vocabs],
        "layout": layout,
    }
    json_path, bin_path = path_stem.with_suffix(".json"), path_stem.with_suffix(".f16")
    json_path.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    np.concatenate(arrays).tofile(bin_path)
    return [json_path, bin_path]


class NgramModel:
    """One task's n-gram classifier: ``predict_proba(rows) -> (n, len(labels))``,
    where each row holds one text per column (compliance: context, utterance)."""

    def __init__(self, path_stem: Path):
        meta = json.loads(path_stem.with_suffix(".json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path_stem}.json has format {meta.get('format')!r}; expected {FORMAT!r}")
        flat = np.fromfile(path_stem.with_suffix(".f16"), dtype="<f2").astype(np.float64)
        parts = {p["name"]: flat[p["offset"] : p["offset"] + p["size"]] for p in meta["layout"]}
        self.labels: List[str] = list(meta["labels"])
        self.ngram_range = tuple(meta["ngram_range"])
        if not 1 <= self.ngram_range[0] <= self.ngram_range[1] <= MAX_N:
            raise ValueError(f"{path_stem}.json has ngram_range {self.ngram_range}; expected 1 <= lo <= hi <= {MAX_N}")
        vocabs = [v.split("\n") for v in meta["vocabs"]]
        self.idfs = [parts[f"idf_{c}"] for c in range(len(vocabs))]
        self.sizes = [len(v) for v in vocabs]
        total = sum(self.sizes)
        self.coef_t = parts["coef_t"].reshape(total, len(self.labels))  # one row gather per n-gram found
        self.intercept = parts["intercept"]
        self.offsets = np.cumsum([0] + self.sizes)[:-1]
        # Each vocabulary as sorted integer keys (see _keys) -> feature index, for a vectorised lookup.
        self.lookup = []
        for terms in vocabs:
            rows, keys = self._keys(terms, whole=True)
            order = np.argsort(keys, kind="stable")
            self.lookup.append((keys[order], rows[order]))

    @staticmethod
    def _normalise(text: str) -> str:
        # Same preprocessing as sklearn's analyzer="char": lowercase, squeeze runs of whitespace.
        return _WHITE.sub(" ", text.lower())

    def _keys(self, texts: Sequence[str], whole: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        """(text index, key) of every character n-gram of ``texts`` (``whole``: only each text itself).

        A key packs up to 3 code points, each + 1 so that 0 means "no character", into 21-bit fields
        of one uint64: the n-grams of a whole batch are found with numpy instead of a Python loop.
        """
        lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        # surrogatepass: a lone surrogate (surrogateescape-decoded text) is one code point like any other
        cps = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype="<u4").astype(np.uint64) + 1
        text_of = np.repeat(np.arange(len(texts)), lens)
        remaining = np.repeat(np.cumsum(lens), lens) - np.arange(len(cps))  # chars from here to the end
        out_rows, out_keys = [], []
        for n in (None,) if whole else range(self.ngram_range[0], self.ngram_range[1] + 1):
            if n is None:  # each text's own key: its start position, its length
                at = np.cumsum(lens) - lens
                at, n_at = at[lens > 0], lens[lens > 0]
                if (n_at > MAX_N).any():
                    raise ValueError(f"n-gram vocabulary has terms longer than {MAX_N} characters")
                key = cps[at].copy()
                for j in range(1, MAX_N):
                    more = n_at > j
                    key[more] |= cps[at[more] + j] << np.uint64(21 * j)
                out_rows.append(text_of[at])
                out_keys.append(key)
                continue
            at = np.nonzero(remaining >= n)[0]
            key = cps[at].copy()
            for j in range(1, n):
                key |= cps[at + j] << np.uint64(21 * j)
            out_rows.append(text_of[at])
            out_keys.append(key)
        return np.concatenate(out_rows), np.concatenate(out_keys)

    def _column_logits(self, texts: Sequence[str], c: int) -> np.ndarray:
        """(len(texts), labels) logits of one column, for the whole batch in a few numpy calls."""
        out = np.zeros((len(texts), len(self.labels)))
        rows, keys = self._keys([self._normalise(t) for t in texts])
        sorted_keys, features = self.lookup[c]
        pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
        hit = sorted_keys[pos] == keys
        if not hit.any():
            return out
        size = self.sizes[c]
        pairs, tf = np.unique(rows[hit] * size + features[pos[hit]], return_counts=True)
        rows_a, idx_a = pairs // size, pairs % size
        feats = (1.0 + np.log(tf)) * self.idfs[c][idx_a]  # sublinear tf * idf
        feats /= np.sqrt(np.bincount(rows_a, weights=feats * feats, minlength=len(texts)))[rows_a]  # l2 per text
        contrib = self.coef_t[idx_a + int(self.offsets[c])] * feats[:, None]
        for k in range(len(self.labels)):
            out[:, k] = np.bincount(rows_a, weights=contrib[:, k], minlength=len(texts))
        return out

    def predict_proba(self, rows: Sequence[Sequence[str]]) -> np.ndarray:
        logits = np.tile(self.intercept, (len(rows), 1))
        for c in range(len(self.sizes)):
            logits += self._column_logits([columns[c] for columns in rows], c)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        out: np.ndarray = p / p.sum(axis=1, keepdims=True)
        return out

    def predict_proba_in(self, rows: Sequence[Sequence[str]], order: Sequence[str]) -> np.ndarray:
        """Probabilities with columns in ``order`` (the SDK's canonical label order)."""
        p = self.predict_proba(rows)
        return p[:, [self.labels.index(label) for label in order]]


Ensemble = Dict[str, Tuple["NgramModel", float, str]]


def load_ensemble(manifest: "Manifest", models: Mapping[str, object]) -> Ensemble:
    """task -> (NgramModel, weight, row encoding) for the manifest's ensemble members with a weight > 0.

    The member files must be listed (so hash-verified) in the manifest; a broken member makes the
    whole model unavailable rather than silently changing what the SDK predicts.
    """
    out: Ensemble = {}
    for task, member in (manifest.data.get("ensemble") or {}).items():
        weight = member.get("weight", 0) if isinstance(member, dict) else None
        if not isinstance(weight, (int, float)) or not 0 <= weight <= 1:
            raise ModelUnavailable(
                f"manifest ensemble entry for {task!r} needs a weight in [0, 1], got {member!r:.120}"
            )
        if weight == 0 or task not in models:
            continue
        stem = str(member.get("member", ""))
        for suffix in (".json", ".f16"):
            if stem + suffix not in manifest.data["files"]:
                raise ModelUnavailable(
                    f"ensemble member file {manifest.model_dir / (stem + suffix)} is not listed "
                    "(with its sha256) in manifest.json"
                )
        from ..dialogue import NGRAM_ENCODINGS

        encoding = member.get("encoding", "pair")  # how rows are built (sdk.dialogue.ngram_rows)
        if encoding not in NGRAM_ENCODINGS:
            raise ModelUnavailable(
                f"manifest ensemble entry for {task!r} has encoding {encoding!r}; expected one "
                f"of {', '.join(NGRAM_ENCODINGS)}"
            )
        try:
            out[task] = (NgramModel(manifest.model_dir / stem), float(weight), encoding)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelUnavailable(f"cannot read ensemble member {manifest.model_dir / stem}: {exc}") from exc
        if set(out[task][0].labels) != set(TASK_LABELS[task]):
            raise ModelUnavailable(
                f"ensemble member {stem} labels {out[task][0].labels} do not match the "
                f"{task} labels {list(TASK_LABELS[task])}"
            )
    return out
