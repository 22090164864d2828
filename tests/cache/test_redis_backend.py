"""Redis backend against a real redis-server (tests/services.py)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from gateway.cache.backends.redis_backend import RedisBackend
from gateway.cache.keys import exact_key

pytestmark = pytest.mark.services


def k(tenant: str, model: str, i: int = 0) -> str:
    return exact_key(tenant, model, {"messages": [{"role": "user", "content": str(i)}]})


@pytest.fixture
async def backend(redis_url: str):
    b = RedisBackend(redis_url, prefix=f"t-{uuid.uuid4().hex[:8]}:")
    yield b
    await b.purge(None, None)
    await b.aclose()


async def test_set_get_delete_and_ttl(backend: RedisBackend) -> None:
    await backend.set("x", b"\x00bytes", ttl_s=0.05)
    assert await backend.get("x") == b"\x00bytes"
    await asyncio.sleep(0.12)
    assert await backend.get("x") is None
    await backend.set("y", b"v", ttl_s=60)
    await backend.delete("y")
    assert await backend.get("y") is None


async def test_purge_by_tenant_model_with_glob_characters(backend: RedisBackend) -> None:
    await backend.set(k("team:a*", "m"), b"1", 60)
    await backend.set(k("team:ab", "m"), b"2", 60)
    await backend.set(k("team:ab", "n?"), b"3", 60)
    assert await backend.purge("team:a*", None) == 1  # '*' in a tenant name is not a wildcard
    assert await backend.get(k("team:ab", "m")) == b"2"
    assert await backend.purge(None, "n?") == 1
    stats = await backend.stats()
    assert stats["entries"] == 1 and stats["redis_used_memory"] > 0


async def test_a_prefix_isolates_two_caches_on_one_redis(redis_url: str, backend: RedisBackend) -> None:
    other = RedisBackend(redis_url, prefix="other-prefix:")
    try:
        await backend.set(k("t", "m"), b"mine", 60)
        assert await other.get(k("t", "m")) is None
        assert await other.purge(None, None) == 0
        assert await backend.get(k("t", "m")) == b"mine"
    finally:
        await other.aclose()
