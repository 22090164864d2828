"""In-process LRU + TTL, bounded by entry count and by the total size of stored values."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from gateway.cache.keys import key_matches
from gateway.clock import Clock, SystemClock


class MemoryBackend:
    name = "memory"

    def __init__(self, *, max_entries: int, max_bytes: int, clock: Clock | None = None) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._clock = clock or SystemClock()
        self._data: OrderedDict[str, tuple[bytes, float]] = OrderedDict()  # key -> (value, expires)
        self._bytes = 0
        self.evictions = 0

    def get_now(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires <= self._clock.monotonic():
            self._remove(key)
            return None
        self._data.move_to_end(key)
        return value

    async def get(self, key: str) -> bytes | None:
        return self.get_now(key)

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        if len(value) > self._max_bytes:
            return  # could never fit; storing it would evict everything else
        self._remove(key)
        self._data[key] = (value, self._clock.monotonic() + ttl_s)
        self._bytes += len(value)
        while len(self._data) > self._max_entries or self._bytes > self._max_bytes:
            oldest = next(iter(self._data))
            self._remove(oldest)
            self.evictions += 1

    def _remove(self, key: str) -> None:
        item = self._data.pop(key, None)
        if item is not None:
            self._bytes -= len(item[0])

    async def delete(self, key: str) -> None:
        self._remove(key)

    async def purge(self, tenant: str | None, model: str | None) -> int:
        doomed = [k for k in self._data if key_matches(k, tenant, model)]
        for k in doomed:
            self._remove(k)
        return len(doomed)

    async def stats(self) -> dict[str, Any]:
        now = self._clock.monotonic()
        for k in [k for k, (_, exp) in self._data.items() if exp <= now]:
            self._remove(k)
        return {"backend": self.name, "entries": len(self._data), "bytes": self._bytes,
                "max_entries": self._max_entries, "max_bytes": self._max_bytes, "evictions": self.evictions}

    async def aclose(self) -> None:
        self._data.clear()
        self._bytes = 0
