"""Spend report queries over the ledger: grouped totals and the finance report's sections.

Group-by dimensions map to ledger columns. A report reads the daily rollups
(rollup.py; `spend_ledger_daily_team` when it groups only by what that table has, else
`spend_ledger_daily`) for the whole UTC days of its range and the raw rows (by the
indexed `ts`) only for the partial days at its edges, and sums both: the same numbers as the raw
rows alone (tests/spend/test_rollup_property.py), at a cost that does not grow with the raw rows.
`source="raw"` reads only the raw rows (the reference, and the bench's baseline).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa

from gateway.spend.budgets import period_bounds
from gateway.spend.rollup import TEAM_DIMS
from gateway.spend.schema import keys, ledger, ledger_daily, ledger_daily_team, teams

Source = Literal["auto", "raw"]
_DAY = 86_400

DIMENSIONS: dict[str, sa.ColumnElement[Any]] = {
    "team": ledger.c.team_id,
    "key": ledger.c.key_id,
    "user": ledger.c.user_id,
    "model": ledger.c.requested_model,
    "deployment": ledger.c.served_deployment,
    "provider": ledger.c.served_provider,
    "prompt": ledger.c.prompt_ref,  # name@version: spend per prompt version
    "prompt_hash": ledger.c.prompt_hash,  # the exact released content
    "pipeline": ledger.c.rag_pipeline,
    "day": ledger.c.day,
    "status": ledger.c.status_code,
}
# the dimensions the smaller rollup table has
_TEAM_DIMS = {name for name, col in DIMENSIONS.items() if col.name in TEAM_DIMS or col.name == "day"}


def _rollup_for(by: list[str]) -> sa.Table:
    """The smallest rollup table that has every dimension of `by` (a team scope is in both)."""
    return ledger_daily_team if set(by) <= _TEAM_DIMS else ledger_daily


METRICS = ["requests", "prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens",
           "reasoning_tokens", "cost_usd", "cost_per_1k_requests", "price_state", "unpriced_requests",
           "partially_priced_requests", "cache_hits", "cost_saved_usd", "errors"]
# a dimension whose ids have names: the name goes in the column after the id, in every format
NAMED = {"team": "team_name", "key": "key_name"}


class ReportError(ValueError):
    """A report request is invalid (unknown dimension, bad date); the message says what is allowed."""


def parse_day(s: str | None, *, end: bool = False) -> float | None:
    """'YYYY-MM-DD' (UTC; an end date is inclusive) or ISO datetime -> epoch seconds."""
    if not s:
        return None
    try:
        if len(s) == 10:
            d = dt.datetime.strptime(s, "%Y-%m-%d").replace(tzinfo=dt.UTC)
            return (d + dt.timedelta(days=1)).timestamp() if end else d.timestamp()
        d = dt.datetime.fromisoformat(s)
        return (d if d.tzinfo else d.replace(tzinfo=dt.UTC)).timestamp()
    except ValueError:
        raise ReportError(f"{s!r} is not a date; use YYYY-MM-DD (UTC) or an ISO 8601 time") from None


@dataclass(slots=True)
class ReportQuery:
    start: float | None = None
    end: float | None = None
    by: list[str] = field(default_factory=lambda: ["team", "model"])
    team_id: str | None = None  # scope: a team-scoped caller sees only its team

    def __post_init__(self) -> None:
        bad = [b for b in self.by if b not in DIMENSIONS]
        if bad:
            raise ReportError(f"cannot group by {', '.join(bad)}; choose from {', '.join(DIMENSIONS)}")

    def where(self) -> list[sa.ColumnElement[bool]]:
        w: list[sa.ColumnElement[bool]] = []
        if self.start is not None:
            w.append(ledger.c.ts >= self.start)
        if self.end is not None:
            w.append(ledger.c.ts < self.end)
        if self.team_id is not None:
            w.append(ledger.c.team_id == self.team_id)
        return w


def _metric_columns() -> list[sa.ColumnElement[Any]]:
    c = ledger.c
    i = sa.Integer
    return [
        sa.func.count().label("requests"),
        sa.func.coalesce(sa.func.sum(c.prompt_tokens), 0).label("prompt_tokens"),
        sa.func.coalesce(sa.func.sum(c.completion_tokens), 0).label("completion_tokens"),
        sa.func.coalesce(sa.func.sum(c.cached_tokens), 0).label("cached_tokens"),
        sa.func.coalesce(sa.func.sum(c.cache_write_tokens), 0).label("cache_write_tokens"),
        sa.func.coalesce(sa.func.sum(c.reasoning_tokens), 0).label("reasoning_tokens"),
        sa.func.coalesce(sa.func.sum(c.cost_usd), 0.0).label("cost_usd"),
        sa.func.coalesce(sa.func.sum(sa.cast(c.unpriced, i)), 0).label("unpriced_requests"),
        sa.func.coalesce(sa.func.sum(sa.cast(c.partially_priced, i)), 0).label("partially_priced_requests"),
        sa.func.coalesce(sa.func.sum(sa.case((c.cache_status.in_(["hit", "semantic-hit"]), 1), else_=0)), 0)
        .label("cache_hits"),
        sa.func.coalesce(sa.func.sum(c.cost_saved_usd), 0.0).label("cost_saved_usd"),
        sa.func.coalesce(sa.func.sum(sa.case((c.status_code >= 400, 1), else_=0)), 0).label("errors"),
        # internal (finish_row drops them): requests that used tokens, and those of them with a price
        sa.func.coalesce(sa.func.sum(sa.case((c.prompt_tokens + c.completion_tokens > 0, 1), else_=0)), 0)
        .label("_used"),
        sa.func.coalesce(sa.func.sum(sa.case((sa.and_(c.prompt_tokens + c.completion_tokens > 0,
                                                      c.unpriced.is_(False)), 1), else_=0)), 0).label("_priced"),
    ]


def _day(epoch_day: int) -> str:
    return dt.datetime.fromtimestamp(epoch_day * _DAY, dt.UTC).strftime("%Y-%m-%d")


def _split(q: ReportQuery) -> tuple[list[tuple[float | None, float | None]], tuple[str | None, str | None] | None]:
    """The range as ([raw ts windows], rollup days [first, last)): whole UTC days come from the
    rollups, the partial days at the edges from the raw rows."""
    s, e = q.start, q.end
    lo = None if s is None else math.ceil(s / _DAY)  # the first whole day
    hi = None if e is None else math.floor(e / _DAY)  # the day after the last whole day
    if lo is not None and hi is not None and lo >= hi:
        return [(s, e)], None
    raw: list[tuple[float | None, float | None]] = []
    if s is not None and lo is not None and s < lo * _DAY:
        raw.append((s, lo * _DAY))
    if e is not None and hi is not None and hi * _DAY < e:
        raw.append((hi * _DAY, e))
    return raw, (None if lo is None else _day(lo), None if hi is None else _day(hi))


def _raw_where(q: ReportQuery, start: float | None, end: float | None) -> list[sa.ColumnElement[bool]]:
    return ReportQuery(start, end, [], q.team_id).where()


def _daily_where(q: ReportQuery, days: tuple[str | None, str | None],
                 table: sa.Table = ledger_daily) -> list[sa.ColumnElement[bool]]:
    w: list[sa.ColumnElement[bool]] = []
    if days[0] is not None:
        w.append(table.c.day >= days[0])
    if days[1] is not None:
        w.append(table.c.day < days[1])
    if q.team_id is not None:
        w.append(table.c.team_id == q.team_id)
    return w


def _daily_metric_columns(table: sa.Table) -> list[sa.ColumnElement[Any]]:
    """_metric_columns over a rollup table: the same labels, in the same order."""
    d = table.c
    s = sa.func.sum
    return [
        s(d.requests).label("requests"), s(d.prompt_tokens).label("prompt_tokens"),
        s(d.completion_tokens).label("completion_tokens"), s(d.cached_tokens).label("cached_tokens"),
        s(d.cache_write_tokens).label("cache_write_tokens"), s(d.reasoning_tokens).label("reasoning_tokens"),
        s(d.cost_usd).label("cost_usd"), s(d.unpriced_requests).label("unpriced_requests"),
        s(d.partially_priced_requests).label("partially_priced_requests"), s(d.cache_hits).label("cache_hits"),
        s(d.cost_saved_usd).label("cost_saved_usd"),
        s(sa.case((d.status_code >= 400, d.requests), else_=0)).label("errors"),
        s(d.used_requests).label("_used"), s(d.priced_requests).label("_priced"),
    ]


_FLOAT_METRICS = {"cost_usd", "cost_saved_usd"}
_METRIC_NAMES = [str(c.name) for c in _metric_columns()]


def _parts(q: ReportQuery, raw_part: Any, daily_part: Any, table: sa.Table) -> Any:
    """One subquery over q's range: raw_part(where) for each partial day at its edges,
    daily_part(where) over the rollup `table` for its whole days, UNION ALL."""
    windows, days = _split(q)
    parts: list[Any] = [raw_part(_raw_where(q, a, b)) for a, b in windows]
    if days is not None:
        parts.append(daily_part(_daily_where(q, days, table)))
    whole: Any = parts[0] if len(parts) == 1 else sa.union_all(*parts)
    return whole.subquery("parts")


def _summed(col: Any, name: str) -> sa.ColumnElement[Any]:
    """SUM over the parts, typed as the raw query's (PostgreSQL sums BIGINT as NUMERIC)."""
    if name in _FLOAT_METRICS:
        return sa.cast(sa.func.coalesce(sa.func.sum(col), 0.0), sa.Float).label(name)
    return sa.cast(sa.func.coalesce(sa.func.sum(col), 0), sa.BigInteger).label(name)


