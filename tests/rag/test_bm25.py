"""BM25 query handling: diacritics folded, question words ignored, one-edit typos corrected."""

from __future__ import annotations

import numpy as np

from rag.bm25 import BM25Index, fold

TEXTS = [
    "Temür Khan succeeded Kublai and took the Chinese-style name Chengzong.",
    "Necessity-based entrepreneurship is motivated by survival needs such as food and shelter.",
    "The steam engine drove pumps in mines before railways were built.",
    "What the council decided: who votes, when and where, and how the budget is spent.",
]


def _index() -> BM25Index:
    return BM25Index([f"c{i}" for i in range(len(TEXTS))], TEXTS)


def test_fold_drops_diacritics_and_keeps_ascii() -> None:
    assert fold("Temür Kökejin café") == "Temur Kokejin cafe"
    assert fold("plain") == "plain"


def test_query_without_diacritics_finds_text_with_them() -> None:
    scores = _index().scores("Temur Khan's name")
    assert int(np.argmax(scores)) == 0 and scores[0] > 0


def test_question_words_are_not_terms() -> None:
    ix = _index()
    assert ix.query_terms("What, who, when, where, how, why, which did it do?") == []
    # Chunk 3 is full of question words: a query made of them and nothing else matches nothing.
    assert not ix.scores("who when where how").any()


def test_one_edit_typo_is_corrected_to_an_indexed_word() -> None:
    ix = _index()
    assert ix.query_terms("Survivial needs") == ix.query_terms("survival needs")
    assert int(np.argmax(ix.scores("survivial"))) == 1


def test_short_or_far_unknown_words_are_dropped_not_guessed() -> None:
    ix = _index()
    assert ix.query_terms("lumps") == []  # one edit from "pumps", but at the first letter
    assert ix.query_terms("mind") == []  # too short to correct ("mines" is one edit away)
    assert ix.query_terms("locomotive") == []  # no indexed word within one edit


def test_empty_index_scores_nothing() -> None:
    ix = BM25Index([], [])
    assert ix.scores("steam").shape == (0,)
