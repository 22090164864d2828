import itertools

import numpy as np
import pytest

from rag.config import RetrieverConfig
from rag.filters import FilterError, matches
from rag.ingest import Ingestor
from rag.loaders import LoadedDocument, Section
from rag.retrieval import Retriever
from rag.store import ChromaStore, CollectionNotFound
from tests.rag.conftest import HashEmbedder, count_words

DOCS = {
    "fruit/apple.txt": ("Apples", "apple orchard harvest in autumn with red apples", "fruit", 2021),
    "fruit/apple-copy.txt": ("Apples again", "apple orchard harvest in autumn with red apples too", "fruit", 2022),
    "fruit/banana.txt": ("Bananas", "banana plantation tropical harvest yellow", "fruit", 2023),
    "tech/engine.txt": ("Engines", "steam engine piston boiler pressure", "tech", 2021),
    "tech/rocket.txt": ("Rockets", "rocket engine fuel thrust launch apollo", "tech", 2024),
}


@pytest.fixture
def loaded(store: ChromaStore, hash_embed: HashEmbedder) -> ChromaStore:
    docs = [LoadedDocument(source=src, title=t, kind="text", file_hash=src, sections=[Section("", body)],
                           metadata={"topic": topic, "year": year})
            for src, (t, body, topic, year) in DOCS.items()]
    Ingestor(store, "docs", hash_embed, count_words).ingest_documents(docs)
    return store


def _r(store: ChromaStore, embed: HashEmbedder, **kw: object) -> Retriever:
    return Retriever(store, "docs", embed, RetrieverConfig(**kw))  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_each_mode_finds_the_matching_chunk(loaded: ChromaStore, hash_embed: HashEmbedder, mode: str) -> None:
    hits = _r(loaded, hash_embed, mode=mode, top_k=2).retrieve("steam boiler pressure")
    assert hits[0].metadata["source"] == "tech/engine.txt"
    assert 1 <= len(hits) <= 2 and all(a.score >= b.score for a, b in itertools.pairwise(hits))
    if mode != "bm25":  # BM25 returns only chunks sharing a word with the query
        assert len(hits) == 2


@pytest.mark.parametrize("fusion", ["rrf", "score"])
def test_hybrid_fusions_rank_both_signals(loaded: ChromaStore, hash_embed: HashEmbedder, fusion: str) -> None:
    hits = _r(loaded, hash_embed, mode="hybrid", fusion=fusion, top_k=5).retrieve("rocket launch")
    assert hits[0].metadata["source"] == "tech/rocket.txt"
    assert all(h.similarity is not None for h in hits)  # cosine known for BM25-proposed chunks too


def test_metadata_filters_apply_to_dense_and_bm25(loaded: ChromaStore, hash_embed: HashEmbedder) -> None:
    for mode in ("dense", "bm25", "hybrid"):
        r = _r(loaded, hash_embed, mode=mode, top_k=5)
        hits = r.retrieve("harvest engine", where={"topic": "tech"})
        assert hits and {h.metadata["topic"] for h in hits} == {"tech"}
        hits = r.retrieve("harvest", where={"$and": [{"topic": "fruit"}, {"year": {"$gte": 2022}}]})
        assert {h.metadata["source"] for h in hits} <= {"fruit/apple-copy.txt", "fruit/banana.txt"}
    cfg_filtered = _r(loaded, hash_embed, mode="hybrid", filters={"year": {"$in": [2021]}})
    assert {h.metadata["year"] for h in cfg_filtered.retrieve("apple engine")} == {2021}


def test_filter_errors_name_the_problem() -> None:
    with pytest.raises(FilterError, match=r"unsupported operator '\$regex'"):
        matches({"a": {"$regex": "x"}}, {"a": "x"})
    with pytest.raises(FilterError, match=r"\$in on 'a' takes a list"):
        matches({"a": {"$in": "x"}}, {"a": "x"})
    with pytest.raises(FilterError, match=r"\$or takes a non-empty list"):
        matches({"$or": []}, {})
    assert matches({"a": {"$nin": [1]}}, {}) and not matches({"a": {"$gt": 1}}, {"a": "str"})


