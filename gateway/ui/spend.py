"""/ui/spend: totals and spend by team, key and model (names beside ids); /ui/spend.csv equal to
GET /sluice/v1/spend/report?format=csv for the same scope."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from gateway.errors import InvalidRequest
from gateway.spend.reports import ReportError, ReportQuery, grouped, totals
from gateway.spend.reports_render import to_csv
from gateway.ui.console import Console
from gateway.ui.sessions import Session


def query(s: Session, by: list[str], **kw: Any) -> ReportQuery:
    """A report query in the session's scope (a team session sees its team only)."""
    try:
        return ReportQuery(by=by, team_id=s.team_id, **kw)
    except ReportError as exc:
        raise InvalidRequest(str(exc), code="invalid_report") from None


def add_routes(console: Console) -> None:
    r = console.router

    @r.get("/spend", response_class=HTMLResponse)
    async def spend(request: Request) -> Response:
        s = console.session_of(request)
        if s is None:
            return console.to_login()
        svc = console.spend()

        def load() -> dict[str, Any]:
            out: dict[str, Any] = {"total": totals(svc.engine, query(s, []))}
            for dim in ("team", "key", "model"):
                out[dim] = grouped(svc.engine, query(s, [dim]))
            return out

        data = await asyncio.to_thread(load)
        return console.page("spend.html", session=s, active="spend", data=data)

    @r.get("/spend.csv")
    async def spend_csv(request: Request, by: str = Query(default="team")) -> Response:
        s = console.require_session(request)
        svc = console.spend()
        dims = [b.strip() for b in by.split(",") if b.strip()]
        q = query(s, dims)
        body = await asyncio.to_thread(lambda: to_csv(grouped(svc.engine, q), q.by))
        return PlainTextResponse(body, media_type="text/csv; charset=utf-8",
                                 headers={"content-disposition": f'attachment; filename="spend-{"-".join(dims)}.csv"'})
