"""Semantic cache: nearest stored question by meaning, served only after verification.

Only the last user turn is compared by meaning. Everything else (tenant, model group, system
prompt, earlier turns, tools, sampling parameters) forms the partition key and must be identical
(gateway/cache/keys.py `semantic_partition`). Candidates above the similarity threshold are
checked by gateway/cache/verify.py (numbers, negation, opposite words, names, units...) because
similarity alone cannot tell "convert 5 km to miles" from "convert 5 miles to km".

The index only points at exact-cache keys; the response itself lives in the backend, so an
evicted or expired response is a miss and its index entry is dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from gateway.cache.index_numpy import Candidate, IndexEntry
from gateway.cache.verify import verify
from gateway.clock import Clock, SystemClock

# embed(texts) -> (n, dim) array of L2-normalised float32 rows; sync (run in a thread) or async.
EmbedFn = Callable[[Sequence[str]], "np.ndarray | Awaitable[np.ndarray]"]


class VectorIndex(Protocol):
    name: str

    async def add(self, partition: str, vector: np.ndarray, entry: IndexEntry) -> None: ...
    async def search(self, partition: str, vector: np.ndarray, *, k: int,
                     min_similarity: float) -> list[Candidate]: ...
    async def remove(self, ids: list[str]) -> None: ...
    async def purge(self, tenant: str | None, model: str | None) -> int: ...
    async def stats(self) -> dict[str, Any]: ...
    async def aclose(self) -> None: ...


@dataclass(slots=True)
class SemanticMatch:
    key: str
    similarity: float
    matched_text: str
    entry_id: str


@dataclass(slots=True)
class LookupResult:
    vector: np.ndarray  # kept so a miss can be stored without embedding twice
    matches: list[SemanticMatch]  # verified, best first
    rejected: list[tuple[float, str]]  # (similarity, reason) of candidates verification refused


class SemanticCache:
    def __init__(self, index: VectorIndex, embed: EmbedFn, *, threshold: float, verify_candidates: bool = True,
                 k: int = 4, clock: Clock | None = None) -> None:
        self.index = index
        self._embed = embed
        self.threshold = threshold
        self.verify_candidates = verify_candidates
        self.k = k
        self._clock = clock or SystemClock()

    async def embed_one(self, text: str) -> np.ndarray:
        if inspect.iscoroutinefunction(self._embed):
            out = await self._embed([text])
        else:
            out = await asyncio.to_thread(self._embed, [text])
            if inspect.isawaitable(out):
                out = await out
        return np.asarray(out, dtype=np.float32)[0]

    async def lookup(self, partition: str, text: str, *, vector: np.ndarray | None = None) -> LookupResult:
        vec = vector if vector is not None else await self.embed_one(text)
        cands = await self.index.search(partition, vec, k=self.k, min_similarity=self.threshold)
        matches: list[SemanticMatch] = []
        rejected: list[tuple[float, str]] = []
        for c in cands:
            if self.verify_candidates:
                verdict = verify(text, c.entry.text)
                if not verdict.ok:
                    rejected.append((c.similarity, verdict.reason))
                    continue
            matches.append(SemanticMatch(c.entry.key, c.similarity, c.entry.text, c.entry.id))
        return LookupResult(vec, matches, rejected)

    async def add(self, partition: str, text: str, key: str, *, ttl_s: float, tenant: str, model: str,
                  vector: np.ndarray | None = None) -> None:
        vec = vector if vector is not None else await self.embed_one(text)
        # One entry per (partition, question): storing the same question again refreshes it.
        entry_id = hashlib.sha256(f"{partition}\n{text}".encode()).hexdigest()[:32]
        await self.index.add(partition, vec, IndexEntry(entry_id, text, key, self._clock.time() + ttl_s,
                                                        tenant, model))

    async def forget(self, entry_id: str) -> None:
        await self.index.remove([entry_id])
