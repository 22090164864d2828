"""The long-lived cache: backend + optional semantic index + counters, shared across config reloads.

gateway/cache/hook.py is rebuilt on every config generation; this service lives in
`gateway.services.cache` and is rebuilt only when the `cache` config section changes, so a
reload does not empty the cache.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gateway.cache.backends.base import CacheBackend
from gateway.cache.backends.memory import MemoryBackend
from gateway.cache.config import CacheConfig
from gateway.cache.semantic import EmbedFn, SemanticCache, VectorIndex
from gateway.clock import Clock
from gateway.errors import ConfigError

if TYPE_CHECKING:
    from gateway.config import Config
    from gateway.runtime import Gateway

log = logging.getLogger("sluice.cache")


class CacheService:
    def __init__(self, config: CacheConfig, backend: CacheBackend, semantic: SemanticCache | None, clock: Clock) -> None:
        self.config = config
        self.backend = backend
        self.semantic = semantic
        self.clock = clock
        self.counts: Counter[str] = Counter()
        self.saved_usd = 0.0
        self._pending: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Any) -> None:
        """Run after-response work (stores) off the request path; `drain()` waits for it."""
        task = asyncio.ensure_future(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def purge(self, tenant: str | None, model: str | None) -> dict[str, int]:
        n = await self.backend.purge(tenant, model)
        m = await self.semantic.index.purge(tenant, model) if self.semantic is not None else 0
        return {"entries": n, "semantic_entries": m}

    async def stats(self) -> dict[str, Any]:
        c = self.counts
        served = c["hit"] + c["semantic-hit"]
        looked = served + c["miss"]
        out: dict[str, Any] = {
            "lookups": looked, "hits": c["hit"], "semantic_hits": c["semantic-hit"], "misses": c["miss"],
            "bypassed": c["bypass"], "hit_ratio": (served / looked) if looked else None,
            "stores": c["store"], "stores_skipped": c["store_skipped"], "backend_errors": c["backend_error"],
            "semantic_rejected": c["semantic_rejected"], "saved_usd": round(self.saved_usd, 6),
            "backend": await self.backend.stats(), "scope": "this process (counters); backend (entries)",
        }
        if self.semantic is not None:
            out["semantic"] = {**await self.semantic.index.stats(), "threshold": self.semantic.threshold,
                               "verify": self.semantic.verify_candidates}
        return out

    async def aclose(self) -> None:
        await self.drain()
        await self.backend.aclose()
        if self.semantic is not None:
            await self.semantic.index.aclose()


def build_backend(config: CacheConfig, clock: Clock) -> CacheBackend:
    if config.backend == "memory":
        return MemoryBackend(max_entries=config.memory.max_entries, max_bytes=config.memory.max_bytes, clock=clock)
    import os

    from gateway.cache.backends.redis_backend import RedisBackend

    url = config.redis.url or os.environ.get(config.redis.url_env)
    if not url:
        raise ConfigError(f"cache.backend is redis but no URL is set; export {config.redis.url_env}=redis://host:6379/0 "
                          "or set cache.redis.url")
    return RedisBackend(url, prefix=config.redis.prefix, socket_timeout_s=config.redis.socket_timeout_s)


def build_index(config: CacheConfig, clock: Clock) -> VectorIndex:
    sem = config.semantic
    if sem.index == "chroma":
        from gateway.cache.index_chroma import ChromaIndex

        return ChromaIndex(path=sem.chroma_path, host=sem.chroma_host, port=sem.chroma_port,
                           collection=sem.chroma_collection, clock=clock)
    from gateway.cache.index_numpy import NumpyIndex

    return NumpyIndex(max_entries=sem.max_entries, clock=clock)


def default_embedder() -> EmbedFn | None:
    """The gateway's local MiniLM model (gateway/providers/minilm.py), loaded on first use."""
    try:
        from gateway.providers.minilm import get_embedder
    except ImportError as exc:  # onnxruntime / the model packages missing from this install
        log.warning("semantic cache off: the local embedding model cannot load (%s) and "
                    "cache.semantic.embedding_model is not set", exc)
        return None

    def embed(texts: Sequence[str]) -> np.ndarray:
        return get_embedder().embed(list(texts))

    return embed


def router_embedder(gateway: Gateway, model: str) -> EmbedFn:
    """Embeddings from a configured embedding model group, through the gateway's own router."""
    from gateway.context import RequestContext

    async def embed(texts: Sequence[str]) -> np.ndarray:
        clock = gateway.clock
        ctx = RequestContext(request_id="cache-embed", route="embeddings", body={}, headers={},
                             started_mono=clock.monotonic(), started_wall=clock.time(),
                             requested_model=model, model_group=model)
        res = await gateway.router.embed(ctx, {"model": model, "input": list(texts)})
        rows = sorted(res["data"], key=lambda d: d.get("index", 0))
        vecs = np.asarray([r["embedding"] for r in rows], dtype=np.float32)
        return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)

    return embed


def build_service(config: CacheConfig, gateway: Gateway, *, embed: EmbedFn | None = None,
                  root: Config | None = None) -> CacheService:
    """`root` is the config generation being built (its model groups), default the running one."""
    clock = gateway.clock
    root = root or gateway.config
    semantic = None
    if config.semantic.enabled or any(p.semantic for p in config.models.values()):
        name = config.semantic.embedding_model
        if embed is None and name:
            group = root.group(name)
            if group is None or group.mode != "embedding":
                raise ConfigError(f"cache.semantic.embedding_model: {name!r} is not a configured model group "
                                  "with mode: embedding; add it under models or remove the setting")
            embed = router_embedder(gateway, name)
        elif embed is None:
            embed = default_embedder()
        if embed is not None:
            semantic = SemanticCache(build_index(config, clock), embed, threshold=config.semantic.threshold,
                                     verify_candidates=config.semantic.verify, clock=clock)
    return CacheService(config, build_backend(config, clock), semantic, clock)


def service_for(root: Config, gateway: Gateway) -> CacheService:
    """The gateway's cache service, rebuilt only when the cache section changed."""
    config = root.cache
    current = gateway.services.cache
    if current is not None and current.config == config:
        return current
    svc = build_service(config, gateway, embed=gateway.services.cache_embedder, root=root)
    # A replaced service is closed by the retiring generation's CacheHook.aclose().
    gateway.services.cache = svc
    return svc
