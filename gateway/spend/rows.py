"""Build the ledger row for one request from its RequestContext."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gateway.context import RequestContext
from gateway.spend.pricing import Usage

_GUARD_ORDER = {"pass": 0, "flag": 1, "redact": 2, "error": 3, "block": 4}


def guardrail_summary(ctx: RequestContext) -> str | None:
    """The strongest guardrail action taken on the request, or None when no guardrail ran."""
    if not ctx.guardrails:
        return None
    return max((g.action for g in ctx.guardrails), key=lambda a: _GUARD_ORDER.get(a, 0))


def ledger_row(
    ctx: RequestContext,
    *,
    usage: Usage,
    usage_source: str,
    cost_usd: float | None,
    unpriced: bool,
    price_version: str,
) -> dict[str, Any]:
    p = ctx.principal
    day = dt.datetime.fromtimestamp(ctx.started_wall, dt.UTC).strftime("%Y-%m-%d")
    return {
        "request_id": ctx.request_id,
        "ts": ctx.started_wall,
        "day": day,
        "route": ctx.route,
        "key_id": p.key_id if p else None,
        "team_id": p.team_id if p else None,
        "user_id": p.user_id if p else None,
        "requested_model": ctx.requested_model or None,
        "model_group": ctx.model_group,
        "served_deployment": ctx.served_deployment,
        "served_provider": ctx.served_provider,
        "served_model": ctx.served_model,
        "prompt_ref": ctx.prompt_ref,
        "rag_pipeline": ctx.rag_pipeline,
        "tags": ",".join(ctx.tags) if ctx.tags else None,
        "stream": ctx.stream,
        "prompt_tokens": usage.prompt,
        "completion_tokens": usage.completion,
        "cached_tokens": usage.cached,
        "reasoning_tokens": usage.reasoning,
        "usage_source": usage_source,
        "cost_usd": cost_usd,
        "unpriced": unpriced,
        "price_version": price_version,
        "latency_ms": ctx.latency_ms,
        "status_code": ctx.status_code,
        "error_code": ctx.error_code,
        "cache_status": ctx.cache_status,
        "cost_saved_usd": ctx.cost_saved_usd,
        "guardrail": guardrail_summary(ctx),
        "client_disconnected": ctx.client_disconnected,
    }
