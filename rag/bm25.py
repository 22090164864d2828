"""BM25 over a collection's chunks (bm25s), English stopwords and Snowball stemming (snowballstemmer;
nltk's stemmer gives the same stems but importing nltk costs ~10 s here).

Text is folded to unaccented letters first ("Temür" matches "Temur"), question words are stopwords
(they carry no topic), and a query word the index does not know is replaced by an indexed word one
edit away (Damerau-Levenshtein, rapidfuzz; same first letter) when it is long enough to be a typo rather than a short
different word ("Survivial" -> "survival"). k1/b are Anserini's defaults for short passages. All of
this was chosen on the dev split of expmrc_squad (rag/README.md).
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import lru_cache

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN
from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

K1, B = 0.9, 0.4
QUESTION_WORDS = ("what", "which", "who", "whom", "whose", "when", "where", "why", "how", "do", "does", "did")
STOPWORDS = sorted(set(STOPWORDS_EN) | set(QUESTION_WORDS))
TYPO_MIN_LEN = 5  # shorter unknown words are left alone: one edit turns them into other real words


@lru_cache(maxsize=1)
def _stemmer() -> Callable[[list[str]], list[str]]:
    import snowballstemmer

    return snowballstemmer.stemmer("english").stemWords  # type: ignore[no-any-return]


def fold(text: str) -> str:
    """Drop diacritics (NFKD, combining marks removed): queries are often typed without them."""
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _words(texts: Sequence[str], stemmer: Callable[[list[str]], list[str]] | None = None,
           return_ids: bool = True):  # type: ignore[no-untyped-def]
    return bm25s.tokenize([fold(t) for t in texts], stopwords=STOPWORDS, stemmer=stemmer,
                          show_progress=False, return_ids=return_ids)


class BM25Index:
    """Scores every indexed chunk for a query; positions map to `ids`."""

    def __init__(self, ids: Sequence[str], texts: Sequence[str], k1: float = K1, b: float = B) -> None:
        self.ids = list(ids)
        self.pos = {cid: i for i, cid in enumerate(self.ids)}
        self._model = bm25s.BM25(k1=k1, b=b)
        # Indexed surface words by (first letter, length), for typo correction: bm25s stems each
        # distinct word once. Typos rarely hit the first letter; the buckets keep a lookup ~1 ms.
        self._surface: dict[tuple[str, int], list[str]] = defaultdict(list)
        self._stem_of: dict[str, str] = {}
        if self.ids:
            self._model.index(_words(texts, self._recording_stemmer), show_progress=False)

    def _recording_stemmer(self, words: list[str]) -> list[str]:
        stems = _stemmer()(words)
        for w, s in zip(words, stems, strict=True):
            self._stem_of[w] = s
            self._surface[w[0], len(w)].append(w)
        return stems

    def __len__(self) -> int:
        return len(self.ids)

    def query_terms(self, query: str) -> list[str]:
        """The query's stems the index knows, unknown words replaced by their one-edit correction."""
        words = _words([query], return_ids=False)[0]
        out: list[str] = []
        vocab = self._model.vocab_dict
        for word, stem in zip(words, _stemmer()(words), strict=True):
            if stem in vocab:
                out.append(stem)
            elif (fixed := self._correct(word)) is not None:
                out.append(fixed)
        return out

    def _correct(self, word: str) -> str | None:
        if len(word) < TYPO_MIN_LEN:
            return None
        n, c = len(word), word[0]
        choices = [w for m in (n - 1, n, n + 1) for w in self._surface.get((c, m), ())]
        best = process.extractOne(word, choices, scorer=DamerauLevenshtein.distance, score_cutoff=1)
        return self._stem_of[best[0]] if best else None

    def scores(self, query: str) -> np.ndarray:
        if not self.ids:
            return np.zeros(0, dtype=np.float32)
        terms = self.query_terms(query)
        if not terms:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self._model.get_scores(terms), dtype=np.float32)
