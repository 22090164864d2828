"""Vector indexes (numpy in-process, Chroma embedded and server) and the semantic cache over them."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.cache.index_chroma import ChromaIndex
from gateway.cache.index_numpy import IndexEntry, NumpyIndex
from gateway.cache.semantic import SemanticCache
from gateway.clock import FakeClock


def unit(seed: int, dim: int = 384) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def entry(i: int, *, expires: float = 1e12, tenant: str = "t", model: str = "m") -> IndexEntry:
    return IndexEntry(f"id{i}", f"text {i}", f"key{i}", expires, tenant, model)


async def test_numpy_index_finds_nearest_within_its_partition_only() -> None:
    idx = NumpyIndex(max_entries=100)
    for i in range(40):  # grows past the initial capacity
        await idx.add("p1", unit(i), entry(i))
    await idx.add("p2", unit(1000), entry(1000))
    got = await idx.search("p1", unit(7), k=3, min_similarity=0.5)
    assert [c.entry.id for c in got] == ["id7"] and got[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert await idx.search("p2", unit(7), k=3, min_similarity=0.5) == []
    assert await idx.search("nope", unit(7), k=3, min_similarity=0.0) == []
    assert len(idx) == 41


async def test_numpy_index_expiry_eviction_remove_and_purge() -> None:
    clock = FakeClock()
    idx = NumpyIndex(max_entries=3, clock=clock)
    await idx.add("p", unit(1), entry(1, expires=clock.time() + 10))
    await idx.add("p", unit(2), entry(2, tenant="u"))
    await idx.add("p", unit(3), entry(3, model="n"))
    clock.advance(11)
    assert await idx.search("p", unit(1), k=2, min_similarity=0.9) == []  # expired, and dropped
    assert len(idx) == 2
    await idx.add("p", unit(4), entry(4))
    await idx.add("p", unit(5), entry(5))  # full: the oldest (id2) goes
    assert len(idx) == 3 and await idx.search("p", unit(2), k=1, min_similarity=0.9) == []
    await idx.remove(["id4"])
    assert await idx.purge(None, "n") == 1
    assert await idx.purge("t", None) == 1 and len(idx) == 0
    assert (await idx.stats())["partitions"] == 0


async def _check_chroma(idx: ChromaIndex) -> None:
    await idx.purge(None, None)
    for i in range(5):
        await idx.add("p1", unit(i), entry(i, tenant="a" if i < 3 else "b"))
    await idx.add("p1", unit(99), entry(99, expires=1.0))  # long expired
    got = await idx.search("p1", unit(2), k=3, min_similarity=0.9)
    assert [c.entry.id for c in got] == ["id2"] and got[0].entry.key == "key2"
    assert await idx.search("p1", unit(99), k=3, min_similarity=0.9) == []
    assert await idx.search("p2", unit(2), k=3, min_similarity=0.0) == []
    assert await idx.purge("a", None) == 3
    assert (await idx.stats())["entries"] == 3
    await idx.purge(None, None)


async def test_chroma_embedded_index(tmp_path) -> None:
    await _check_chroma(ChromaIndex(path=str(tmp_path / "chroma")))


@pytest.mark.services
async def test_chroma_server_index(chroma_server) -> None:
    await _check_chroma(ChromaIndex(host=chroma_server.host, port=chroma_server.port, collection="cache-test"))


async def test_semantic_cache_serves_verified_paraphrases_only(embedder) -> None:
    cache = SemanticCache(NumpyIndex(), embedder.embed, threshold=0.85)
    await cache.add("p", "How do I enable dark mode in VS Code?", "k-enable", ttl_s=60, tenant="t", model="m")
    hit = await cache.lookup("p", "How can I turn on dark mode in VS Code?")
    assert [m.key for m in hit.matches] == ["k-enable"] and hit.matches[0].similarity > 0.85
    miss = await cache.lookup("p", "How do I disable dark mode in VS Code?")
    assert miss.matches == [] and miss.rejected and "opposite" in miss.rejected[0][1]
    other_partition = await cache.lookup("q", "How can I turn on dark mode in VS Code?")
    assert other_partition.matches == [] and other_partition.rejected == []


async def test_semantic_cache_without_verification_serves_the_near_miss(embedder) -> None:
    """Why verification exists: similarity alone would serve the wrong answer."""
    cache = SemanticCache(NumpyIndex(), embedder.embed, threshold=0.85, verify_candidates=False)
    await cache.add("p", "Convert 5 miles to km", "k1", ttl_s=60, tenant="t", model="m")
    assert [m.key for m in (await cache.lookup("p", "Convert 5 km to miles")).matches] == ["k1"]


async def test_async_embedder_is_awaited() -> None:
    async def embed(texts):
        return np.stack([unit(len(t)) for t in texts])

    cache = SemanticCache(NumpyIndex(), embed, threshold=0.9)
    await cache.add("p", "abc", "k", ttl_s=60, tenant="t", model="m")
    assert [m.key for m in (await cache.lookup("p", "abc")).matches] == ["k"]


async def test_large_partitions_use_the_coarse_stage_and_still_return_exact_similarities(monkeypatch) -> None:
    import gateway.cache.index_numpy as mod

    monkeypatch.setattr(mod, "COARSE_MIN", 600)
    monkeypatch.setattr(mod, "SHORTLIST", 64)
    idx, exact = NumpyIndex(max_entries=5000), NumpyIndex(max_entries=5000, exact=True)
    rng = np.random.default_rng(3)
    base = [unit(i) for i in range(1000)]
    for i, v in enumerate(base):
        await idx.add("p", v, entry(i))
        await exact.add("p", v, entry(i))
    assert idx._parts["p"].coarse is not None and exact._parts["p"].coarse is None
    await idx.remove(["id5"])
    await exact.remove(["id5"])
    found = 0
    for i in range(6, 106):  # a noisy copy of a stored vector: its source must come back first
        q = base[i] + 0.03 * rng.standard_normal(384).astype(np.float32)
        q /= np.linalg.norm(q)
        got = await idx.search("p", q, k=2, min_similarity=0.0)
        want = await exact.search("p", q, k=2, min_similarity=0.0)
        assert got[0].similarity == pytest.approx(float(q @ base[int(got[0].entry.id[2:])]),
                                                  abs=1e-5)
        found += got[0].entry.id == want[0].entry.id == f"id{i}"
    assert found == 100
    assert await idx.search("p", base[5], k=1, min_similarity=0.99) == []  # removed rows stay gone


async def test_chroma_index_finds_a_partition_crowded_out_by_others(tmp_path) -> None:
    idx = ChromaIndex(path=str(tmp_path / "crowd"))
    target = unit(1)
    for i in range(20):  # near-copies of the target in another partition outrank everything
        v = target + 0.01 * unit(100 + i)
        await idx.add("other", v / np.linalg.norm(v), entry(100 + i, tenant="b"))
    v = target + 0.2 * unit(7)
    await idx.add("mine", v / np.linalg.norm(v), entry(7, tenant="a"))
    got = await idx.search("mine", target, k=2, min_similarity=0.5)
    assert [c.entry.id for c in got] == ["id7"]
    assert all(c.entry.tenant == "b" for c in await idx.search("other", target, k=2, min_similarity=0.5))
