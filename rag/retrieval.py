"""Dense, BM25 and hybrid retrieval over one collection, with fusion, MMR, filters and a floor.

Hybrid: each side proposes `candidates` chunks; the union is scored by both sides (cosine from the
stored embeddings, BM25 from the full score vector) and fused either by weighted reciprocal rank
over the union pool (`rrf`; each side ranks every pooled chunk) or by a weighted sum of min-max normalised scores (`score`). The similarity floor applies
to the cosine, whatever the mode. MMR re-orders the fused pool for diversity. Without a metadata
filter the two sides of hybrid run concurrently (query embedding + dense search on a worker thread);
with one, BM25 walks down its ranking until enough chunks pass, skipping those dense already found.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from rag import filters as flt
from rag.bm25 import BM25Index
from rag.chunking import indexed_text
from rag.config import RetrieverConfig
from rag.store import ChromaStore, Hit

EmbedFn = Callable[[list[str]], Any]  # -> list[list[float]] | np.ndarray


_SIDES = ThreadPoolExecutor(max_workers=8, thread_name_prefix="rag-dense")  # hybrid's dense side
REVISION_MAX_AGE_S = 1.0  # BM25 sees another process's writes within this long (dense: at once)


class BM25Cache:
    """One BM25 index per (store, collection), rebuilt when the collection's revision changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._indexes: dict[tuple[Any, str], tuple[str, BM25Index]] = {}

    def get(self, store: ChromaStore, collection: str) -> BM25Index:
        rev = store.revision(collection, max_age_s=REVISION_MAX_AGE_S)
        key = (store.key, collection)
        with self._lock:
            cached = self._indexes.get(key)
            if cached and cached[0] == rev:
                return cached[1]
            ids, texts = [], []
            for cid, doc, meta in store.iter_all(collection):
                ids.append(cid)
                texts.append(indexed_text(doc, meta))
            index = BM25Index(ids, texts)
            self._indexes[key] = (rev, index)
            return index


def _minmax(x: np.ndarray) -> np.ndarray:
    if x.size == 0:
        return x
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.ones_like(x)


def _rank_weights(scores: np.ndarray, k: int) -> np.ndarray:
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    return 1.0 / (k + ranks)


def _top_order(scores: np.ndarray, limit: int | None) -> np.ndarray:
    """Positions of the chunks with a positive score, best first; only the best `limit` when given
    (argpartition: at 100k chunks a full sort costs more than the rest of the BM25 side)."""
    nz = np.flatnonzero(scores > 0)
    if limit is not None and len(nz) > limit:
        nz = nz[np.argpartition(-scores[nz], limit - 1)[:limit]]
    return nz[np.argsort(-scores[nz], kind="stable")]


def _pooled_scores(index: BM25Index, scores: np.ndarray, pool: dict[str, Hit]) -> dict[str, float]:
    """BM25 score of every pooled chunk (0 for one the index does not hold yet)."""
    return {cid: float(scores[index.pos[cid]]) if cid in index.pos else 0.0 for cid in pool}


def mmr(query: np.ndarray, hits: list[Hit], k: int, lam: float) -> list[Hit]:
    """Maximal marginal relevance over hits that carry embeddings."""
    if not hits:
        return []
    embs = np.stack([h.embedding for h in hits if h.embedding is not None])
    rel = np.array([h.score for h in hits], dtype=np.float64)
    rel = _minmax(rel)
    sim = embs @ embs.T
    chosen: list[int] = []
    left = list(range(len(hits)))
    while left and len(chosen) < k:
        if chosen:
            penalty = sim[np.ix_(left, chosen)].max(axis=1)
        else:
            penalty = np.zeros(len(left))
        vals = lam * rel[left] - (1 - lam) * penalty
        best = left[int(np.argmax(vals))]
        chosen.append(best)
        left.remove(best)
    return [hits[i] for i in chosen]


