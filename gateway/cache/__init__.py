"""Response caching: exact (memory or Redis) and semantic (verified nearest neighbour), per tenant.

Only the config model is imported eagerly (gateway/config.py needs it); the rest loads on use.
"""

from typing import Any

from gateway.cache.config import CacheConfig

__all__ = ["CacheConfig", "CacheHook", "CacheService", "service_for"]


def __getattr__(name: str) -> Any:
    if name == "CacheHook":
        from gateway.cache.hook import CacheHook

        return CacheHook
    if name in ("CacheService", "service_for"):
        from gateway.cache import service

        return getattr(service, name)
    raise AttributeError(name)
