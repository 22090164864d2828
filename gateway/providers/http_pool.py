"""One pooled aiohttp session per process, shared by every HTTP provider."""

from __future__ import annotations

from typing import Any

import aiohttp

_KEY = "aiohttp_session"


def get_session(shared: dict[str, Any]) -> aiohttp.ClientSession:
    session = shared.get(_KEY)
    if session is None or session.closed:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30, ttl_dns_cache=300)
        # no default timeout: each call sets its own from the deployment and the request deadline
        session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None),
                                        auto_decompress=True, skip_auto_headers=("User-Agent",))
        shared[_KEY] = session
    return session


async def close_session(shared: dict[str, Any]) -> None:
    session = shared.pop(_KEY, None)
    if session is not None and not session.closed:
        await session.close()
