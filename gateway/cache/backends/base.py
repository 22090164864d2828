"""The backend interface: opaque bytes by key, with a TTL, purged by tenant and/or model group."""

from __future__ import annotations

from typing import Any, Protocol


class CacheBackend(Protocol):
    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: float) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def purge(self, tenant: str | None, model: str | None) -> int:
        """Delete the entries of a tenant and/or model group (None: any); return how many."""
        ...

    async def stats(self) -> dict[str, Any]:
        """At least `entries` and `bytes` (None where the backend cannot tell cheaply)."""
        ...

    async def aclose(self) -> None: ...
