"""Storage for cached responses: in-process LRU+TTL (embedded default) or Redis (shared)."""

from gateway.cache.backends.base import CacheBackend
from gateway.cache.backends.memory import MemoryBackend

__all__ = ["CacheBackend", "MemoryBackend"]