def test_similarity_floor_drops_weak_matches(loaded: ChromaStore, hash_embed: HashEmbedder) -> None:
    loose = _r(loaded, hash_embed, mode="hybrid", top_k=5).retrieve("apple orchard")
    strict = _r(loaded, hash_embed, mode="hybrid", top_k=5, min_score=0.3).retrieve("apple orchard")
    assert len(loose) == 5
    assert strict and len(strict) < 5 and all(h.similarity >= 0.3 for h in strict)
    assert _r(loaded, hash_embed, mode="dense", min_score=0.99).retrieve("zebra") == []


def test_mmr_prefers_diverse_chunks(loaded: ChromaStore, hash_embed: HashEmbedder) -> None:
    q = "apple orchard harvest engine"
    plain = [h.metadata["source"] for h in _r(loaded, hash_embed, mode="dense", top_k=2).retrieve(q)]
    diverse = [h.metadata["source"] for h in
               _r(loaded, hash_embed, mode="dense", top_k=2, mmr=True, mmr_lambda=0.3).retrieve(q)]
    assert set(plain) == {"fruit/apple.txt", "fruit/apple-copy.txt"}  # near-duplicates
    assert diverse[0] in plain and diverse[1] not in plain


def test_bm25_index_follows_collection_changes(loaded: ChromaStore, hash_embed: HashEmbedder) -> None:
    r = _r(loaded, hash_embed, mode="bm25", top_k=1)
    assert r.retrieve("zeppelin") == []
    doc = LoadedDocument(source="air/zeppelin.txt", title="Airships", kind="text", file_hash="z",
                         sections=[Section("", "zeppelin airship hydrogen")])
    Ingestor(loaded, "docs", hash_embed, count_words).ingest_documents([doc])
    assert r.retrieve("zeppelin")[0].metadata["source"] == "air/zeppelin.txt"


@pytest.mark.parametrize("mode", ["dense", "bm25"])
def test_missing_collection_is_a_store_error(store: ChromaStore, hash_embed: HashEmbedder, mode: str) -> None:
    with pytest.raises(CollectionNotFound, match="ingest into it first"):
        Retriever(store, "nothing-here", hash_embed, RetrieverConfig(mode=mode)).retrieve("x")  # type: ignore[arg-type]


def test_query_embedding_is_normalised(loaded: ChromaStore) -> None:
    r = Retriever(loaded, "docs", lambda t: np.full((1, 384), 3.0), RetrieverConfig(mode="dense"))
    assert abs(float(np.linalg.norm(r.embed_query("x"))) - 1.0) < 1e-6


def test_bm25_sees_another_writers_chunks_within_the_revision_max_age(tmp_path, hash_embed: HashEmbedder) -> None:
    """Two store handles on one database (as two gateway workers): the reader re-reads the revision
    at most once per REVISION_MAX_AGE_S, and its own writes show at once."""
    from rag.config import StoreConfig
    from rag.retrieval import REVISION_MAX_AGE_S, BM25Cache

    now = [1000.0]
    reader, writer = (ChromaStore(StoreConfig(path=str(tmp_path / "db"))) for _ in range(2))
    reader.clock = lambda: now[0]
    reader.upsert("docs", ["a"], hash_embed(["alpha bravo"]), ["alpha bravo"], [{"source": "a.md"}])
    cache = BM25Cache()
    assert cache.get(reader, "docs").ids == ["a"]  # own write: seen at once
    writer.upsert("docs", ["b"], hash_embed(["charlie delta"]), ["charlie delta"], [{"source": "b.md"}])
    now[0] += REVISION_MAX_AGE_S / 2
    assert cache.get(reader, "docs").ids == ["a"]  # the revision read half a max-age ago still holds
    now[0] += REVISION_MAX_AGE_S
    assert sorted(cache.get(reader, "docs").ids) == ["a", "b"]


@pytest.mark.parametrize("fusion", ["score", "rrf"])
def test_concurrent_hybrid_path_ranks_like_the_sequential_one(loaded: ChromaStore, hash_embed: HashEmbedder,
                                                               fusion: str) -> None:
    """Without a filter hybrid runs its two sides concurrently; a filter that keeps everything takes
    the sequential path: the rankings must be the same."""
    r = _r(loaded, hash_embed, mode="hybrid", fusion=fusion, top_k=5, candidates=3)
    for q in ["vacation days", "encrypt laptops", "travel costs reimbursed", "nothing matches zzz"]:
        plain = [(h.id, round(h.score, 9)) for h in r.retrieve(q)]
        filtered = [(h.id, round(h.score, 9)) for h in r.retrieve(q, where={"topic": {"$ne": "no-such-topic"}})]
        assert plain == filtered and plain, q
