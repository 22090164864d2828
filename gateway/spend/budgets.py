"""USD budgets per key and per team, per calendar period (UTC day or month).

Spend per (scope, id, period) lives in the shared counters (nano-USD integers). A counter is
seeded from the ledger the first time a process sees it (SET NX, so concurrent seeders agree).
Checks happen before the upstream call: a spent budget refuses the request with 429
`insufficient_quota` / `budget_exceeded`, naming the budget and when it resets. Requests already
in flight when a budget runs out still complete, so overspend is bounded by what is in flight.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import sqlalchemy as sa

from gateway.clock import Clock, SystemClock
from gateway.errors import QuotaExceeded
from gateway.spend.limits import Counters
from gateway.spend.schema import ledger

NANO = 1_000_000_000
_ADJ = {"day": "daily", "month": "monthly"}


def period_bounds(period: str, now: float) -> tuple[str, float, float]:
    """(period id, start epoch, end epoch) of the UTC day or month containing `now`."""
    t = dt.datetime.fromtimestamp(now, dt.UTC)
    if period == "day":
        start = t.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.strftime("%Y-%m-%d"), start.timestamp(), (start + dt.timedelta(days=1)).timestamp()
    start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start.strftime("%Y-%m"), start.timestamp(), nxt.timestamp()


@dataclass(frozen=True, slots=True)
class Budget:
    scope: str  # "key" | "team"
    scope_id: str
    label: str  # what a human calls it, e.g. "team ml-platform"
    limit_usd: float
    period: str  # "day" | "month"


def ledger_spend(engine: sa.Engine, b: Budget, start: float, end: float) -> float:
    col = ledger.c.key_id if b.scope == "key" else ledger.c.team_id
    q = sa.select(sa.func.coalesce(sa.func.sum(ledger.c.cost_usd), 0.0)).where(
        col == b.scope_id, ledger.c.ts >= start, ledger.c.ts < end
    )
    with engine.connect() as conn:
        return float(conn.execute(q).scalar_one())


AlertFn = Callable[[Budget, str, float, float, float], Awaitable[None]]


class BudgetEnforcer:
    def __init__(self, counters: Counters, engine: sa.Engine | None, *, clock: Clock | None = None,
                 on_spend: AlertFn | None = None) -> None:
        self.counters = counters
        self.engine = engine
        self.clock = clock or SystemClock()
        self.on_spend = on_spend
        self._seeded: set[str] = set()

    async def _counter_key(self, b: Budget) -> tuple[str, str, float, float]:
        pid, start, end = period_bounds(b.period, self.clock.time())
        key = f"budget:{b.scope}:{b.scope_id}:{pid}"
        if key not in self._seeded:
            seed = 0.0
            if self.engine is not None:
                seed = await asyncio.to_thread(ledger_spend, self.engine, b, start, end)
            ttl = int(end - self.clock.time()) + 86_400
            await self.counters.set_if_absent(key, round(seed * NANO), ttl)
            self._seeded.add(key)
        return key, pid, start, end

    async def spent(self, b: Budget) -> float:
        key, *_ = await self._counter_key(b)
        return (await self.counters.get(key) or 0) / NANO

    async def check(self, budgets: list[Budget]) -> None:
        for b in budgets:
            key, pid, _, end = await self._counter_key(b)
            used = (await self.counters.get(key) or 0) / NANO
            if used >= b.limit_usd:
                resets = dt.datetime.fromtimestamp(end, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                raise QuotaExceeded(
                    f"the {_ADJ.get(b.period, b.period)} budget of {b.label} is spent (${used:.6g} of ${b.limit_usd:.6g} "
                    f"for {pid}); it resets at {resets}. Ask an admin to raise it.",
                    extra={"budget": {"scope": b.scope, "id": b.scope_id, "period": pid,
                                      "limit_usd": b.limit_usd, "spent_usd": round(used, 6), "resets_at": resets}},
                )

    async def charge(self, budgets: list[Budget], cost_usd: float) -> None:
        if cost_usd <= 0:
            return
        for b in budgets:
            key, pid, _, end = await self._counter_key(b)
            ttl = int(end - self.clock.time()) + 86_400
            after = await self.counters.add(key, round(cost_usd * NANO), ttl) / NANO
            if self.on_spend is not None:
                await self.on_spend(b, pid, after - cost_usd, after, end)