def _grouped_stmt(q: ReportQuery, source: Source) -> Any:
    if source == "raw":
        dims: list[Any] = [DIMENSIONS[b] for b in q.by]
        stmt = sa.select(*[d.label(b) for d, b in zip(dims, q.by, strict=True)], *_metric_columns()).where(*q.where())
    else:
        def raw_part(where: list[sa.ColumnElement[bool]]) -> Any:
            part = sa.select(*[DIMENSIONS[b].label(b) for b in q.by], *_metric_columns()).where(*where)
            return part.group_by(*[DIMENSIONS[b] for b in q.by]) if q.by else part

        table = _rollup_for(q.by)
        cols = [table.c[str(DIMENSIONS[b].name)] for b in q.by]

        def daily_part(where: list[sa.ColumnElement[bool]]) -> Any:
            part = sa.select(*[c.label(b) for c, b in zip(cols, q.by, strict=True)],
                             *_daily_metric_columns(table)).where(*where)
            return part.group_by(*cols) if q.by else part

        sub = _parts(q, raw_part, daily_part, table)
        dims = [sub.c[b] for b in q.by]
        stmt = sa.select(*dims, *[_summed(sub.c[m], m) for m in _METRIC_NAMES])
    if dims:
        stmt = stmt.group_by(*dims).order_by(sa.desc("cost_usd"), *dims)
    return stmt


