"""Retrieval quality on the held-out part of expmrc_squad (defaults were tuned on the dev part only).

Embeds the 319 passages once per session with the local MiniLM (int8 ONNX): ~30-60 s here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.config import StoreConfig
from rag.ingest import Ingestor
from rag.retrieval import Retriever
from rag.store import ChromaStore
from tests.rag.squad_eval import Quality, evaluate, load_corpus, load_questions, retriever_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def squad_store(minilm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaStore]:  # type: ignore[no-untyped-def]
    path: Path = tmp_path_factory.mktemp("squad")
    store = ChromaStore(StoreConfig(path=str(path)))
    res = Ingestor(store, "squad", minilm.embed, minilm.count_tokens).ingest_documents(load_corpus())
    assert res.chunks >= 319 and not res.failed
    yield store


@pytest.fixture(scope="session")
def held_out(squad_store: ChromaStore, minilm) -> dict[str, Quality]:  # type: ignore[no-untyped-def]
    qs = load_questions("test")
    assert len(qs) == 345
    got = {mode: evaluate(Retriever(squad_store, "squad", minilm.embed, retriever_config(mode)), qs)
           for mode in ("dense", "bm25", "hybrid")}
    print("\nheld-out split (defaults): " + "; ".join(
        f"{m} recall@5={v.recall_at_5:.3f} MRR={v.mrr:.3f}" for m, v in got.items()))
    return got


def test_hybrid_mrr_meets_target(held_out: dict[str, Quality]) -> None:
    assert held_out["hybrid"].mrr >= 0.88


def test_hybrid_recall_floor(held_out: dict[str, Quality]) -> None:
    # What the tuned defaults reach on the held-out split (0.968 = 334/345 measured; one question of
    # slack): a regression fails here.
    assert held_out["hybrid"].recall_at_5 >= 0.965


@pytest.mark.xfail(strict=True, reason="recall@5 target 0.97 not reached yet: 0.968 (334 of 345; 335 needed) "
                                       "measured on the held-out split (see rag/README.md); remove this mark "
                                       "when it is")
def test_hybrid_recall_meets_target(held_out: dict[str, Quality]) -> None:
    assert held_out["hybrid"].recall_at_5 >= 0.97


def test_bm25_query_handling_floor(held_out: dict[str, Quality]) -> None:
    # Folding, question-word stopwords, typo correction, k1/b (rag/bm25.py): 0.954 / 0.893 measured
    # (0.939 / 0.870 before them).
    assert held_out["bm25"].recall_at_5 >= 0.95 and held_out["bm25"].mrr >= 0.885


def test_hybrid_beats_each_single_retriever(held_out: dict[str, Quality]) -> None:
    assert held_out["hybrid"].mrr > max(held_out["dense"].mrr, held_out["bm25"].mrr)
    assert held_out["hybrid"].recall_at_5 >= held_out["dense"].recall_at_5
