"""BM25 over a collection's chunks (bm25s), English stopwords and Snowball stemming (snowballstemmer;
nltk's stemmer gives the same stems but importing nltk costs ~10 s here).

Text is folded to unaccented letters first ("Temür" matches "Temur") and question words are
stopwords (they carry no topic). k1/b are Anserini's defaults for short passages. All three were
chosen on the dev split of expmrc_squad (rag/README.md).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN

K1, B = 0.9, 0.4
QUESTION_WORDS = ("what", "which", "who", "whom", "whose", "when", "where", "why", "how", "do", "does", "did")
STOPWORDS = sorted(set(STOPWORDS_EN) | set(QUESTION_WORDS))


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import snowballstemmer

    return snowballstemmer.stemmer("english").stemWords


def fold(text: str) -> str:
    """Drop diacritics (NFKD, combining marks removed): queries are often typed without them."""
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _tokenize(texts: Sequence[str], vocab_only: bool = False):  # type: ignore[no-untyped-def]
    return bm25s.tokenize([fold(t) for t in texts], stopwords=STOPWORDS, stemmer=_stemmer(),
                          show_progress=False, return_ids=not vocab_only)


class BM25Index:
    """Scores every indexed chunk for a query; positions map to `ids`."""

    def __init__(self, ids: Sequence[str], texts: Sequence[str], k1: float = K1, b: float = B) -> None:
        self.ids = list(ids)
        self.pos = {cid: i for i, cid in enumerate(self.ids)}
        self._model = bm25s.BM25(k1=k1, b=b)
        if self.ids:
            self._model.index(_tokenize(texts), show_progress=False)

    def __len__(self) -> int:
        return len(self.ids)

    def scores(self, query: str) -> np.ndarray:
        if not self.ids:
            return np.zeros(0, dtype=np.float32)
        words = _tokenize([query], vocab_only=True)[0]
        known = [w for w in words if w in self._model.vocab_dict]
        if not known:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self._model.get_scores(known), dtype=np.float32)