def grouped(engine: sa.Engine, q: ReportQuery, source: Source = "auto") -> list[dict[str, Any]]:
    """Totals grouped by q.by, most expensive first. `source="raw"`: from the raw rows only."""
    with engine.connect() as conn:
        # str(): a subquery's column names are quoted_name, a str subclass orjson refuses as a key
        rows = [{str(k): v for k, v in r._mapping.items()} for r in conn.execute(_grouped_stmt(q, source))]
        names = {dim: _names(conn, dim, {r[dim] for r in rows if r.get(dim)}) for dim in NAMED if dim in q.by}
    for r in rows:
        finish_row(r)
        for dim, by_id in names.items():
            r[NAMED[dim]] = by_id.get(r[dim]) if r[dim] else None
    return rows


def finish_row(r: dict[str, Any]) -> None:
    """Derived metrics of one grouped row. A group whose every request is unpriced has no cost
    (None, shown as "unpriced"), never 0.0; one with some unpriced or partially priced requests is
    `partial`: its cost is a lower bound."""
    used, priced = int(r.pop("_used")), int(r.pop("_priced"))  # requests that used tokens; priced ones
    unpriced, partial = int(r["unpriced_requests"]), int(r["partially_priced_requests"])
    cost = round(float(r["cost_usd"]), 10)
    r["cost_saved_usd"] = round(float(r["cost_saved_usd"]), 10)
    if unpriced and not priced:  # refused or failed requests (no tokens, $0) do not make it priced
        r["cost_usd"], r["price_state"], r["cost_per_1k_requests"] = None, "unpriced", None
        return
    r["cost_usd"] = cost
    r["price_state"] = "partial" if unpriced or partial else "priced"
    # per 1,000 requests that used tokens: refusals before the upstream cost nothing and would dilute it
    r["cost_per_1k_requests"] = round(cost / used * 1000, 10) if used else None


def _names(conn: sa.Connection, dim: str, ids: set[Any]) -> dict[str, str | None]:
    if not ids:
        return {}
    table = teams if dim == "team" else keys
    q = sa.select(table.c.id, table.c.name).where(table.c.id.in_(sorted(ids)))
    return {i: n for i, n in conn.execute(q)}


def totals(engine: sa.Engine, q: ReportQuery, source: Source = "auto") -> dict[str, Any]:
    return grouped(engine, ReportQuery(q.start, q.end, [], q.team_id), source)[0]


