"""The composition root: the capabilities, listed in build order, and the build of one generation.

Each capability is one unit (gateway/capability.py): its stages (in a declared slot, so the
pipeline order is auth -> prompts -> guardrails -> cache -> [router] -> ledger whatever the list
order), its virtual models, its per-generation parts, its admin routers and its restart-only
settings. The list order is the build order: a capability may read what an earlier one built
(RAG reads the prompt registry and the injection scanner). Nothing outside this module names a
capability; heavy packages are imported only by the capability that is on.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from gateway.capability import Build, Capability, Slot
from gateway.config import Config
from gateway.engine.pipeline import Pipeline
from gateway.engine.router import Router

if TYPE_CHECKING:
    from gateway.runtime import Gateway, Generation

# Read once at start-up (the listening socket): a reload that changes it says it needs a restart.
CORE_RESTART_ONLY = ("server",)


class SpendCapability(Capability):
    """Keys, allow-lists, rate limits and budgets before the upstream; prices and the ledger after."""

    name = "spend"
    restart_only = ("spend.ledger", "auth.counters")  # storage connections

    def build(self, b: Build) -> None:
        config = b.config
        if not (config.auth.enabled or config.spend.enabled):
            return
        from gateway.spend.hook import AdmissionHook, AuthHook, SpendHook
        from gateway.spend.service import spend_service

        spend = spend_service(b.gateway, config)
        spend.reconfigure(config)
        spend.ensure_running()
        if config.auth.enabled:
            b.add(Slot.AUTH, AuthHook(spend))
            b.add(Slot.ADMISSION, AdmissionHook(spend))
        # Pricing settles what auth reserved against budgets and rate limits, so it runs whenever
        # auth does; the ledger rows are written only with spend.enabled (SpendHook.finished).
        b.add(Slot.LEDGER, SpendHook(spend))

    def admin_routers(self, gateway: Gateway) -> list[APIRouter]:
        from gateway.api.admin import build_admin_router
        from gateway.api.spend import build_spend_router

        return [build_admin_router(gateway), build_spend_router(gateway)]


class PromptsCapability(Capability):
    """`prompt: {...}` and `model: prompt:<name>@<label>` rendered from the registry."""

    name = "prompts"

    def build(self, b: Build) -> None:
        if not b.config.prompts.enabled:
            return
        from gateway.integrations.prompts import PromptHook

        b.prompt_registry = prompt_registry(b.config)
        b.add(Slot.PROMPTS, PromptHook(b.prompt_registry, b.config.prompts, b.gateway))

    def admin_routers(self, gateway: Gateway) -> list[APIRouter]:
        from gateway.api.prompts import build_router

        # gateway/api/prompt_rollouts.py is not mounted yet: tests/gateway/test_admin_guard.py needs samples for it
        return [build_router()]


class CaptureCapability(Capability):
    """A sampled, redacted copy of exchanges as eval datasets (gateway/capture/)."""

    name = "capture"

    def build(self, b: Build) -> None:
        if not b.config.capture.enabled:
            return
        from gateway.capture.hook import CaptureHook

        root = Path(config_path(b.config, b.config.capture.dir) or b.config.capture.dir)
        b.add(Slot.CAPTURE, CaptureHook(b.config.capture, root, b.gateway.clock))


class GuardrailsCapability(Capability):
    """Input and output scanners on the routes a policy is attached to; the injection classifier
    also screens retrieved chunks of RAG pipelines that ask for it."""

    name = "guardrails"

    def build(self, b: Build) -> None:
        g = b.config.guardrails
        if g.enabled and (g.attach or g.default_policy):
            from gateway.integrations.guardrails import GuardrailsHook

            share_embedder_with_guardrails()
            hook = GuardrailsHook(g)
            if g.warm_on_start:  # scanner models and recognizers off the request path
                b.gateway.warmups.start("guardrails", hook.warm)
            b.add(Slot.GUARDRAILS, hook)
        if any(p.scan_injection for p in b.config.rag.pipelines.values()):
            from guardrails.scanners.injection import is_injection, load_model

            share_embedder_with_guardrails()
            load_model()  # now, not on the first chunk; the same instance the guardrails scanner uses
            # the scanner's whole decision: structural rules (chat markup, ...) and the classifier
            b.injection_scanner = lambda text, threshold=None: is_injection(text, threshold)


class CacheCapability(Capability):
    """Exact and semantic response cache (its storage outlives generations: gateway/cache/service.py)."""

    name = "cache"

    def build(self, b: Build) -> None:
        if b.config.cache.enabled:
            from gateway.cache.hook import CacheHook
            from gateway.cache.service import service_for

            b.add(Slot.CACHE, CacheHook(b.config.cache, service_for(b.config, b.gateway), services=b.gateway.services))
        else:  # only strips the body's `cache` field; imports nothing heavy
            from gateway.cache.strip import StripCacheField

            b.add(Slot.CACHE, StripCacheField())

    def admin_routers(self, gateway: Gateway) -> list[APIRouter]:
        from gateway.api.cache import cache_router

        return [cache_router(lambda: gateway.services.cache if gateway.config.cache.enabled else None)]


class RagCapability(Capability):
    """`rag:<pipeline>` models and the query API, over the prompt registry and scanner built above."""

    name = "rag"

    def build(self, b: Build) -> None:
        if not b.config.rag.pipelines:
            return
        from gateway.integrations.rag import prompt_renderer, register

        render = prompt_renderer(b.prompt_registry) if b.prompt_registry is not None else None
        register(b.config, b.gateway, b.router, render_prompt=render, scanner=b.injection_scanner)

    def admin_routers(self, gateway: Gateway) -> list[APIRouter]:
        from gateway.api.rag import router as rag_router

        return [rag_router]  # resolves the live generation's pipelines


class TelemetryCapability(Capability):
    """Spans around every stage, metrics, and the request's root span (last: its `finished` runs
    after the ledger's)."""

    name = "telemetry"
    # exporters, the sampler and the metrics registry are built once
    restart_only = ("telemetry.service_name", "telemetry.exporter", "telemetry.otlp_endpoint",
                    "telemetry.otlp_headers_env", "telemetry.sample_ratio", "telemetry.metrics")

    def build(self, b: Build) -> None:
        from gateway.telemetry.hooks import telemetry_for

        telemetry = telemetry_for(b.gateway)
        if telemetry.metrics is not None:
            _feed_budget_gauge(b.gateway, telemetry.metrics)

    def wrap(self, hooks: list[Any], b: Build) -> list[Any]:
        from gateway.telemetry.hooks import instrument_hooks, telemetry_for

        return instrument_hooks(hooks, telemetry_for(b.gateway), b.gateway)

    def admin_routers(self, gateway: Gateway) -> list[APIRouter]:
        from gateway.telemetry.hooks import telemetry_for

        metrics = telemetry_for(gateway).metrics
        if metrics is None:  # telemetry.metrics is restart-only: off at start, off until a restart
            return []
        from gateway.api.metrics import metrics_router

        def refresh() -> None:  # ledger rows not yet in the database, and set aside (alerts read them)
            spend = gateway.services.spend
            if spend is not None and metrics is not None:
                metrics.set_gauge("ledger_queue_depth", spend.writer.pending_rows)
                metrics.set_gauge("ledger_dead_letters", spend.writer.dead_letters)

        return [metrics_router(metrics, refresh)]


