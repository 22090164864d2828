"""Pure helpers of the finance pages: week/month bucketing over day-grouped report rows, the
budget burn-down and linear forecast, and the top movers between two periods."""

from __future__ import annotations

import datetime as dt
from typing import Any

GRANULARITIES = ("day", "week", "month")
SUMMED = ("requests", "prompt_tokens", "completion_tokens", "cache_hits", "errors", "unpriced_requests")


def bucket_of(day: str, granularity: str) -> str:
    """The bucket of a UTC day 'YYYY-MM-DD': the day itself, the Monday that starts its ISO week
    ('YYYY-MM-DD', a Monday), or its calendar month ('YYYY-MM')."""
    d = dt.date.fromisoformat(day)
    if granularity == "day":
        return d.isoformat()
    if granularity == "week":
        return (d - dt.timedelta(days=d.weekday())).isoformat()
    if granularity == "month":
        return f"{d.year:04d}-{d.month:02d}"
    raise ValueError(f"granularity must be one of {', '.join(GRANULARITIES)}")


def bucket_rows(rows: list[dict[str, Any]], granularity: str, dim: str, name_col: str | None = None
                ) -> list[dict[str, Any]]:
    """Sum rows grouped by ("day", dim) into (bucket, dim) rows, ordered by bucket then cost (most
    first). A bucket whose every row is unpriced (cost None) keeps cost None."""
    out: dict[tuple[str, Any], dict[str, Any]] = {}
    for r in rows:
        if not r.get("day"):
            continue
        k = (bucket_of(str(r["day"]), granularity), r.get(dim))
        b = out.get(k)
        if b is None:
            b = out[k] = {"bucket": k[0], dim: k[1], "cost_usd": None, **{m: 0 for m in SUMMED}}
            if name_col:
                b[name_col] = r.get(name_col)
        for m in SUMMED:
            b[m] += int(r.get(m) or 0)
        if r.get("cost_usd") is not None:
            b["cost_usd"] = round((b["cost_usd"] or 0.0) + float(r["cost_usd"]), 10)
    return sorted(out.values(), key=lambda b: (b["bucket"], -(b["cost_usd"] or 0.0), str(b[dim])))


def bucket_totals(rows: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """(bucket, cost) per bucket, in order: the chart's bars."""
    tot: dict[str, float] = {}
    for r in rows:
        tot[r["bucket"]] = tot.get(r["bucket"], 0.0) + (r["cost_usd"] or 0.0)
    return sorted(tot.items())


def burn(spent: float, limit: float, start: float, end: float, now: float) -> dict[str, Any]:
    """Burn-down of one budget period: the linear pace (what a steady spend would have used by
    now), and the end-of-period forecast by linear extrapolation of the period's spend rate."""
    length = end - start
    elapsed = min(1.0, max(0.0, (now - start) / length)) if length > 0 else 1.0
    pace = limit * elapsed
    forecast = spent / elapsed if elapsed > 0 else spent
    return {"spent_usd": round(spent, 10), "limit_usd": limit, "elapsed": elapsed,
            "pace_usd": round(pace, 10), "forecast_usd": round(forecast, 10),
            "fraction": spent / limit if limit else 0.0,
            "forecast_fraction": forecast / limit if limit else 0.0,
            "over_pace": spent > pace}


def movers(current: list[dict[str, Any]], previous: list[dict[str, Any]], dim: str, limit: int = 10,
           name_col: str | None = None) -> list[dict[str, Any]]:
    """Groups whose cost changed most (absolute change) between the previous and the current period."""
    prev: dict[Any, float] = {r.get(dim): float(r.get("cost_usd") or 0.0) for r in previous}
    cur = {r.get(dim): r for r in current}
    names = {r.get(dim): r.get(name_col) for r in [*previous, *current]} if name_col else {}
    out: list[tuple[float, str, dict[str, Any]]] = []
    for k in set(prev) | set(cur):
        now_cost = float(cur[k].get("cost_usd") or 0.0) if k in cur else 0.0
        before = prev.get(k, 0.0)
        change = round(now_cost - before, 10)
        rec = {dim: k, **({name_col: names.get(k)} if name_col else {}), "previous_usd": round(before, 10),
               "current_usd": round(now_cost, 10), "change_usd": change,
               "change_pct": round((now_cost - before) / before * 100, 1) if before else None}
        out.append((-abs(change), str(k), rec))
    out.sort(key=lambda t: (t[0], t[1]))
    return [rec for _, _, rec in out[:limit]]
