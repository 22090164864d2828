"""/ui/spend: the finance view. Date filters (from/to, UTC days, inclusive), totals, spend over time
by one dimension (day/week/month, CSS bars), breakdown tables per dimension (names beside ids),
budgets with burn-down and a linear end-of-period forecast, and the top movers against the previous
period of equal length. Every table has a CSV: /ui/spend.csv is byte-equal to
GET /sluice/v1/spend/report?format=csv for the same by/from/to; /ui/spend/over-time.csv,
/ui/spend/budgets.csv and /ui/spend/movers.csv carry the page's numbers for views the API lacks."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from gateway.errors import InvalidRequest
from gateway.spend.budgets import period_bounds
from gateway.spend.reports import NAMED, ReportError, ReportQuery, budget_burn, grouped, parse_day, totals
from gateway.spend.reports_render import csv_cell, to_csv
from gateway.ui.console import Console
from gateway.ui.finance import GRANULARITIES, bucket_rows, bucket_totals, burn, movers
from gateway.ui.sessions import Session

BREAKDOWNS = ("team", "key", "user", "model", "prompt", "pipeline")
PAGE_ROWS = 25  # rows a breakdown table shows (most expensive first); its CSV has them all
SERIES_GROUPS = 8  # groups the over-time table shows (most expensive overall); its CSV has them all
_DAY = 86_400.0


def query(s: Session, by: list[str], start: float | None = None, end: float | None = None) -> ReportQuery:
    """A report query in the session's scope (a team session sees its team only)."""
    try:
        return ReportQuery(start, end, by, s.team_id)
    except ReportError as exc:
        raise InvalidRequest(str(exc), code="invalid_report") from None


def _range(from_: str | None, to: str | None) -> tuple[float | None, float | None]:
    try:
        start, end = parse_day(from_), parse_day(to, end=True)
    except ReportError as exc:
        raise InvalidRequest(str(exc), code="invalid_date") from None
    if start is not None and end is not None and start >= end:
        raise InvalidRequest("`from` must be on or before `to`", code="invalid_date")
    return start, end


def _dim(dim: str) -> str:
    if dim not in BREAKDOWNS:
        raise InvalidRequest(f"cannot show spend over time by {dim!r}; choose from {', '.join(BREAKDOWNS)}",
                             code="invalid_report")
    return dim


def _gran(g: str) -> str:
    if g not in GRANULARITIES:
        raise InvalidRequest(f"granularity must be one of {', '.join(GRANULARITIES)}", code="invalid_report")
    return g


def over_time(engine: Any, s: Session, dim: str, gran: str, start: float | None, end: float | None
              ) -> list[dict[str, Any]]:
    return bucket_rows(grouped(engine, query(s, ["day", dim], start, end)), gran, dim, NAMED.get(dim))


def budgets(engine: Any, s: Session, now: float) -> list[dict[str, Any]]:
    out = []
    for b in budget_burn(engine, now, s.team_id):
        _pid, start, end = period_bounds("day" if len(b.period) == 10 else "month", now)
        out.append({"budget": b.label, "period": b.period, **burn(b.spent_usd, b.limit_usd, start, end, now)})
    return out


def top_movers(engine: Any, s: Session, dim: str, start: float | None, end: float | None) -> list[dict[str, Any]] | None:
    if start is None or end is None:
        return None
    prev = grouped(engine, query(s, [dim], start - (end - start), start))
    return movers(grouped(engine, query(s, [dim], start, end)), prev, dim, name_col=NAMED.get(dim))


def _csv(rows: list[dict[str, Any]], cols: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: csv_cell(r.get(k)) for k in cols})
    return buf.getvalue()


def _csv_response(body: str, name: str) -> Response:
    return PlainTextResponse(body, media_type="text/csv; charset=utf-8",
                             headers={"content-disposition": f'attachment; filename="{name}.csv"'})


def _named_cols(dim: str) -> list[str]:
    return [dim, NAMED[dim]] if dim in NAMED else [dim]


OVER_TIME_COLS = ["requests", "prompt_tokens", "completion_tokens", "cost_usd", "cache_hits", "errors",
                  "unpriced_requests"]
BUDGET_COLS = ["budget", "period", "limit_usd", "spent_usd", "pace_usd", "forecast_usd", "elapsed"]
MOVER_COLS = ["previous_usd", "current_usd", "change_usd", "change_pct"]


