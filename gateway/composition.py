"""Which hooks and admin routers a config turns on, in pipeline order.

Each capability adds itself here in one delimited block. Order matters:
auth -> prompt rendering -> input guardrails -> cache lookup -> [router] -> output guardrails ->
cache store -> spend/ledger (the `after`/`finished` of each hook run in list order too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    # --- prompts (gateway/prompts_hook.py) ---
    # --- guardrails (gateway/guardrails_hook.py) ---
    # --- cache (gateway/cache) ---
    # --- spend ledger (gateway/spend) ---
    # --- telemetry (gateway/telemetry.py) ---
    return hooks


def build_admin_routers(config: Config, gateway: Gateway) -> list[APIRouter]:
    routers: list[APIRouter] = []
    # --- keys, teams, spend reports (gateway/api/admin.py, gateway/api/spend.py) ---
    # --- prompts (gateway/api/prompts.py) ---
    # --- cache admin (gateway/api/cache.py) ---
    # --- rag (gateway/api/rag.py) ---
    from gateway.api.rag import router as rag_router

    routers.append(rag_router)  # always mounted: a reload may add pipelines
    # --- end rag ---
    # --- metrics (gateway/api/metrics.py) ---
    return routers


def register_virtual_models(config: Config, gateway: Gateway, router: Router) -> None:
    """Virtual model prefixes served by the router (e.g. `rag:<pipeline>`)."""
    # --- rag (gateway/rag_provider.py) ---
    if config.rag.pipelines:
        from gateway.rag_provider import register

        register(config, gateway, router)
    # --- end rag ---
