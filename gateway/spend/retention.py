"""Retention of raw ledger rows: delete rows older than `spend.retention.raw_days` whole UTC
days in small batches (each its own short transaction: never a long lock on the ledger); the
daily rollups are kept, so reports of old periods still answer from them.

The cutoff is a UTC midnight, so a day is either whole in the raw table or gone from it: a report
range whose edge falls inside a pruned day counts only that edge day's rows still there (none),
its whole days come from the rollups. Budgets read only their current day or month (at most 31
days back), which `raw_days >= 32` keeps. Holds on budgets live in the counters, not in the
ledger (reserve.py, budgets.py), so no raw row is needed by a request in flight.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from gateway.spend.schema import ledger

_DAY = 86_400


def cutoff(now: float, raw_days: int) -> float:
    """The epoch second before which raw rows are pruned: the UTC midnight `raw_days` days before
    today's (rows of the last `raw_days` whole days and of today are kept)."""
    return float((int(now // _DAY) - raw_days) * _DAY)


@dataclass(slots=True)
class PruneResult:
    cutoff: float
    deleted: int
    batches: int
    done: bool  # nothing older than the cutoff is left


def old_ids(before: float, limit: int) -> sa.Select[Any]:
    """The oldest raw rows before the cutoff, by the ts index (ordered: never a full scan)."""
    return sa.select(ledger.c.id).where(ledger.c.ts < before).order_by(ledger.c.ts).limit(limit)


def delete_ids(ids: list[int]) -> sa.Delete:
    return ledger.delete().where(ledger.c.id.in_(ids))  # by the primary key


_DELETE_CHUNK = 1000  # ids per DELETE (SQLite's bound-parameter limit)


def prune(engine: sa.Engine, before: float, *, batch_rows: int = 5000, max_batches: int | None = None,
          pause_s: float = 0.0) -> PruneResult:
    """Delete raw rows with ts < `before`, `batch_rows` at a time (each its own transaction), at
    most `max_batches` transactions (None: until none is left), sleeping `pause_s` between them."""
    deleted = batches = 0
    while max_batches is None or batches < max_batches:
        with engine.begin() as conn:
            ids = [int(i) for i in conn.execute(old_ids(before, batch_rows)).scalars()]
            for i in range(0, len(ids), _DELETE_CHUNK):
                conn.execute(delete_ids(ids[i : i + _DELETE_CHUNK]))
        batches += 1
        deleted += len(ids)
        if len(ids) < batch_rows:
            return PruneResult(before, deleted, batches, True)
        if pause_s:
            time.sleep(pause_s)
    return PruneResult(before, deleted, batches, False)