def add_routes(console: Console) -> None:
    r = console.router

    @r.get("/spend", response_class=HTMLResponse)
    async def spend(request: Request, from_: str | None = Query(default=None, alias="from"),
                    to: str | None = None, dim: str = "team", granularity: str = "day") -> Response:
        s = console.session_of(request)
        if s is None:
            return console.to_login()
        start, end = _range(from_, to)
        dim, granularity = _dim(dim), _gran(granularity)
        svc = console.spend()
        now = svc.clock.time()

        def load() -> dict[str, Any]:
            out: dict[str, Any] = {"total": totals(svc.engine, query(s, [], start, end))}
            full = {d: grouped(svc.engine, query(s, [d], start, end)) for d in BREAKDOWNS}
            out["counts"] = {d: len(rows) for d, rows in full.items()}
            out["breakdowns"] = {d: rows[:PAGE_ROWS] for d, rows in full.items()}
            series = over_time(svc.engine, s, dim, granularity, start, end)
            top = {r[dim] for r in full[dim][:SERIES_GROUPS]}
            out["series"] = [r for r in series if r[dim] in top]
            out["series_groups"] = (min(SERIES_GROUPS, len(full[dim])), len(full[dim]))
            bars = bucket_totals(series)
            peak = max((c for _, c in bars), default=0.0) or 1.0
            out["bars"] = [(b, c, c / peak * 100) for b, c in bars]
            out["budgets"] = budgets(svc.engine, s, now)
            out["movers"] = top_movers(svc.engine, s, dim, start, end)
            return out

        data = await asyncio.to_thread(load)
        qs = "&".join(f"{k}={v}" for k, v in (("from", from_), ("to", to)) if v)
        return console.page("spend.html", session=s, active="spend", data=data, named=NAMED,
                            f={"from": from_ or "", "to": to or "", "dim": dim, "granularity": granularity},
                            qs=qs, dims=BREAKDOWNS, granularities=GRANULARITIES)

    @r.get("/spend.csv")
    async def spend_csv(request: Request, by: str = Query(default="team"),
                        from_: str | None = Query(default=None, alias="from"), to: str | None = None) -> Response:
        s = console.require_session(request)
        start, end = _range(from_, to)
        svc = console.spend()
        dims = [b.strip() for b in by.split(",") if b.strip()]
        q = query(s, dims, start, end)
        body = await asyncio.to_thread(lambda: to_csv(grouped(svc.engine, q), q.by))
        return _csv_response(body, f"spend-{'-'.join(dims)}")

    @r.get("/spend/over-time.csv")
    async def over_time_csv(request: Request, from_: str | None = Query(default=None, alias="from"),
                            to: str | None = None, dim: str = "team", granularity: str = "day") -> Response:
        s = console.require_session(request)
        start, end = _range(from_, to)
        dim, granularity = _dim(dim), _gran(granularity)
        svc = console.spend()
        rows = await asyncio.to_thread(over_time, svc.engine, s, dim, granularity, start, end)
        body = _csv([{granularity: x["bucket"], **x} for x in rows], [granularity, *_named_cols(dim), *OVER_TIME_COLS])
        return _csv_response(body, f"spend-{dim}-per-{granularity}")

    @r.get("/spend/budgets.csv")
    async def budgets_csv(request: Request) -> Response:
        s = console.require_session(request)
        svc = console.spend()
        rows = await asyncio.to_thread(budgets, svc.engine, s, svc.clock.time())
        return _csv_response(_csv(rows, BUDGET_COLS), "budgets")

    @r.get("/spend/movers.csv")
    async def movers_csv(request: Request, from_: str | None = Query(default=None, alias="from"),
                         to: str | None = None, dim: str = "team") -> Response:
        s = console.require_session(request)
        start, end = _range(from_, to)
        dim = _dim(dim)
        if start is None or end is None:
            raise InvalidRequest("top movers need both `from` and `to`", code="invalid_date")
        svc = console.spend()
        rows = await asyncio.to_thread(top_movers, svc.engine, s, dim, start, end)
        return _csv_response(_csv(rows or [], [*_named_cols(dim), *MOVER_COLS]), f"movers-{dim}")