@dataclass(slots=True)
class BudgetBurn:
    label: str
    period: str
    limit_usd: float
    spent_usd: float

    @property
    def fraction(self) -> float:
        return self.spent_usd / self.limit_usd if self.limit_usd else 0.0


def budget_burn(engine: sa.Engine, now: float, team_id: str | None = None) -> list[BudgetBurn]:
    """Spend in the current period against every team and key budget."""
    out: list[BudgetBurn] = []
    with engine.connect() as conn:
        tq = teams.select().where(teams.c.budget_usd.is_not(None))
        kq = keys.select().where(keys.c.budget_usd.is_not(None), keys.c.revoked_at.is_(None))
        if team_id is not None:
            tq = tq.where(teams.c.id == team_id)
            kq = kq.where(keys.c.team_id == team_id)
        for scope, col, rows in (("team", ledger.c.team_id, list(conn.execute(tq))),
                                 ("key", ledger.c.key_id, list(conn.execute(kq)))):
            for r in rows:
                m = r._mapping
                pid, start, end = period_bounds(m["budget_period"] or "month", now)
                spent = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(ledger.c.cost_usd), 0.0)).where(
                    col == m["id"], ledger.c.ts >= start, ledger.c.ts < end)).scalar_one()
                name = m["name"] or m["id"]
                out.append(BudgetBurn(f"{scope} {name}", pid, float(m["budget_usd"]), float(spent)))
    return sorted(out, key=lambda b: -b.fraction)


@dataclass(slots=True)
class FinanceReport:
    start: float | None
    end: float | None
    team_id: str | None
    generated_at: float
    totals: dict[str, Any]
    by_day_team: list[dict[str, Any]]
    top_models: list[dict[str, Any]]
    top_keys: list[dict[str, Any]]
    by_prompt: list[dict[str, Any]]
    budgets: list[BudgetBurn]
    unpriced: list[dict[str, Any]]
    price_versions: list[str]


def _unpriced_stmt(q: ReportQuery, source: Source) -> Any:
    """Requests and tokens of unpriced requests, per requested model."""
    def raw_part(where: list[sa.ColumnElement[bool]]) -> Any:
        return sa.select(ledger.c.requested_model.label("model"), sa.func.count().label("requests"),
                         sa.func.sum(ledger.c.prompt_tokens + ledger.c.completion_tokens).label("tokens")
                         ).where(*where, ledger.c.unpriced.is_(True)).group_by(ledger.c.requested_model)

    if source == "raw":
        return raw_part(q.where())
    d = ledger_daily_team.c
    sub = _parts(q, raw_part, lambda where: sa.select(
        d.requested_model.label("model"), sa.func.sum(d.unpriced_requests).label("requests"),
        sa.func.sum(d.unpriced_tokens).label("tokens")).where(*where, d.unpriced_requests > 0)
        .group_by(d.requested_model), ledger_daily_team)
    return sa.select(sub.c.model, _summed(sub.c.requests, "requests"), _summed(sub.c.tokens, "tokens")
                     ).group_by(sub.c.model)


def _versions_stmt(q: ReportQuery, source: Source) -> Any:
    """The price versions of the range's rows."""
    def raw_part(where: list[sa.ColumnElement[bool]]) -> Any:
        return sa.select(ledger.c.price_version).where(*where).distinct()

    if source == "raw":
        return raw_part(q.where())
    sub = _parts(q, raw_part, lambda where: sa.select(ledger_daily_team.c.price_version).where(*where).distinct(),
                 ledger_daily_team)
    return sa.select(sub.c.price_version).distinct()


def finance_report(engine: sa.Engine, q: ReportQuery, now: float, source: Source = "auto") -> FinanceReport:
    base = ReportQuery(q.start, q.end, [], q.team_id)
    with engine.connect() as conn:
        unpriced = [{str(k): v for k, v in r._mapping.items()} for r in conn.execute(_unpriced_stmt(base, source))]
        versions = sorted(v for (v,) in conn.execute(_versions_stmt(base, source)) if v)

    def by(*dims: str) -> list[dict[str, Any]]:
        return grouped(engine, ReportQuery(q.start, q.end, list(dims), q.team_id), source)

    return FinanceReport(
        start=q.start, end=q.end, team_id=q.team_id, generated_at=now,
        totals=totals(engine, q, source),
        by_day_team=by("day", "team"),
        top_models=by("model")[:10],
        top_keys=by("key")[:10],
        by_prompt=[r for r in by("prompt", "prompt_hash") if r["prompt"]],
        budgets=budget_burn(engine, now, q.team_id),
        unpriced=unpriced,
        price_versions=versions,
    )
