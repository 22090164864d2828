"""GET /sluice/v1/spend/report: the finance report over HTTP (admin, or a team's key for its team only)."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from gateway.api.deps import check_master, configured_master_key, lower_headers, master_key_env
from gateway.errors import AuthenticationError, InvalidRequest, NotFound, PermissionDenied
from gateway.spend.auth import bearer_token, is_master_key
from gateway.spend.keystore import KEY_PREFIX
from gateway.spend.reports import ReportError, ReportQuery, finance_report, grouped, parse_day
from gateway.spend.reports_render import to_csv, to_html, to_json
from gateway.spend.service import SpendService, spend_service


async def report_scope(request: Request, svc: SpendService) -> str | None:
    """None for an admin (everything); a team id for a team's key. Raises for anyone else.

    The admin view is the one admin guard's (gateway/api/deps.py): the master key from the env var
    the current config's `auth.master_key_env` names. A virtual key is checked by the authenticator.
    """
    gateway = request.app.state.gateway
    headers = lower_headers(request.headers)
    if not gateway.config.auth.enabled:  # no virtual keys: the master key or nothing, never open
        check_master(gateway, headers)
        return None
    master = configured_master_key(gateway)
    token = bearer_token(headers)
    if not token:
        raise AuthenticationError(f"spend reports need the master key (${master_key_env(gateway)}) or a key that "
                                  "belongs to a team: send `Authorization: Bearer <key>`", code="missing_api_key")
    if is_master_key(token, master) or not token.startswith(KEY_PREFIX):
        check_master(gateway, headers)  # 403 when no master key is configured, 401 for a wrong one
        return None
    principal, rec = await svc.authenticator.authenticate(headers)  # 401 for unknown/revoked/expired keys
    if principal.is_admin:  # a master key an earlier config named, not the current one
        check_master(gateway, headers)
    if rec is None or rec.team_id is None:
        raise PermissionDenied("spend reports need the master key or a key that belongs to a team "
                               "(which then sees its own team only)", code="report_forbidden")
    return rec.team_id


def run_report(svc: SpendService, q: ReportQuery, fmt: str) -> tuple[str, str]:
    rows = grouped(svc.engine, q)
    if fmt == "csv":
        return to_csv(rows, q.by), "text/csv; charset=utf-8"
    if fmt == "html":
        return to_html(finance_report(svc.engine, q, svc.clock.time()), rows, q.by), "text/html; charset=utf-8"
    meta = {"from": q.start, "to": q.end, "team": q.team_id, "price_version": svc.prices.version}
    return to_json(rows, q.by, meta), "application/json"


def build_spend_router(gateway: Any) -> APIRouter:
    r = APIRouter(prefix="/sluice/v1/spend", tags=["spend"])

    @r.get("/report", response_class=Response)
    async def report(
        request: Request,
        from_: str | None = Query(default=None, alias="from", description="YYYY-MM-DD (UTC), inclusive"),
        to: str | None = Query(default=None, description="YYYY-MM-DD (UTC), inclusive"),
        by: str = Query(default="team,model", description="comma-separated: team,key,user,model,prompt,day,..."),
        format: Literal["json", "csv", "html"] = "json",
        team: str | None = Query(default=None, description="admin only: one team's spend"),
    ) -> Response:
        gateway = request.app.state.gateway
        if not gateway.config.spend.enabled:  # mounted once: the live config decides
            raise NotFound("spend is off in this gateway's config (spend.enabled: false)", code="capability_disabled")
        svc = spend_service(gateway)
        scope = await report_scope(request, svc)
        if scope is not None and team is not None and team != scope:
            raise PermissionDenied("a team's key can read only its own team's spend", code="report_forbidden")
        try:
            q = ReportQuery(parse_day(from_), parse_day(to, end=True),
                            [b.strip() for b in by.split(",") if b.strip()], scope or team)
        except ReportError as exc:
            raise InvalidRequest(str(exc), code="invalid_report") from None
        body, ctype = await asyncio.to_thread(run_report, svc, q, format)
        if format == "html":
            return HTMLResponse(body)
        if format == "csv":
            return PlainTextResponse(body, media_type=ctype)
        return Response(body, media_type=ctype)

    return r
