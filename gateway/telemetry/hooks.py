"""The telemetry hooks and the composition root's entry points (`instrument_hooks`, `telemetry_for`).

- `_StartHook` (first): binds the request id for logs and opens the root span.
- `TracedHook`: wraps each other hook so the phases it implements run in child spans.
- `TelemetryHook` (last): its `finished` runs after the ledger's and records metrics and the root span.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from gateway.context import RequestContext
from gateway.hooks import Completion, Hook, HookResult, StreamFilter
from gateway.telemetry.tracing import Telemetry


class TelemetryHook(Hook):
    """Last in the pipeline: attaches telemetry to the request and, in `finished`, records it."""

    name = "telemetry"

    def __init__(self, telemetry: Telemetry, gateway: Any = None) -> None:
        self.telemetry = telemetry
        self.gateway = gateway

    async def before(self, ctx: RequestContext) -> HookResult:
        self.telemetry.attach(ctx)
        self.telemetry.root_span(ctx)
        return None

    async def finished(self, ctx: RequestContext) -> None:
        self.telemetry.attach(ctx)
        self.telemetry.finish(ctx)

    async def aclose(self) -> None:
        # Hooks close with their config generation; telemetry outlives a reload, so only flush
        # here unless the whole gateway is shutting down.
        if getattr(self.gateway, "draining", True):
            self.telemetry.shutdown()
        else:
            self.telemetry.flush()


class TracedHook(Hook):
    """Wraps another hook so each phase it implements runs in a child span named after it
    (`auth`, `cache.after`, `spend.finished`, ...). Phases the hook does not override stay
    unwrapped, and the wrapper is only used when tracing is on.
    """

    def __init__(self, inner: Hook, telemetry: Telemetry) -> None:
        self.inner = inner
        self.telemetry = telemetry
        self.name = inner.name
        cls = type(inner)
        self._trace_before = cls.before is not Hook.before
        self._trace_after = cls.after is not Hook.after
        self._trace_finished = cls.finished is not Hook.finished

    async def before(self, ctx: RequestContext) -> HookResult:
        if not self._trace_before:
            return await self.inner.before(ctx)
        with self.telemetry.span(ctx, self.name, **{"sluice.hook.phase": "before"}) as sp:
            result = await self.inner.before(ctx)
            if result is not None:
                sp.set("sluice.short_circuit", True)
            return result

    async def after(self, ctx: RequestContext, completion: Completion) -> Completion:
        if not self._trace_after:
            return await self.inner.after(ctx, completion)
        with self.telemetry.span(ctx, f"{self.name}.after", **{"sluice.hook.phase": "after"}):
            return await self.inner.after(ctx, completion)

    def stream_filter(self, ctx: RequestContext) -> StreamFilter | None:
        return self.inner.stream_filter(ctx)

    async def finished(self, ctx: RequestContext) -> None:
        if not self._trace_finished:
            return await self.inner.finished(ctx)
        with self.telemetry.span(ctx, f"{self.name}.finished", **{"sluice.hook.phase": "finished"}):
            await self.inner.finished(ctx)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __getattr__(self, item: str) -> Any:  # let callers reach the wrapped hook's own API
        return getattr(self.inner, item)


class _StartHook(Hook):
    """First in the pipeline: binds the request id for logs (and opens the root span) before the
    other hooks run, so their log lines carry it."""

    name = "telemetry.start"

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry

    async def before(self, ctx: RequestContext) -> HookResult:
        self.telemetry.attach(ctx)
        self.telemetry.root_span(ctx)
        return None


def instrument_hooks(hooks: list[Hook], telemetry: Telemetry, gateway: Any = None) -> list[Hook]:
    """The composition root's one call: wrap hooks in spans (if tracing), put a request-start hook
    first and TelemetryHook last (its `finished` runs after the ledger's)."""
    wrapped: list[Hook] = [TracedHook(h, telemetry) for h in hooks] if telemetry.tracing else list(hooks)
    return [_StartHook(telemetry), *wrapped, TelemetryHook(telemetry, gateway)]


def telemetry_for(gateway: Any) -> Telemetry:
    """The app's one Telemetry, kept in `gateway.services` (gateway/services.py) so it outlives config reloads.

    Built from the config the gateway started with; a reload changes only its content and log
    settings (Telemetry.reconfigure; exporters, sampling and metrics stay until a restart).
    Registers scrape-time gauges that read the live router (cooldowns, in-flight per deployment).
    """
    tel: Telemetry | None = gateway.services.telemetry
    if tel is None:
        tel = Telemetry(gateway.config.telemetry, clock=gateway.clock,
                        deployment_host=deployment_host_lookup(lambda: gateway.config),
                        known_model=_known_models(gateway),
                        # the spend hook prices requests when spend.enabled (absent: no pricing)
                        pricing_active=lambda: bool(getattr(gateway.config.spend, "enabled", False)))
        if tel.metrics is not None:
            tel.metrics.labeled_gauge_callback(
                "deployment_in_cooldown", "1 while a deployment is cooled down by the circuit breaker",
                ("deployment",), lambda: _router_states(gateway, cooling=True))
            tel.metrics.labeled_gauge_callback(
                "deployment_in_flight", "Requests in flight per deployment",
                ("deployment",), lambda: _router_states(gateway, cooling=False))
        gateway.services.telemetry = tel
    return tel


def _known_models(gateway: Any) -> Callable[[str], bool]:
    """Membership in the live config's model groups (and virtual models), cached per config."""
    cache: dict[str, Any] = {"config": None, "names": frozenset()}

    def known(name: str) -> bool:
        cfg = gateway.config
        if cache["config"] is not cfg:
            cache["names"] = frozenset(g.name for g in cfg.models) | frozenset(gateway.virtual_model_names())
            cache["config"] = cfg
        return name in cache["names"]

    return known


def _router_states(gateway: Any, *, cooling: bool) -> list[tuple[tuple[str, ...], float]]:
    gen = getattr(gateway, "generation", None)
    if gen is None:
        return []
    now = gateway.clock.monotonic()
    return [((dep_id,), float(st.cooling(now)) if cooling else float(st.in_flight))
            for dep_id, st in gen.router.states.items()]


def deployment_host_lookup(config_getter: Callable[[], Any]) -> Callable[[str], str | None]:
    """server.address for a deployment id, read from the live config (reloads included)."""

    def lookup(deployment_id: str) -> str | None:
        for group in config_getter().models:
            for dep in group.deployments:
                if dep.id == deployment_id and dep.api_base:
                    return urlsplit(dep.api_base).hostname
        return None

    return lookup
