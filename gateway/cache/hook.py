"""The cache as a pipeline Hook: look up before the upstream call, store after the response.

before():  strip the body's `cache` field, read the controls, then exact lookup, then semantic
           lookup (verified). A hit returns the stored completion; the pipeline replays it as SSE
           when the client streams. Sets ctx.cache_status and the `x-sluice-cache` header
           (`x-sluice-cache-similarity` on semantic hits); a hit costs $0 and records what it saved.
finished(): stores the completed response (ctx.completion, aggregated by the pipeline for streams)
           off the request path. Errors, unfinished streams, tool calls and (by default)
           temperature > 0 answers are not stored.

A cache that fails (Redis down, embedder error) degrades to a miss; it never fails the request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from redis.exceptions import RedisError

from gateway.cache.config import CacheConfig, ResolvedPolicy
from gateway.cache.controls import CacheControls, parse_controls
from gateway.cache.keys import exact_key, semantic_partition, split_last_user_turn, tenant_of
from gateway.cache.service import CacheService
from gateway.context import RequestContext
from gateway.errors import SluiceError
from gateway.hooks import Completion, Hook, HookResult
from gateway.services import Services

log = logging.getLogger("sluice.cache")

BACKEND_ERRORS = (RedisError, OSError, asyncio.TimeoutError)
# An embedder is a model call: onnxruntime raises RuntimeError, a router-backed one SluiceError.
SEMANTIC_ERRORS = (*BACKEND_ERRORS, RuntimeError, SluiceError)
HEADER = "x-sluice-cache"
SIMILARITY_HEADER = "x-sluice-cache-similarity"
ENTRY_VERSION = 1

# (model group, usage) -> USD, for entries stored before their cost was known.
PriceFn = Callable[[str, dict[str, Any]], float | None]


@dataclass(slots=True)
class _State:
    tenant: str
    model: str
    policy: ResolvedPolicy
    controls: CacheControls
    key: str | None = None
    store: bool = False
    served: bool = False
    partition: str | None = None
    text: str | None = None
    vector: np.ndarray | None = None
    semantic: bool = False


class CacheHook(Hook):
    name = "cache"

    def __init__(self, config: CacheConfig, service: CacheService | None, *, price_fn: PriceFn | None = None,
                 services: Services | None = None) -> None:
        self.config = config
        self._service = service
        self.price_fn = price_fn
        self._services = services  # the gateway's: tells whether a reload replaced our service

    @property
    def service(self) -> CacheService:
        assert self._service is not None, "cache is off"
        return self._service

    # ---- lookup -------------------------------------------------------------------------------

    async def before(self, ctx: RequestContext) -> HookResult:
        if ctx.kind != "chat":
            return None
        body = ctx.body
        field_ = body.pop("cache", None)  # sluicegate's own field never reaches the upstream
        if self._service is None:
            return None
        controls = parse_controls(ctx.headers.get("cache-control"), field_)
        model = str(body.get("model") or ctx.requested_model)
        policy = self.config.policy(model)
        if not policy.enabled:
            return None
        st = _State(tenant_of(ctx.principal, self.config.tenant_by), model, policy, controls)
        ctx.scratch[self.name] = st
        if _request_not_cacheable(body, policy):
            self._mark(ctx, "bypass")
            return None
        st.key = exact_key(st.tenant, model, body)
        st.store = not controls.no_store
        if controls.no_cache:
            self._prepare_semantic(st, body)  # the fresh answer is still stored, semantically too
            self._mark(ctx, "bypass")
            return None
        entry = await self._fetch(st.key, controls)
        if entry is not None:
            return self._serve(ctx, st, entry, "hit", None)
        self._prepare_semantic(st, body)
        if st.semantic:
            hit = await self._semantic_lookup(ctx, st)
            if hit is not None:
                return hit
        self._mark(ctx, "miss")
        return None

    def _prepare_semantic(self, st: _State, body: dict[str, Any]) -> None:
        sem = self.service.semantic
        wanted = st.policy.semantic if st.controls.semantic is None else st.controls.semantic
        if sem is None or not wanted:
            return
        split = split_last_user_turn(body.get("messages") or [])
        if split is None or len(split[0]) > self.config.semantic.max_turn_chars:
            return
        st.text, history = split
        st.partition = semantic_partition(st.tenant, st.model, body, history)
        st.semantic = True

    async def _semantic_lookup(self, ctx: RequestContext, st: _State) -> Completion | None:
        sem = self.service.semantic
        assert sem is not None and st.partition is not None and st.text is not None
        try:
            res = await sem.lookup(st.partition, st.text)
        except SEMANTIC_ERRORS as exc:
            self._count_error("semantic lookup", exc)
            return None
        st.vector = res.vector
        self.service.counts["semantic_rejected"] += len(res.rejected)
        for m in res.matches:
            entry = await self._fetch(m.key, st.controls)
            if entry is not None:
                return self._serve(ctx, st, entry, "semantic-hit", m.similarity)
        return None

    async def _fetch(self, key: str, controls: CacheControls) -> dict[str, Any] | None:
        try:
            raw = await self.service.backend.get(key)
        except BACKEND_ERRORS as exc:
            self._count_error("get", exc)
            return None
        if raw is None:
            return None
        entry: dict[str, Any] = orjson.loads(raw)
        if entry.get("v") != ENTRY_VERSION:
            return None
        if controls.max_age_s is not None and self.service.clock.time() - entry["created"] > controls.max_age_s:
            return None
        return entry

    def _serve(self, ctx: RequestContext, st: _State, entry: dict[str, Any], status: str,
               similarity: float | None) -> Completion:
        completion: Completion = entry["completion"]
        st.served = True
        self._mark(ctx, status)
        if similarity is not None:
            ctx.response_headers[SIMILARITY_HEADER] = f"{similarity:.4f}"
        ctx.model_group = st.model
        ctx.served_model = entry.get("served_model")
        if isinstance(completion.get("usage"), dict):
            ctx.usage = completion["usage"]
        saved = entry.get("cost_usd")
        if saved is None and self.price_fn is not None and isinstance(ctx.usage, dict):
            saved = self.price_fn(st.model, ctx.usage)
        ctx.cost_usd = 0.0
        ctx.cost_saved_usd = float(saved) if saved is not None else None
        if saved:
            self.service.saved_usd += float(saved)
        return completion

    def _mark(self, ctx: RequestContext, status: str) -> None:
        ctx.cache_status = status
        ctx.response_headers[HEADER] = status
        self.service.counts[status] += 1

    def _count_error(self, what: str, exc: BaseException) -> None:
        self.service.counts["backend_error"] += 1
        log.warning("cache %s failed (%s: %s); treating as a miss", what, type(exc).__name__, exc)

    # ---- store --------------------------------------------------------------------------------

    async def finished(self, ctx: RequestContext) -> None:
        st: _State | None = ctx.scratch.get(self.name)
        if st is None or self._service is None or st.served or not st.store or st.key is None:
            return
        completion = ctx.completion
        why = _response_not_cacheable(ctx, completion, st.policy)
        if why or completion is None:
            self.service.counts["store_skipped"] += 1
            log.debug("not caching %s: %s", ctx.request_id, why or "no completion")
            return
        ttl = min(st.controls.ttl_s or st.policy.ttl_s, self.config.max_ttl_s)
        self.service.spawn(self._store(ctx, st, completion, ttl))

    async def _store(self, ctx: RequestContext, st: _State, completion: Completion, ttl: float) -> None:
        await asyncio.sleep(0)  # let later hooks' finished() (spend) fill ctx.cost_usd first
        assert st.key is not None
        entry = {"v": ENTRY_VERSION, "completion": completion, "created": self.service.clock.time(),
                 "cost_usd": ctx.cost_usd, "served_model": ctx.served_model, "model": st.model}
        data = orjson.dumps(entry)
        if len(data) > self.config.max_entry_bytes:
            self.service.counts["store_skipped"] += 1
            return
        try:
            await self.service.backend.set(st.key, data, ttl)
            if st.semantic and self.service.semantic is not None:
                assert st.partition is not None and st.text is not None
                await self.service.semantic.add(st.partition, st.text, st.key, ttl_s=ttl, tenant=st.tenant,
                                                model=st.model, vector=st.vector)
        except SEMANTIC_ERRORS as exc:
            self._count_error("store", exc)
            return
        self.service.counts["store"] += 1

    async def aclose(self) -> None:
        if self._service is None:
            return
        # The service outlives a config generation unless a reload replaced it.
        if self._services is not None and self._services.cache is not self.service:
            await self.service.aclose()
        else:
            await self.service.drain()


def _request_not_cacheable(body: dict[str, Any], policy: ResolvedPolicy) -> str | None:
    t = body.get("temperature")
    if isinstance(t, int | float) and t > 0 and not policy.cache_temperature_above_zero:
        return "temperature > 0"
    return None


def _response_not_cacheable(ctx: RequestContext, completion: Completion | None,
                            policy: ResolvedPolicy) -> str | None:
    if ctx.status_code != 200 or ctx.error_code or ctx.client_disconnected:
        return "error or incomplete response"
    if not completion or not completion.get("choices"):
        return "no choices"
    for ch in completion["choices"]:
        reason = ch.get("finish_reason")
        msg = ch.get("message") or {}
        if reason == "content_filter":
            return "content filtered"
        if (reason in ("tool_calls", "function_call") or msg.get("tool_calls") or msg.get("function_call")) \
                and not policy.cache_tool_calls:
            return "tool call"
    return None
