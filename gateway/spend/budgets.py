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
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import sqlalchemy as sa

from gateway.clock import Clock, SystemClock
from gateway.errors import QuotaExceeded
from gateway.spend.limits import Counters
from gateway.spend.schema import ledger

log = logging.getLogger("sluice.spend.budgets")

NANO = 1_000_000_000
_ADJ = {"day": "daily", "month": "monthly"}


def period_bounds(period: str, now: float) -> tuple[str, float, float]:
    """(period id, start epoch, end epoch) of the UTC day or month containing `now`."""
    return _bounds(period, int(now // 86_400))


@functools.lru_cache(maxsize=64)  # per request and budget: the bounds change once a day
def _bounds(period: str, day: int) -> tuple[str, float, float]:
    t = dt.datetime.fromtimestamp(day * 86_400, dt.UTC)
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
        self.listeners: list[AlertFn] = [on_spend] if on_spend is not None else []
        self._seeded: set[str] = set()

    def add_listener(self, fn: AlertFn) -> None:
        """Also call `fn(budget, period, before, after, period_end)` on every charge (once per fn)."""
        if fn not in self.listeners:
            self.listeners.append(fn)

    async def _counter_key(self, b: Budget) -> tuple[str, str, float, float]:
        pid, start, end = period_bounds(b.period, self.clock.time())
        key = f"budget:{b.scope}:{b.scope_id}:{pid}"
        if key not in self._seeded:
            seed = 0.0
            if self.engine is not None:
                seed = await asyncio.to_thread(ledger_spend, self.engine, b, start, end)
            ttl = int(end - self.clock.time()) + 86_400
            await self.counters.set_if_absent(key, round(seed * NANO), ttl)
            # settled spend only (no reservations): what alerts compare with their thresholds
            await self.counters.set_if_absent(key + ":settled", round(seed * NANO), ttl)
            self._seeded.add(key)
        return key, pid, start, end

    async def spent(self, b: Budget) -> float:
        key, *_ = await self._counter_key(b)
        v = await self.counters.get(key)
        if v is None:  # lost: seed it again from the ledger
            self._seeded.discard(key)
            key, *_ = await self._counter_key(b)
            v = await self.counters.get(key)
        return (v or 0) / NANO

    async def admit(self, budgets: list[Budget], reserve_usd: float = 0.0) -> list[Reservation]:
        """Admit a request only if its worst-case cost fits in every budget beside what is spent and
        held for requests in flight: committed + reserve <= limit.

        Atomically adds `reserve_usd` (the request's worst case, gateway/spend/reserve.py) to each
        budget's counter, so concurrent requests, in any process sharing the counters, see each
        other's reservations and together never commit more than the budget. Raises QuotaExceeded.
        """
        held: list[Reservation] = []
        amount = max(0, round(reserve_usd * NANO))
        try:
            for b in budgets:
                key, pid, _, end = await self._counter_key(b)
                limit = round(b.limit_usd * NANO)
                ttl = int(end - self.clock.time()) + 86_400
                # a request that reserves nothing still needs the budget not to be spent: committed < limit
                cap = limit if amount else limit - 1
                got = await self.counters.try_add_present(key, amount, cap)
                if got is None:  # the counter is gone (evicted, expired, a flushed Redis): seed it again
                    log.warning("budget counter %s was missing; re-seeding it from the ledger", key)
                    self._seeded.discard(key)
                    key, pid, _, end = await self._counter_key(b)
                    got = await self.counters.try_add_present(key, amount, cap)
                ok, cur = got if got is not None else await self.counters.try_add(key, amount, cap, ttl)
                if not ok:
                    raise self._refusal(b, pid, end, cur, amount)
                held.append(Reservation(b, key, pid, end, amount))
        except BaseException:
            for r in held:  # refused (or the store failed) on a later budget: give back the earlier ones
                await self.counters.add(r.key, -r.amount, int(r.end - self.clock.time()) + 86_400)
            raise
        return held

    @staticmethod
    def _refusal(b: Budget, pid: str, end: float, committed: int, amount: int) -> QuotaExceeded:
        used = committed / NANO
        resets = dt.datetime.fromtimestamp(end, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        adj = _ADJ.get(b.period, b.period)
        extra = {"budget": {"scope": b.scope, "id": b.scope_id, "period": pid, "limit_usd": b.limit_usd,
                            "spent_usd": round(used, 6), "request_max_usd": round(amount / NANO, 6),
                            "resets_at": resets}}
        if committed < round(b.limit_usd * NANO):
            left = b.limit_usd - used
            return QuotaExceeded(
                f"this request could cost up to ${amount / NANO:.6g} (its prompt plus max_tokens of output), "
                f"more than the ${left:.6g} left of the {adj} budget of {b.label} (${b.limit_usd:.6g} for {pid}, "
                f"counting requests in flight); lower max_tokens, or wait for the budget to reset at {resets}.",
                extra=extra)
        return QuotaExceeded(
            f"the {adj} budget of {b.label} is spent (${used:.6g} of ${b.limit_usd:.6g} for {pid}, counting "
            f"requests in flight); it resets at {resets}. Ask an admin to raise it.", extra=extra)

    async def check(self, budgets: list[Budget]) -> None:
        """Refuse when a budget is spent (no reservation)."""
        await self.admit(budgets, 0.0)

    async def charge(self, budgets: list[Budget], cost_usd: float) -> None:
        """Charge a cost that was not reserved (the current period)."""
        await self.settle(await self._unreserved(budgets), cost_usd)

    async def _unreserved(self, budgets: list[Budget]) -> list[Reservation]:
        out = []
        for b in budgets:
            key, pid, _, end = await self._counter_key(b)
            out.append(Reservation(b, key, pid, end, 0))
        return out

    async def settle(self, held: list[Reservation], cost_usd: float) -> None:
        """Replace each reservation with the real cost (charged to the period the request started in),
        and tell the listeners (alerts) the settled spend before and after it."""
        cost = max(0, round(cost_usd * NANO))
        for r in held:  # each budget on its own: one failing must not leave the others' holds in place
            try:
                # only on counters that still exist: one lost since admission is seeded again from the
                # ledger (which has this request's row) by the next admission
                delta = cost - r.amount
                if delta:
                    await self.counters.add_present(r.key, delta)
                if cost <= 0:
                    continue
                after = await self.counters.add_present(r.key + ":settled", cost)
                if after is None:
                    continue
            except Exception:
                log.exception("could not settle the %s budget of %s (counter %s)", r.budget.period, r.budget.label, r.key)
                continue
            for listener in self.listeners:
                try:
                    await listener(r.budget, r.period, (after - cost) / NANO, after / NANO, r.end)
                except Exception:
                    log.exception("budget alert listener failed for %s", r.budget.label)


@dataclass(frozen=True, slots=True)
class Reservation:
    budget: Budget
    key: str
    period: str
    end: float
    amount: int  # nano-USD held for an in-flight request
