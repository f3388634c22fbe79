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
from typing import Dict, List, Sequence

import numpy as np

_WHITE = re.compile(r"\s\s+")
FORMAT = "cs-qa-ngram/1"


def save(path_stem: Path, labels: Sequence[str], ngram_range, vocabs: Sequence[Sequence[str]],
         idfs: Sequence[np.ndarray], coef: np.ndarray, intercept: np.ndarray) -> List[Path]:
    """Write ``<stem>.json`` + ``<stem>.f16``; coef is (labels, total features)."""
    arrays = [np.asarray(a, dtype="<f2").ravel() for a in (*idfs, coef.T, intercept)]
    layout, offset = [], 0
    for name, a in zip([f"idf_{c}" for c in range(len(idfs))] + ["coef_t", "intercept"], arrays):
        layout.append({"name": name, "offset": offset, "size": int(a.size)})
        offset += int(a.size)
    meta = {"format": FORMAT, "labels": list(labels), "ngram_range": list(ngram_range),
            "vocabs": ["\n".join(v) for v in vocabs], "layout": layout}
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
        parts = {p["name"]: flat[p["offset"]:p["offset"] + p["size"]] for p in meta["layout"]}
        self.labels: List[str] = list(meta["labels"])
        self.ngram_range = tuple(meta["ngram_range"])
        self.vocabs: List[Dict[str, int]] = [
            {t: i for i, t in enumerate(v.split("\n"))} for v in meta["vocabs"]]
        self.idfs = [parts[f"idf_{c}"] for c in range(len(self.vocabs))]
        total = sum(len(v) for v in self.vocabs)
        self.coef_t = parts["coef_t"].reshape(total, len(self.labels))  # one row gather per n-gram found
        self.intercept = parts["intercept"]
        self.offsets = np.cumsum([0] + [len(v) for v in self.vocabs])[:-1]

    def _ngrams(self, text: str) -> List[str]:
        # Same tokenisation as sklearn's analyzer="char" (lowercase, squeeze whitespace).
        text = _WHITE.sub(" ", text.lower())
        lo, hi = self.ngram_range
        grams = list(text) if lo == 1 else []
        for n in range(max(lo, 2), min(hi, len(text)) + 1):
            grams.extend(text[i:i + n] for i in range(len(text) - n + 1))
        return grams

    def _column_logits(self, text: str, c: int):
        vocab, counts = self.vocabs[c], {}
        for g in self._ngrams(text):
            j = vocab.get(g)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        if not counts:
            return 0.0
        idx = np.fromiter(counts, dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        feats = (1.0 + np.log(tf)) * self.idfs[c][idx]
        feats /= np.sqrt(feats @ feats)
        return feats @ self.coef_t[idx + int(self.offsets[c])]

    def predict_proba(self, rows: Sequence[Sequence[str]]) -> np.ndarray:
        logits = np.tile(self.intercept, (len(rows), 1))
        for r, columns in enumerate(rows):
            for c, text in enumerate(columns):
                logits[r] += self._column_logits(text, c)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict_proba_in(self, rows: Sequence[Sequence[str]], order: Sequence[str]) -> np.ndarray:
        """Probabilities with columns in ``order`` (the SDK's canonical label order)."""
        p = self.predict_proba(rows)
        return p[:, [self.labels.index(label) for label in order]]
