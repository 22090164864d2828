"""In-process vector index (embedded default): one float32 matrix per partition, cosine search.

Small partitions: exact search, one matrix-vector product. Partitions past COARSE_MIN rows also
keep a random orthonormal projection of every vector to COARSE_DIM dimensions; a search scans
that 4x smaller matrix for a shortlist and re-scores the shortlist exactly, so returned
similarities are exact and only the shortlist can miss (recall is measured in
bench/cache_bench.py). Bounded by `max_entries` (oldest evicted first); expired entries are
skipped and dropped when a search meets them.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from gateway.clock import Clock, SystemClock


@dataclass(slots=True)
class IndexEntry:
    id: str
    text: str
    key: str  # the exact-cache key holding the response
    expires: float  # wall time
    tenant: str
    model: str


@dataclass(slots=True)
class Candidate:
    entry: IndexEntry
    similarity: float


COARSE_MIN = 16_384
COARSE_DIM = 96
SHORTLIST = 256
SINGLE_THREAD_MIN = 4096  # rows from which a search pins BLAS to one thread (see _blas_one_thread)

_blas_controller: Any = None


def _blas_one_thread() -> contextlib.AbstractContextManager[Any]:
    """Run a large matrix-vector product on one BLAS thread.

    OpenBLAS splits a matrix-vector product over all cores; on a busy server (other requests,
    other processes) those threads wait for each other and the product gets slower, not faster:
    measured here at 100k x 96 under load, p50 6.4 ms on one thread vs 15-20 ms on the default
    two. The limit costs ~40 us, so it is applied only to large partitions.
    """
    global _blas_controller
    if _blas_controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # threadpoolctl comes with scikit-learn; without it, run as is
            _blas_controller = False
        else:
            _blas_controller = ThreadpoolController()
    if _blas_controller is False:
        return contextlib.nullcontext()
    return _blas_controller.limit(limits=1, user_api="blas")  # type: ignore[no-any-return]


def _grow(m: np.ndarray, rows: int) -> np.ndarray:
    out = np.zeros((rows, m.shape[1]), dtype=np.float32)
    out[: len(m)] = m
    return out


class _Partition:
    __slots__ = ("coarse", "coarse_min", "entries", "free", "n", "proj", "vecs")

    def __init__(self, dim: int, proj: np.ndarray, coarse_min: float) -> None:
        self.coarse_min = coarse_min
        self.vecs = np.zeros((16, dim), dtype=np.float32)
        self.coarse: np.ndarray | None = None  # vecs @ proj, once the partition is large
        self.proj = proj
        self.entries: list[IndexEntry | None] = [None] * 16
        self.free: list[int] = []
        self.n = 0  # rows in use (incl. freed holes below n)

    def add(self, vec: np.ndarray, entry: IndexEntry) -> int:
        if self.free:
            slot = self.free.pop()
        else:
            if self.n == len(self.entries):
                self.vecs = _grow(self.vecs, 2 * self.n)
                if self.coarse is not None:
                    self.coarse = _grow(self.coarse, 2 * self.n)
                self.entries.extend([None] * self.n)
            slot = self.n
            self.n += 1
        self.vecs[slot] = vec
        self.entries[slot] = entry
        if self.coarse is not None:
            self.coarse[slot] = vec @ self.proj
        elif self.n >= self.coarse_min:
            self.coarse = np.ascontiguousarray(self.vecs @ self.proj)
        return slot

    def remove(self, slot: int) -> None:
        if self.entries[slot] is not None:
            self.entries[slot] = None
            self.vecs[slot] = 0.0  # a zero vector scores 0 and never passes a threshold
            if self.coarse is not None:
                self.coarse[slot] = 0.0
            self.free.append(slot)

    def top(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(slots, exact similarities) of up to k best rows, best first."""
        if self.n < SINGLE_THREAD_MIN:
            return self._top(q, k)
        with _blas_one_thread():
            return self._top(q, k)

    def _top(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.coarse is not None and self.n > SHORTLIST:
            approx = self.coarse[: self.n] @ (q @ self.proj)
            short = np.argpartition(-approx, SHORTLIST)[:SHORTLIST]
            sims = self.vecs[short] @ q
            order = np.argsort(-sims)[:k]
            return short[order], sims[order]
        sims = self.vecs[: self.n] @ q
        top = np.argpartition(-sims, k)[:k] if self.n > k else np.arange(self.n)
        top = top[np.argsort(-sims[top])]
        return top, sims[top]


class NumpyIndex:
    name = "numpy"

    def __init__(self, *, dim: int = 384, max_entries: int = 100_000, clock: Clock | None = None,
                 exact: bool = False) -> None:
        self.dim = dim
        # Random orthonormal projection (seeded: the same in every process) for the coarse stage.
        q, _ = np.linalg.qr(np.random.default_rng(20261124).standard_normal((dim, COARSE_DIM)))
        self._proj = q.astype(np.float32)
        self._exact = exact
        self._max = max_entries
        self._clock = clock or SystemClock()
        self._parts: dict[str, _Partition] = {}
        self._where: OrderedDict[str, tuple[str, int]] = OrderedDict()  # id -> (partition, slot), oldest first

    def __len__(self) -> int:
        return len(self._where)

    async def add(self, partition: str, vector: np.ndarray, entry: IndexEntry) -> None:
        self.add_now(partition, vector, entry)

    def add_now(self, partition: str, vector: np.ndarray, entry: IndexEntry) -> None:
        self._remove_id(entry.id)
        while len(self._where) >= self._max:
            self._remove_id(next(iter(self._where)))
        part = self._parts.get(partition)
        if part is None:
            part = self._parts[partition] = _Partition(self.dim, self._proj,
                                                       float("inf") if self._exact else COARSE_MIN)
        self._where[entry.id] = (partition, part.add(np.asarray(vector, dtype=np.float32), entry))

    def _remove_id(self, id_: str) -> None:
        where = self._where.pop(id_, None)
        if where is None:
            return
        part = self._parts[where[0]]
        part.remove(where[1])
        if len(part.free) == part.n:
            del self._parts[where[0]]

    async def search(self, partition: str, vector: np.ndarray, *, k: int, min_similarity: float) -> list[Candidate]:
        return self.search_now(partition, vector, k=k, min_similarity=min_similarity)

    def search_now(self, partition: str, vector: np.ndarray, *, k: int, min_similarity: float) -> list[Candidate]:
        part = self._parts.get(partition)
        if part is None:
            return []
        slots, sims = part.top(np.asarray(vector, dtype=np.float32), k)
        now = self._clock.time()
        out: list[Candidate] = []
        for slot, sim_ in zip(slots.tolist(), sims.tolist()):
            sim = float(sim_)
            entry = part.entries[slot]
            if entry is None or sim < min_similarity:
                continue
            if entry.expires <= now:
                self._remove_id(entry.id)
                continue
            out.append(Candidate(entry, sim))
        return out

    async def remove(self, ids: list[str]) -> None:
        for i in ids:
            self._remove_id(i)

    async def purge(self, tenant: str | None, model: str | None) -> int:
        doomed = [
            e.id for p in self._parts.values() for e in p.entries
            if e is not None and (tenant is None or e.tenant == tenant) and (model is None or e.model == model)
        ]
        for i in doomed:
            self._remove_id(i)
        return len(doomed)

    async def stats(self) -> dict[str, int | str]:
        return {"index": self.name, "entries": len(self._where), "partitions": len(self._parts),
                "bytes": sum(p.vecs.nbytes for p in self._parts.values())}

    async def aclose(self) -> None:
        self._parts.clear()
        self._where.clear()
