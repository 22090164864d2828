"""Redis backend (redis-py asyncio): entries shared by every gateway process; Redis does the TTL.

A Redis that is down or slow must not fail requests: callers treat a RedisError as a miss
(see gateway/cache/hook.py); this module only raises.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from gateway.cache.keys import key_glob


class RedisBackend:
    name = "redis"

    def __init__(self, url: str, *, prefix: str = "sluice:cache:", socket_timeout_s: float = 0.25) -> None:
        self._prefix = prefix
        self._r = aioredis.from_url(url, socket_timeout=socket_timeout_s,
                                    socket_connect_timeout=socket_timeout_s, decode_responses=False)

    async def get(self, key: str) -> bytes | None:
        value = await self._r.get(self._prefix + key)
        return value if value is None or isinstance(value, bytes) else value.encode()

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        await self._r.set(self._prefix + key, value, px=max(1, int(ttl_s * 1000)))

    async def delete(self, key: str) -> None:
        await self._r.delete(self._prefix + key)

    async def _keys(self, tenant: str | None, model: str | None) -> list[bytes]:
        pattern = _glob_escape(self._prefix) + key_glob(tenant, model)
        return [k async for k in self._r.scan_iter(match=pattern, count=1000)]

    async def purge(self, tenant: str | None, model: str | None) -> int:
        keys = await self._keys(tenant, model)
        n = 0
        for i in range(0, len(keys), 500):
            n += int(await self._r.unlink(*keys[i:i + 500]))
        return n

    async def stats(self) -> dict[str, Any]:
        keys = await self._keys(None, None)
        info = await self._r.info("memory")
        return {"backend": self.name, "entries": len(keys), "bytes": None,
                "redis_used_memory": info.get("used_memory")}

    async def aclose(self) -> None:
        await self._r.aclose()


def _glob_escape(s: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in s)
