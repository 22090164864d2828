"""Model groups -> deployments: balancing, retries, fallbacks, timeouts, cooldowns, load shedding.

A request names a group (alias). The router picks a deployment by the group's strategy among
those not cooling down and not saturated (max in-flight, rpm, tpm). If all are saturated it waits
for a free slot up to `queue_timeout_s`, then sheds load with 503 + Retry-After (never an
unbounded queue). Retryable failures (connect errors, timeouts, 429, 5xx) retry with exponential
backoff and jitter, preferring another deployment; a stream is retried only before its first
chunk has gone to the client. When a group is exhausted, its fallback groups are tried in order.
A group streams only if all its deployments' providers can (`can_stream`, recorded per config
generation): `stream: true` to one that cannot is a 400 stream_not_supported, and a stream skips a
fallback group that cannot stream. A provider that cannot report stream usage is sent no
`stream_options`; its stream is closed with a usage chunk the gateway counts.
A deployment that fails `failures` times within `window_s` cools down for `cooldown_s`.
Virtual model prefixes (`rag:`) are handled by registered handlers.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.clock import Clock
from gateway.config import Config, Deployment, ModelGroup
from gateway.context import NativeRequest, RequestContext
from gateway.engine.streaming import with_counted_usage
from gateway.errors import (
    InvalidRequest,
    NotFound,
    Overloaded,
    SluiceError,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
)
from gateway.providers.base import Provider
from gateway.telemetry import tracing as telemetry  # --- telemetry: spans/metrics for upstream attempts ---

log = logging.getLogger("sluice.router")

VirtualHandler = Callable[[RequestContext, dict[str, Any]], Awaitable[Any]]


@dataclass
class DeploymentState:
    deployment: Deployment
    provider: Provider
    in_flight: int = 0
    failures: deque[float] = field(default_factory=deque)
    cooldown_until: float = 0.0
    ewma_latency_s: float | None = None
    requests: deque[float] = field(default_factory=deque)  # start times in the last 60 s (rpm)
    tokens: deque[tuple[float, int]] = field(default_factory=deque)  # (time, tokens) in the last 60 s
    enabled: bool = True  # False when the env var holding its key is unset: never called

    def cooling(self, now: float) -> bool:
        return now < self.cooldown_until

    def _trim(self, now: float) -> None:
        horizon = now - 60.0
        while self.requests and self.requests[0] <= horizon:
            self.requests.popleft()
        while self.tokens and self.tokens[0][0] <= horizon:
            self.tokens.popleft()

    def saturated(self, now: float) -> bool:
        d = self.deployment
        if d.max_in_flight is not None and self.in_flight >= d.max_in_flight:
            return True
        if d.rpm is not None or d.tpm is not None:
            self._trim(now)
            if d.rpm is not None and len(self.requests) >= d.rpm:
                return True
            if d.tpm is not None and sum(t for _, t in self.tokens) >= d.tpm:
                return True
        return False

    def next_free_in(self, now: float) -> float:
        """Seconds until an rpm/tpm window frees a slot (in-flight frees on release)."""
        waits = []
        if self.requests:
            waits.append(self.requests[0] + 60.0 - now)
        if self.tokens:
            waits.append(self.tokens[0][0] + 60.0 - now)
        return max(0.0, min(waits)) if waits else 1.0

    def price_per_mtok(self) -> float:
        p = self.deployment.price
        return (p.input_per_mtok + p.output_per_mtok) if p else float("inf")


class Router:
    def __init__(self, config: Config, providers: dict[str, Provider], clock: Clock,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self.policy = config.router
        self.clock = clock
        self.rng = rng or random.Random()
        self.groups: dict[str, ModelGroup] = {g.name: g for g in config.models}
        self.states: dict[str, DeploymentState] = {
            d.id: DeploymentState(d, providers[d.id], enabled=not d.api_key_env or d.api_key() is not None)  # type: ignore[misc,index]
            for g in config.models for d in g.deployments
        }
        # Recorded once per config generation: a group streams only if every deployment it may
        # route to can (a stream is never sent to a deployment that cannot stream).
        self.can_stream: dict[str, bool] = stream_capability(config.models, providers)
        self._freed = asyncio.Event()
        self._virtual: dict[str, VirtualHandler] = {}
        self.virtual_names: list[str] = []
        self._started = False

    # ---- setup -------------------------------------------------------------------------------
    async def start(self) -> None:
        if not self._started:
            self._started = True
            for st in self.states.values():
                await st.provider.start()

    async def aclose(self) -> None:
        for st in self.states.values():
            await st.provider.aclose()

    def register_virtual(self, prefix: str, handler: VirtualHandler, names: list[str] | None = None) -> None:
        """Serve model names starting with `prefix` (e.g. "rag:") with `handler(ctx, body)`.

        `names` are the full model names listed by GET /v1/models (e.g. ["rag:handbook"])."""
        self._virtual[prefix] = handler
        self.virtual_names.extend(names or [])

    def virtual_handler(self, model: str) -> VirtualHandler | None:
        for prefix, handler in self._virtual.items():
            if model.startswith(prefix):
                return handler
        return None

    def resolve(self, model: str, *, mode: str = "chat") -> ModelGroup:
        group = self.groups.get(model)
        if group is None:
            raise NotFound(f"model {model!r} is not configured on this gateway; GET /v1/models lists the "
                           "models you can use", param="model", code="model_not_found")
        if group.mode != mode:
            route = "/v1/embeddings" if group.mode == "embedding" else "/v1/chat/completions"
            raise InvalidRequest(f"model {model!r} is an {group.mode} model; call it through {route}",
                                 param="model", code="wrong_model_mode")
        return group

    def check_stream(self, group: ModelGroup) -> None:
        """400 stream_not_supported for `stream: true` to a group that cannot stream."""
        if self.can_stream.get(group.name, False):
            return
        cannot = [d.id for d in group.deployments if not self.states[d.id].provider.supports_stream]  # type: ignore[index]
        raise InvalidRequest(f"model {group.name!r} cannot stream (deployment {', '.join(map(str, cannot))} does "
                             "not support streaming); send \"stream\": false", param="stream",
                             code="stream_not_supported")

    # ---- choosing a deployment ---------------------------------------------------------------
    def _pick(self, group: ModelGroup, exclude: set[str]) -> tuple[DeploymentState | None, float]:
        """A free deployment, or (None, seconds to wait hint). Prefers ones not in `exclude`."""
        now = self.clock.monotonic()
        usable = [self.states[d.id] for d in group.deployments if self.states[d.id].enabled]  # type: ignore[index]
        if not usable:
            missing = sorted({d.api_key_env for d in group.deployments if d.api_key_env})
            raise _Unavailable(f"model {group.name!r} has no usable deployment: set "
                               f"{' or '.join(missing)} in the gateway's environment")
        live = [s for s in usable if not s.cooling(now)]
        if not live:
            earliest = min(self.states[d.id].cooldown_until for d in group.deployments) - now  # type: ignore[index]
            raise _AllCooling(max(0.0, earliest))
        free = [s for s in live if not s.saturated(now)]
        if not free:
            return None, min(s.next_free_in(now) for s in live)
        preferred = [s for s in free if s.deployment.id not in exclude] or free
        return self._by_strategy(group.strategy, preferred), 0.0

    def _by_strategy(self, strategy: str, cands: list[DeploymentState]) -> DeploymentState:
        if len(cands) == 1:
            return cands[0]
        if strategy == "least-busy":
            low = min(s.in_flight for s in cands)
            return self.rng.choice([s for s in cands if s.in_flight == low])
        if strategy == "lowest-latency":
            unknown = [s for s in cands if s.ewma_latency_s is None]
            if unknown:  # explore deployments we have not measured yet
                return self.rng.choice(unknown)
            return min(cands, key=lambda s: s.ewma_latency_s or 0.0)
        if strategy == "lowest-cost":
            return min(cands, key=lambda s: s.price_per_mtok())
        total = sum(s.deployment.weight for s in cands)
        r = self.rng.uniform(0, total)
        for s in cands:
            r -= s.deployment.weight
            if r <= 0:
                return s
        return cands[-1]

    async def _acquire(self, group: ModelGroup, exclude: set[str], deadline: float) -> DeploymentState:
        queue_until = min(deadline, self.clock.monotonic() + self.policy.queue_timeout_s)
        while True:
            st, wait_hint = self._pick(group, exclude)
            if st is not None:
                now = self.clock.monotonic()
                st.in_flight += 1
                if st.deployment.rpm is not None:
                    st.requests.append(now)
                return st
            remaining = queue_until - self.clock.monotonic()
            if remaining <= 0:
                raise Overloaded(f"every deployment of model {group.name!r} is at capacity; retry later",
                                 retry_after_s=max(1.0, wait_hint), code="model_overloaded")
            self._freed.clear()
            # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancellation (the client
            # went away) that lands as the wait completes, and the request then took the freed slot
            # and called the upstream anyway (tests/gateway/test_router_cancel.py)
            try:
                async with asyncio.timeout(min(remaining, max(wait_hint, 0.01))):
                    await self._freed.wait()
            except TimeoutError:
                pass

    def _release(self, st: DeploymentState) -> None:
        st.in_flight -= 1
        self._freed.set()

    def _record(self, st: DeploymentState, ok: bool, elapsed_s: float, tokens: int = 0) -> None:
        now = self.clock.monotonic()
        if ok:
            a = self.policy.ewma_alpha
            st.ewma_latency_s = elapsed_s if st.ewma_latency_s is None else a * elapsed_s + (1 - a) * st.ewma_latency_s
            if tokens and st.deployment.tpm is not None:
                st.tokens.append((now, tokens))
            return
        cd = self.policy.cooldown
        st.failures.append(now)
        while st.failures and st.failures[0] <= now - cd.window_s:
            st.failures.popleft()
        if len(st.failures) >= cd.failures and cd.cooldown_s > 0:
            st.cooldown_until = now + cd.cooldown_s
            st.failures.clear()
            log.warning("deployment %s cooling down for %.0fs after %d failures",
                        st.deployment.id, cd.cooldown_s, cd.failures)

    def _backoff(self, attempt: int, err: UpstreamError) -> float:
        p = self.policy.retry
        if err.retry_after_s is not None:
            return min(err.retry_after_s, p.max_retry_after_s)
        base = min(p.backoff_max_s, p.backoff_base_s * (2 ** attempt))
        return self.rng.uniform(base / 2, base)  # jitter

    def _chain(self, group: ModelGroup) -> list[ModelGroup]:
        seen, chain = {group.name}, [group]
        for name in group.fallbacks:
            if name not in seen:
                seen.add(name)
                chain.append(self.groups[name])
        return chain

    # ---- calls -------------------------------------------------------------------------------
    async def _call(self, ctx: RequestContext, body: dict[str, Any], mode: str,
                    op: Callable[[DeploymentState, float], Awaitable[Any]], *, stream: bool = False) -> Any:
        group = self.resolve(ctx.requested_model if ctx.model_group is None else ctx.model_group, mode=mode)
        if stream:
            self.check_stream(group)
        deadline = ctx.started_mono + self.policy.total_deadline_s
        last: SluiceError | None = None
        for g in self._chain(group):
            if ctx.groups_allowed is not None and g.name not in ctx.groups_allowed:
                continue  # the key may not use this fallback, or it is unpriced under a budget
            if stream and not self.can_stream[g.name]:
                continue  # a fallback group that cannot stream is skipped for streams
            exclude: set[str] = set()
            for attempt in range(self.policy.retry.max_retries + 1):
                try:
                    st = await self._acquire(g, exclude, deadline)
                except _Unavailable as unavailable:
                    last = Overloaded(str(unavailable), retry_after_s=60, code="model_unavailable")
                    break
                except _AllCooling as cooling:
                    last = Overloaded(f"every deployment of model {g.name!r} is cooling down after failures",
                                      retry_after_s=cooling.seconds, code="deployments_cooling_down")
                    break
                ctx.attempts += 1
                remaining = deadline - self.clock.monotonic()
                if remaining <= 0:
                    self._release(st)
                    raise UpstreamTimeout("the request's total deadline passed", code="deadline_exceeded")
                started = self.clock.monotonic()
                try:
                    # --- telemetry: one span per upstream attempt (no-op when tracing is off) ---
                    with telemetry.span(ctx, "upstream.attempt", **{
                            "sluice.deployment": st.deployment.id, "sluice.attempt": ctx.attempts,
                            "gen_ai.provider.name": st.deployment.provider,
                            "gen_ai.request.model": st.deployment.model}):
                        result = await op(st, min(st.deployment.timeout_s, remaining))
                    # --- end telemetry ---
                except UpstreamError as err:
                    self._release(st)
                    if not isinstance(err, UpstreamRejected):  # a client's bad request is not the deployment's failure
                        self._record(st, False, self.clock.monotonic() - started)
                    # --- telemetry: count the failure, and the cooldown it may have started ---
                    telemetry.upstream_error(ctx, st.deployment.id or "", err.code)
                    if st.cooling(self.clock.monotonic()):  # it was not cooling when picked
                        telemetry.cooldown(ctx, st.deployment.id or "")
                    # --- end telemetry ---
                    log.info("attempt %d on %s failed: %s", ctx.attempts, st.deployment.id, err.message)
                    if not err.retryable:
                        raise
                    last = err
                    exclude.add(st.deployment.id or "")
                    if attempt < self.policy.retry.max_retries:
                        await asyncio.sleep(self._backoff(attempt, err))
                    continue
                except BaseException:
                    self._release(st)  # cancelled (client went away) or a bug: never leak the slot
                    raise
                self._note_served(ctx, g, st)
                return st, started, result
        assert last is not None
        raise last

    def _note_served(self, ctx: RequestContext, group: ModelGroup, st: DeploymentState) -> None:
        ctx.model_group = ctx.model_group or group.name
        ctx.served_deployment = st.deployment.id
        ctx.served_provider = st.deployment.provider
        ctx.served_model = st.deployment.model
        ctx.response_headers["x-sluice-model"] = st.deployment.id or ""
        ctx.response_headers["x-sluice-attempts"] = str(ctx.attempts)

    async def chat(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        async def op(s: DeploymentState, timeout: float) -> dict[str, Any]:
            native = native_for(ctx, s.provider, body)
            if native is None:
                return await s.provider.chat(body, timeout=timeout)
            completion, raw = await s.provider.native_chat(native, timeout=timeout)
            ctx.scratch["native_response"] = (raw, answer_digest(completion))
            return completion

        st, started, result = await self._call(ctx, body, "chat", op)
        self._release(st)
        self._record(st, True, self.clock.monotonic() - started, _total_tokens(result))
        return result  # type: ignore[no-any-return]

    async def embed(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        st, started, result = await self._call(ctx, body, "embedding",
                                               lambda s, t: s.provider.embed(body, timeout=t))
        self._release(st)
        self._record(st, True, self.clock.monotonic() - started, _total_tokens(result))
        return result  # type: ignore[no-any-return]

    async def stream_chat(self, ctx: RequestContext, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Opens a stream, retrying until its first chunk arrives; then the stream is committed."""

        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        async def first(st: DeploymentState, timeout: float) -> tuple[AsyncIterator[dict[str, Any]], dict[str, Any]]:
            native = native_for(ctx, st.provider, body)
            if native is not None:
                it = st.provider.native_stream(native, timeout=timeout).__aiter__()
            elif st.provider.supports_stream_usage:
                it = st.provider.stream_chat(body, timeout=timeout).__aiter__()
            else:  # it cannot honour stream_options: do not send them; count the usage ourselves
                plain = {k: v for k, v in body.items() if k != "stream_options"}
                it = st.provider.stream_chat(plain, timeout=timeout).__aiter__()
                if wants_usage:
                    it = with_counted_usage(it, body, st.deployment.model).__aiter__()
            try:
                head = await it.__anext__()
            except StopAsyncIteration:
                raise UpstreamError("upstream ended the stream without sending anything") from None
            return it, head

        st, started, (it, head) = await self._call(ctx, body, "chat", first, stream=True)
        return self._committed(ctx, st, started, it, head)

    async def _committed(self, ctx: RequestContext, st: DeploymentState, started: float,
                         it: AsyncIterator[dict[str, Any]], head: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        failed = False  # a client going away is not the deployment's failure
        tokens = 0
        try:
            yield head
            async for chunk in it:
                if isinstance(chunk.get("usage"), dict):
                    tokens = int(chunk["usage"].get("total_tokens") or 0)
                yield chunk
        except UpstreamError:
            failed = True
            raise
        finally:
            self._release(st)
            self._record(st, not failed, self.clock.monotonic() - started, tokens)
            aclose = getattr(it, "aclose", None)
            if aclose is not None:
                await aclose()


def native_for(ctx: RequestContext, provider: Provider, body: dict[str, Any]) -> NativeRequest | None:
    """The client's own request, when this provider speaks its API and no stage rewrote the chat
    body it was translated to (a redaction, a rendered prompt): then the rewritten body goes."""
    native = ctx.native
    if native is None or native.wire not in provider.native_wires:
        return None
    return native if orjson.dumps(body) == native.chat_digest else None


def answer_digest(completion: dict[str, Any]) -> bytes:
    """What a stage could change in an answer: if it differs after the stages ran, the native
    answer is not sent (gateway/api/anthropic_messages.py)."""
    msg = ((completion.get("choices") or [{}])[0]).get("message") or {}
    return orjson.dumps([msg.get("content"), msg.get("tool_calls")])


def stream_capability(groups: list[ModelGroup], providers: dict[str, Provider]) -> dict[str, bool]:
    """Per model group: can it answer `stream: true`? Only chat groups whose every deployment's
    provider streams can; a group that mixes the two is logged, since its streams are refused."""
    out: dict[str, bool] = {}
    for g in groups:
        flags = [providers[d.id].supports_stream for d in g.deployments]  # type: ignore[index]
        out[g.name] = g.mode == "chat" and all(flags)
        if g.mode == "chat" and any(flags) and not all(flags):
            log.warning("model group %r mixes deployments that can stream and ones that cannot; "
                        "stream: true requests to it are refused with 400 stream_not_supported", g.name)
    return out


class _Unavailable(Exception):
    """Every deployment of a group lacks its credentials (the env var its config names is unset)."""


class _AllCooling(Exception):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


def _total_tokens(result: Any) -> int:
    usage = result.get("usage") if isinstance(result, dict) else None
    return int(usage.get("total_tokens") or 0) if isinstance(usage, dict) else 0
