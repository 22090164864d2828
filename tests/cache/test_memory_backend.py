"""In-process LRU + TTL backend, bounded by entries and bytes; time from a FakeClock."""

from __future__ import annotations

from gateway.cache.backends.memory import MemoryBackend
from gateway.cache.keys import exact_key
from gateway.clock import FakeClock


def k(tenant: str, model: str, i: int) -> str:
    return exact_key(tenant, model, {"messages": [{"role": "user", "content": str(i)}]})


async def test_ttl_expires_entries() -> None:
    clock = FakeClock()
    b = MemoryBackend(max_entries=10, max_bytes=1000, clock=clock)
    await b.set("a", b"x", ttl_s=10)
    clock.advance(9.9)
    assert await b.get("a") == b"x"
    clock.advance(0.2)
    assert await b.get("a") is None
    assert (await b.stats())["entries"] == 0


async def test_lru_eviction_by_entries_keeps_recently_used() -> None:
    b = MemoryBackend(max_entries=2, max_bytes=1000, clock=FakeClock())
    await b.set("a", b"1", 60)
    await b.set("b", b"2", 60)
    assert await b.get("a") == b"1"  # a is now the most recent
    await b.set("c", b"3", 60)
    assert await b.get("b") is None and await b.get("a") == b"1" and await b.get("c") == b"3"
    assert b.evictions == 1


async def test_bounded_by_bytes_and_oversized_values_are_refused() -> None:
    b = MemoryBackend(max_entries=100, max_bytes=10, clock=FakeClock())
    await b.set("a", b"12345", 60)
    await b.set("b", b"12345", 60)
    await b.set("c", b"1", 60)
    assert await b.get("a") is None and (await b.stats())["bytes"] == 6
    await b.set("big", b"x" * 11, 60)
    assert await b.get("big") is None and await b.get("b") == b"12345"
    await b.set("b", b"1", 60)  # replacing a value re-counts its size
    assert (await b.stats())["bytes"] == 2


async def test_purge_by_tenant_and_by_model() -> None:
    b = MemoryBackend(max_entries=100, max_bytes=10_000, clock=FakeClock())
    for t in ("team:a", "team:b"):
        for m in ("m1", "m2"):
            await b.set(k(t, m, 0), b"v", 60)
    assert await b.purge("team:a", "m1") == 1
    assert await b.purge(None, "m2") == 2
    assert await b.purge("team:b", None) == 1
    assert (await b.stats())["entries"] == 0
    await b.set(k("team:a", "m1", 1), b"v", 60)
    assert await b.purge(None, None) == 1