class Retriever:
    def __init__(self, store: ChromaStore, collection: str, embed: EmbedFn, cfg: RetrieverConfig,
                 bm25_cache: BM25Cache | None = None) -> None:
        self.store, self.collection, self.embed, self.cfg = store, collection, embed, cfg
        self.bm25_cache = bm25_cache or BM25Cache()

    def embed_query(self, query: str) -> np.ndarray:
        vec = np.asarray(self.embed([query]), dtype=np.float32)[0]
        return vec / max(float(np.linalg.norm(vec)), 1e-12)

    def retrieve(self, query: str, *, top_k: int | None = None, where: dict[str, Any] | None = None,
                 query_embedding: np.ndarray | None = None) -> list[Hit]:
        cfg = self.cfg
        k = top_k or cfg.top_k
        where = {**cfg.filters, **(where or {})} or None
        if where:
            flt.validate(where)
        pool_n = max(cfg.candidates, k)
        need_vec = cfg.mode != "bm25" or cfg.min_score is not None or cfg.mmr

        def dense_side() -> tuple[np.ndarray | None, list[Hit]]:
            qvec = query_embedding if query_embedding is not None else (self.embed_query(query) if need_vec else None)
            if cfg.mode == "bm25" or qvec is None:
                return qvec, []
            # vectors only for MMR: they are the bulk of a Chroma response (384 floats per hit)
            return qvec, self.store.query(self.collection, qvec, pool_n, where=flt.to_chroma(where),
                                          with_embeddings=cfg.mmr)

        bm25_scores: dict[str, float] = {}
        if cfg.mode == "hybrid" and not where:
            # Without a filter the two sides are independent: the query embedding and the dense search
            # run on a worker thread while BM25 scores and fetches its candidates (a store round trip).
            dense = _SIDES.submit(dense_side)
            index = self.bm25_cache.get(self.store, self.collection)
            scores = index.scores(query)
            fetched = self.store.get(self.collection, [index.ids[i] for i in _top_order(scores, pool_n)])
            qvec, dense_hits = dense.result()
            pool = {h.id: h for h in dense_hits}
            for h in fetched:
                pool.setdefault(h.id, h)
            bm25_scores = _pooled_scores(index, scores, pool)
        else:
            qvec, dense_hits = dense_side()
            pool = {h.id: h for h in dense_hits}
            if cfg.mode != "dense":
                bm25_scores = self._bm25_side(query, where, pool_n, pool)
        hits = list(pool.values())
        if not hits:
            return []
        if qvec is not None:
            for h in hits:
                if h.similarity is None and h.embedding is not None:
                    h.similarity = float(h.embedding @ qvec)
        self._score(hits, bm25_scores)
        if cfg.min_score is not None:
            hits = [h for h in hits if h.similarity is not None and h.similarity >= cfg.min_score]
        hits.sort(key=lambda h: h.score, reverse=True)
        if cfg.mmr and qvec is not None:
            return mmr(qvec, hits, k, cfg.mmr_lambda)
        return hits[:k]

    def _bm25_side(self, query: str, where: dict[str, Any] | None, pool_n: int, pool: dict[str, Hit]) -> dict[str, float]:
        """Add the best BM25 chunks that pass the filter to `pool`; BM25 scores of everything pooled."""
        index = self.bm25_cache.get(self.store, self.collection)
        scores = index.scores(query)
        order = _top_order(scores, None if where else pool_n)
        proposed: list[str] = []
        # Walk down the BM25 ranking until enough chunks pass the filter (filters need metadata).
        step = pool_n * 4 if where else pool_n  # a filter rejects some: look further per round trip
        for start in range(0, len(order), step):
            batch = [index.ids[i] for i in order[start:start + step]]
            if not batch:
                break
            fetched = {h.id: h for h in self.store.get(self.collection, [c for c in batch if c not in pool])}
            for cid in batch:
                found = pool.get(cid) or fetched.get(cid)
                if found is None or not flt.matches(where, found.metadata):
                    continue
                pool.setdefault(cid, found)
                proposed.append(cid)
                if len(proposed) >= pool_n:
                    break
            if len(proposed) >= pool_n or not where:
                break
        return _pooled_scores(index, scores, pool)

    def _score(self, hits: Sequence[Hit], bm25_scores: dict[str, float]) -> None:
        cfg = self.cfg
        dense = np.array([h.similarity if h.similarity is not None else -1.0 for h in hits])
        sparse = np.array([bm25_scores.get(h.id, 0.0) for h in hits])
        if cfg.mode == "dense":
            fused = dense
        elif cfg.mode == "bm25":
            fused = sparse
        elif cfg.fusion == "rrf":
            fused = cfg.dense_weight * _rank_weights(dense, cfg.rrf_k) + cfg.bm25_weight * _rank_weights(sparse, cfg.rrf_k)
        else:
            fused = cfg.dense_weight * _minmax(dense) + cfg.bm25_weight * _minmax(sparse)
        for h, s in zip(hits, fused, strict=True):
            h.score = float(s)
