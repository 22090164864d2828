"""Counters for rate limits and budgets: in-process memory or Redis, chosen by config.

Every check-and-add is atomic (one event-loop step in memory, one Lua script in Redis), so a
limit of N admits exactly N within a window no matter how many requests race or how many gateway
processes share the Redis. Windows are fixed, aligned to the wall clock (minute for RPM/TPM), so a
client can burst up to 2N across a window boundary; within a window the limit is exact.
Amounts are integers (requests, tokens, or nano-USD for budgets).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from gateway.clock import Clock, SystemClock
from gateway.errors import InvalidRequest, RateLimited

WINDOW_S = 60


class Counters(Protocol):
    async def try_add(self, key: str, amount: int, limit: int, ttl_s: int) -> tuple[bool, int]:
        """Add `amount` if the total stays <= limit. Returns (admitted, total before the add)."""
        ...

    async def add(self, key: str, amount: int, ttl_s: int) -> int: ...
    # the same, on a key that must already exist (a budget's, seeded from the ledger): None when it
    # does not (expired, evicted, or the store was flushed), and nothing is changed
    async def try_add_present(self, key: str, amount: int, limit: int) -> tuple[bool, int] | None: ...
    async def add_present(self, key: str, amount: int) -> int | None: ...
    async def get(self, key: str) -> int | None: ...
    async def set_if_absent(self, key: str, value: int, ttl_s: int) -> bool: ...
    async def aclose(self) -> None: ...


class MemoryCounters:
    """Counters inside one process. With several workers they do not hold: use Redis then."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self._v: dict[str, tuple[int, float]] = {}
        self._ops = 0

    def _live(self, key: str) -> int | None:
        hit = self._v.get(key)
        if hit is None:
            return None
        if hit[1] <= self.clock.time():
            del self._v[key]
            return None
        return hit[0]

    def _sweep(self) -> None:
        self._ops += 1
        if self._ops % 10_000 == 0:  # drop expired windows now and then: memory stays bounded
            now = self.clock.time()
            for k in [k for k, (_, exp) in self._v.items() if exp <= now]:
                del self._v[k]

    async def try_add(self, key: str, amount: int, limit: int, ttl_s: int) -> tuple[bool, int]:
        self._sweep()
        cur = self._live(key) or 0
        if cur + amount > limit:
            return False, cur
        exp = self._v[key][1] if key in self._v else self.clock.time() + ttl_s
        self._v[key] = (cur + amount, exp)
        return True, cur

    async def add(self, key: str, amount: int, ttl_s: int) -> int:
        self._sweep()
        cur = self._live(key)
        exp = self._v[key][1] if cur is not None else self.clock.time() + ttl_s
        new = (cur or 0) + amount
        self._v[key] = (new, exp)
        return new

    async def try_add_present(self, key: str, amount: int, limit: int) -> tuple[bool, int] | None:
        self._sweep()
        cur = self._live(key)
        if cur is None:
            return None
        if cur + amount > limit:
            return False, cur
        self._v[key] = (cur + amount, self._v[key][1])
        return True, cur

    async def add_present(self, key: str, amount: int) -> int | None:
        cur = self._live(key)
        if cur is None:
            return None
        self._v[key] = (cur + amount, self._v[key][1])
        return cur + amount

    async def get(self, key: str) -> int | None:
        return self._live(key)

    async def set_if_absent(self, key: str, value: int, ttl_s: int) -> bool:
        if self._live(key) is not None:
            return False
        self._v[key] = (value, self.clock.time() + ttl_s)
        return True

    async def aclose(self) -> None:
        return None


_TRY_ADD = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = tonumber(ARGV[1])
if cur + n > tonumber(ARGV[2]) then return {0, cur} end
redis.call('INCRBY', KEYS[1], n)
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
return {1, cur}
"""

_TRY_ADD_PRESENT = """
local v = redis.call('GET', KEYS[1])
if not v then return {-1, 0} end
local cur = tonumber(v)
local n = tonumber(ARGV[1])
if cur + n > tonumber(ARGV[2]) then return {0, cur} end
redis.call('INCRBY', KEYS[1], n)
return {1, cur}
"""

_ADD_PRESENT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('INCRBY', KEYS[1], ARGV[1])
"""

_ADD = """
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return v
"""


