"""Budget alerts: when spend crosses a threshold (e.g. 50/80/100%), log it and POST a webhook.

Once per (budget, period, threshold, limit): a raised budget re-arms its thresholds. The first process to insert the mark into
`budget_alert_marks` sends the alert; the others (and restarts) see the mark and stay quiet.
The webhook is sent from a background task so the caller never waits on it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa

from gateway.clock import Clock, SystemClock
from gateway.spend.budgets import Budget
from gateway.spend.schema import alert_marks

log = logging.getLogger("sluice.spend.alerts")


def _claim(engine: sa.Engine, b: Budget, period: str, threshold: float, now: float) -> bool:
    try:
        with engine.begin() as conn:
            conn.execute(alert_marks.insert().values(scope=b.scope, scope_id=b.scope_id, period=period,
                                                     threshold=threshold, limit_usd=b.limit_usd, ts=now))
        return True
    except sa.exc.IntegrityError:
        return False


class BudgetAlerter:
    def __init__(self, engine: sa.Engine, thresholds: list[float], *, webhook_url: str | None = None,
                 webhook_timeout_s: float = 5.0, clock: Clock | None = None) -> None:
        self.engine = engine
        self.thresholds = sorted(thresholds)
        self.webhook_url = webhook_url
        self.webhook_timeout_s = webhook_timeout_s
        self.clock = clock or SystemClock()
        self.sent: list[dict[str, Any]] = []  # alerts this process sent (for tests and /metrics)
        self._claimed: set[tuple[str, str, str, float, float]] = set()  # marks this process knows are taken
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, b: Budget, period: str, before: float, after: float, resets_at: float) -> None:
        """Every threshold the settled spend has reached gets its alert once, however it got there:
        one big request past several thresholds at once, a spend already past one when this process
        started, or a charge that exactly matched its reservation."""
        for t in self.thresholds:
            mark = t * b.limit_usd
            seen = (b.scope, b.scope_id, period, t, b.limit_usd)
            if mark > after or seen in self._claimed:
                continue
            try:
                claimed = await asyncio.to_thread(_claim, self.engine, b, period, t, self.clock.time())
            except sa.exc.SQLAlchemyError as exc:  # the database is down: try again at the next charge
                log.error("budget alert for %s not sent: could not record its mark (%s)", b.label, exc)
                continue
            if len(self._claimed) > 100_000:
                self._claimed.clear()
            self._claimed.add(seen)  # sent now, or already by another process
            if claimed:
                alert = {
                    "type": "budget_threshold", "scope": b.scope, "id": b.scope_id, "budget": b.label,
                    "period": period, "threshold": t, "limit_usd": b.limit_usd, "spent_usd": round(after, 6),
                    "resets_at": dt.datetime.fromtimestamp(resets_at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
                log.warning("budget alert: %s reached %d%% of its %s budget ($%.6g of $%.6g, period %s)",
                            b.label, round(t * 100), b.period, after, b.limit_usd, period)
                self.sent.append(alert)
                if self.webhook_url:
                    task = asyncio.create_task(self._post(alert))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

    async def _post(self, alert: dict[str, Any]) -> None:
        import aiohttp

        assert self.webhook_url is not None
        try:
            timeout = aiohttp.ClientTimeout(total=self.webhook_timeout_s)
            # never follow a redirect: it would re-send the alert (team, budget, spend) to another origin
            async with aiohttp.ClientSession(timeout=timeout) as s, s.post(self.webhook_url, json=alert,
                                                                          allow_redirects=False) as r:
                if r.status >= 300:
                    log.error("budget alert webhook answered %d for %s", r.status, alert["budget"])
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.error("budget alert webhook failed (%s): %s", type(exc).__name__, exc)

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
