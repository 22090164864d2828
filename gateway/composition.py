"""Which hooks and admin routers a config turns on, in pipeline order.

Each capability adds itself here in one delimited block. Order matters:
auth -> prompt rendering -> input guardrails -> cache lookup -> [router] -> output guardrails ->
cache store -> spend/ledger (the `after`/`finished` of each hook run in list order too).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from gateway.config import Config
from gateway.hooks import Hook

if TYPE_CHECKING:
    from gateway.router import Router
    from gateway.runtime import Gateway


def build_hooks(config: Config, gateway: Gateway, router: Router) -> list[Hook]:
    """`router` is the new generation's router (a reload builds hooks before swapping it in)."""
    hooks: list[Hook] = []
    # --- auth, rate limits, budgets (gateway/spend) ---
    spend = None
    if config.auth.enabled or config.spend.enabled:
        from gateway.spend.hook import AuthLimitsHook, SpendHook
        from gateway.spend.service import spend_service

        spend = spend_service(gateway)
    if spend is not None:
        spend.reconfigure(config)
        spend.ensure_running()
    if spend is not None and config.auth.enabled:
        hooks.append(AuthLimitsHook(spend))
    # --- end auth ---
    # --- prompts (gateway/prompts_hook.py) ---
    if config.prompts.enabled:
        from gateway.prompts_hook import PromptHook

        hooks.append(PromptHook(_prompt_registry(config)))
    # --- end prompts ---
    # --- guardrails (gateway/guardrails_hook.py) ---
    g = config.guardrails
    if g.enabled and (g.attach or g.default_policy):
        from gateway.guardrails_hook import GuardrailsHook

        _share_embedder_with_guardrails()
        hook = GuardrailsHook(g)
        if g.warm_on_start:  # scanner models and recognizers off the request path
            gateway.warmups.start("guardrails", hook.warm)
        hooks.append(hook)
    # --- end guardrails ---
    # --- cache (gateway/cache) ---
    if config.cache.enabled:
        from gateway.cache.hook import CacheHook
        from gateway.cache.service import service_for

        hooks.append(CacheHook(config.cache, service_for(config, gateway), services=gateway.services))
    else:  # only strips the body's `cache` field; imports nothing heavy
        from gateway.cache.strip import StripCacheField

        hooks.append(StripCacheField())
    # --- end cache ---
    # --- spend ledger (gateway/spend) ---
    if spend is not None and config.spend.enabled:
        hooks.append(SpendHook(spend))
    # --- end spend ledger ---
    # --- telemetry (gateway/telemetry.py) ---
    # Last: wraps the hooks above in spans (only when tracing is on) and appends TelemetryHook,
    # whose `finished` runs after the ledger's and records metrics and the request's root span.
    from gateway.telemetry_hooks import instrument_hooks, telemetry_for

    telemetry = telemetry_for(gateway)
    if telemetry.metrics is not None:
        _feed_budget_gauge(gateway, telemetry.metrics)
    hooks = instrument_hooks(hooks, telemetry, gateway)
    # --- end telemetry ---
    return hooks


def build_admin_routers(config: Config, gateway: Gateway) -> list[APIRouter]:
    routers: list[APIRouter] = []
    # --- keys, teams, spend reports (gateway/api/admin.py, gateway/api/spend.py) ---
    if config.auth.enabled or config.spend.enabled:
        from gateway.api.admin import build_admin_router
        from gateway.api.spend import build_spend_router

        routers += [build_admin_router(gateway), build_spend_router(gateway)]
    # --- end keys, teams, spend reports ---
    # --- prompts (gateway/api/prompts.py) ---
    if config.prompts.enabled:
        from gateway.api.prompts import build_router

        routers.append(build_router(_prompt_registry(config)))
    # --- end prompts ---
    # --- cache admin (gateway/api/cache.py) ---
    from gateway.api.cache import cache_router

    routers.append(cache_router(lambda: gateway.services.get("cache") if gateway.config.cache.enabled else None))
    # --- end cache admin ---
    # --- rag (gateway/api/rag.py) ---
    from gateway.api.rag import router as rag_router

    routers.append(rag_router)  # always mounted: a reload may add pipelines
    # --- end rag ---
    # --- metrics (gateway/api/metrics.py) ---
    from gateway.telemetry_hooks import telemetry_for

    metrics = telemetry_for(gateway).metrics
    if metrics is not None:
        from gateway.api.metrics import metrics_router

        def refresh() -> None:  # ledger rows not yet in the database (the LedgerBacklog alert reads it)
            spend = gateway.services.get("spend")
            if spend is not None and metrics is not None:
                metrics.set_gauge("ledger_queue_depth", spend.writer.pending_rows)

        routers.append(metrics_router(metrics, refresh))
    # --- end metrics ---
    return routers


def register_virtual_models(config: Config, gateway: Gateway, router: Router) -> None:
    """Virtual model prefixes served by the router (e.g. `rag:<pipeline>`)."""
    # --- rag (gateway/rag_provider.py) ---
    if config.rag.pipelines:
        from gateway.rag_provider import PROMPT_SERVICE, SCANNER_SERVICE, prompt_renderer, register

        if config.prompts.enabled and PROMPT_SERVICE not in gateway.services:
            gateway.services[PROMPT_SERVICE] = prompt_renderer(_prompt_registry(config))
        if any(p.scan_injection for p in config.rag.pipelines.values()) and SCANNER_SERVICE not in gateway.services:
            # indirect injection: retrieved chunks go through the guardrails' injection classifier
            from guardrails.scanners.injection import load_model

            _share_embedder_with_guardrails()
            injection = load_model()  # the same instance the guardrails scanner uses
            gateway.services[SCANNER_SERVICE] = lambda text, threshold=None: injection.decide(text, threshold)[0]
        register(config, gateway, router)
    # --- end rag ---


def _share_embedder_with_guardrails() -> None:
    """The injection classifier's second opinion runs all-MiniLM-L6-v2: use the gateway's (loaded on
    first use) rather than a second copy of the model in the process."""
    from gateway.providers.minilm import get_embedder
    from guardrails.injection.model import use_host_embedder

    use_host_embedder(lambda texts: get_embedder().embed(list(texts)))


def _config_path(config: Config, path: str | None) -> str | None:
    """Relative paths in a config file resolve from the file's folder."""
    if path is None:
        return None
    p = Path(path)
    return str(p if p.is_absolute() else config.base_dir / p)


def _prompt_registry(config: Config):  # type: ignore[no-untyped-def]
    from prompts import PromptRegistry

    registry_dir = _config_path(config, config.prompts.registry_dir)
    assert registry_dir is not None  # registry_dir always has a value; only state_dir is optional
    return PromptRegistry(registry_dir, _config_path(config, config.prompts.state_dir))


def _feed_budget_gauge(gateway: Gateway, metrics: Any) -> None:
    """Each budget charge also sets `budget_utilization_ratio{scope,name}` (the BudgetBurn alert).
    The listener lives in gateway.services, so a config reload does not add a second one."""
    spend = gateway.services.get("spend")
    if spend is None:
        return

    async def set_ratio(budget: Any, period: str, before: float, after: float, end: float) -> None:
        if budget.limit_usd > 0:
            metrics.set_gauge("budget_utilization_ratio", after / budget.limit_usd,
                              scope=budget.scope, name=budget.label)

    spend.budgets.add_listener(gateway.services.setdefault("budget.gauge", set_ratio))