class RedisCounters:
    """Counters shared by every gateway process using the same Redis (atomic Lua scripts)."""

    def __init__(self, url: str, *, prefix: str = "sluice:") -> None:
        import redis.asyncio as aioredis  # lazy: only when configured

        self.client: Any = aioredis.from_url(url)
        self.prefix = prefix
        self._try_add = self.client.register_script(_TRY_ADD)
        self._add = self.client.register_script(_ADD)
        self._try_add_present = self.client.register_script(_TRY_ADD_PRESENT)
        self._add_present = self.client.register_script(_ADD_PRESENT)

    async def try_add(self, key: str, amount: int, limit: int, ttl_s: int) -> tuple[bool, int]:
        ok, cur = await self._try_add(keys=[self.prefix + key], args=[amount, limit, ttl_s])
        return bool(ok), int(cur)

    async def add(self, key: str, amount: int, ttl_s: int) -> int:
        return int(await self._add(keys=[self.prefix + key], args=[amount, ttl_s]))

    async def try_add_present(self, key: str, amount: int, limit: int) -> tuple[bool, int] | None:
        ok, cur = await self._try_add_present(keys=[self.prefix + key], args=[amount, limit])
        return None if int(ok) < 0 else (bool(ok), int(cur))

    async def add_present(self, key: str, amount: int) -> int | None:
        v = await self._add_present(keys=[self.prefix + key], args=[amount])
        return None if v is None else int(v)

    async def get(self, key: str) -> int | None:
        v = await self.client.get(self.prefix + key)
        return None if v is None else int(v)

    async def set_if_absent(self, key: str, value: int, ttl_s: int) -> bool:
        return bool(await self.client.set(self.prefix + key, value, nx=True, ex=ttl_s))

    async def aclose(self) -> None:
        await self.client.aclose()


class RateLimiter:
    """Requests-per-minute and tokens-per-minute per key.

    TPM: before the call, the request's worst case (prompt bound plus max output,
    gateway/spend/reserve.py) is reserved, admitted only if it fits; after the call, the
    reservation is corrected to the real usage (`reconcile`). So a window never overshoots.
    """

    def __init__(self, counters: Counters, clock: Clock | None = None) -> None:
        self.counters = counters
        self.clock = clock or SystemClock()

    def _window(self) -> tuple[int, float]:
        now = self.clock.time()
        w = int(now // WINDOW_S)
        return w, (w + 1) * WINDOW_S - now

    async def check(self, key_id: str, *, rpm: int | None, tpm: int | None, tokens: int) -> str | None:
        """Raise RateLimited, or return the TPM counter key holding this request's reservation."""
        w, left = self._window()
        if tpm is not None and tokens > tpm:  # no window can admit it: a retry would never help (so not 429)
            raise InvalidRequest(f"this request may use up to {tokens} tokens (its prompt plus max_tokens of output), "
                                 f"more than key {key_id}'s limit of {tpm} tokens per minute; set max_tokens lower "
                                 "or shorten the prompt", param="max_tokens", code="request_exceeds_tpm")
        if rpm is not None:
            ok, cur = await self.counters.try_add(f"rpm:{key_id}:{w}", 1, rpm, WINDOW_S * 2)
            if not ok:
                raise RateLimited(f"key {key_id} reached its limit of {rpm} requests per minute; "
                                  f"retry in {math.ceil(left)}s", retry_after_s=left, code="rpm_exceeded")
        if tpm is not None:
            k = f"tpm:{key_id}:{w}"
            ok, cur = await self.counters.try_add(k, tokens, tpm, WINDOW_S * 2)
            if not ok:
                if rpm is not None:  # give the request slot back: this request was not served
                    await self.counters.add(f"rpm:{key_id}:{w}", -1, WINDOW_S * 2)
                raise RateLimited(f"key {key_id} would exceed its limit of {tpm} tokens per minute "
                                  f"({cur} used, ~{tokens} requested); retry in {math.ceil(left)}s",
                                  retry_after_s=left, code="tpm_exceeded")
            return k
        return None

    async def reconcile(self, reservation: str | None, estimated: int, actual: int) -> None:
        if reservation is not None and actual != estimated:
            await self.counters.add(reservation, actual - estimated, WINDOW_S * 2)