CAPABILITIES: tuple[Capability, ...] = (
    SpendCapability(), PromptsCapability(), GuardrailsCapability(), CacheCapability(), RagCapability(),
    TelemetryCapability(), CaptureCapability(),
)
RESTART_ONLY: tuple[str, ...] = CORE_RESTART_ONLY + tuple(p for c in CAPABILITIES for p in c.restart_only)


async def build_generation(gateway: Gateway, config: Config) -> Generation:
    """Providers, router, every capability's stages and parts: the whole generation, or an error
    (a reload that fails keeps the previous generation serving)."""
    from gateway.runtime import Generation, build_providers

    router = Router(config, build_providers(config, gateway.shared), gateway.clock)
    await router.start()
    try:
        b = Build(config, gateway, router)
        for cap in CAPABILITIES:
            cap.build(b)
        hooks = b.ordered_hooks()
        for cap in CAPABILITIES:
            hooks = cap.wrap(hooks, b)
    except BaseException:
        await router.aclose()
        raise
    return Generation(config, router, Pipeline(router, hooks), prompt_registry=b.prompt_registry)


def admin_routers(gateway: Gateway) -> list[APIRouter]:
    """Every capability's admin routers, mounted once by the app (they read the live generation)."""
    return [r for cap in CAPABILITIES for r in cap.admin_routers(gateway)]


def share_embedder_with_guardrails() -> None:
    """The injection classifier's second opinion runs all-MiniLM-L6-v2: use the gateway's (loaded on
    first use) rather than a second copy of the model in the process."""
    from gateway.providers.minilm import get_embedder
    from guardrails.injection.model import use_host_embedder

    use_host_embedder(lambda texts: get_embedder().embed(list(texts)))


def config_path(config: Config, path: str | None) -> str | None:
    """Relative paths in a config file resolve from the file's folder."""
    if path is None:
        return None
    p = Path(path)
    return str(p if p.is_absolute() else config.base_dir / p)


def prompt_registry(config: Config) -> Any:
    from prompts import PromptRegistry

    registry_dir = config_path(config, config.prompts.registry_dir)
    assert registry_dir is not None  # registry_dir always has a value; only state_dir is optional
    return PromptRegistry(registry_dir, config_path(config, config.prompts.state_dir),
                          key_env=config.prompts.attest_key_env)


def _feed_budget_gauge(gateway: Gateway, metrics: Any) -> None:
    """Each budget charge also sets `budget_utilization_ratio{scope,name}` (the BudgetBurn alert).
    The listener is kept in the gateway's services, so a config reload does not add a second one."""
    spend = gateway.services.spend
    if spend is None:
        return

    async def set_ratio(budget: Any, period: str, before: float, after: float, end: float) -> None:
        if budget.limit_usd > 0:
            metrics.set_gauge("budget_utilization_ratio", after / budget.limit_usd,
                              scope=budget.scope, name=budget.label)

    if gateway.services.budget_gauge is None:
        gateway.services.budget_gauge = set_ratio
    spend.budgets.add_listener(gateway.services.budget_gauge)
