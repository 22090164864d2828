"""The invariant of the daily rollups: they hold exactly the aggregate of the raw rows."""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa

from gateway.spend.rollup import DIMS, FLOAT_SUMS, INT_SUMS, raw_groups
from gateway.spend.schema import ledger_daily


def rollup_mismatches(engine: sa.Engine) -> list[str]:
    """What differs between spend_ledger_daily and the raw rows' aggregate (empty: they agree).
    Integer sums must be equal; cost sums equal up to float summation order (1e-9 relative)."""
    with engine.connect() as c:
        want = {(g["day"], g["dims_key"]): g for g in raw_groups(c)}
        got: dict[tuple[str, str], dict[str, Any]] = {
            (r.day, r.dims_key): dict(r._mapping) for r in c.execute(sa.select(ledger_daily))}
    out = [f"rollup row {k} has no raw rows" for k in got.keys() - want.keys()]
    out += [f"raw group {k} has no rollup row" for k in want.keys() - got.keys()]
    for k in want.keys() & got.keys():
        w, g = want[k], got[k]
        out += [f"{k} {d}: {g[d]!r} != {w[d]!r}" for d in DIMS if g[d] != w[d]]
        out += [f"{k} {s}: {g[s]} != {w[s]}" for s in INT_SUMS if g[s] != w[s]]
        out += [f"{k} {s}: {g[s]} != {w[s]}" for s in FLOAT_SUMS
                if not math.isclose(g[s], w[s], rel_tol=1e-9, abs_tol=1e-12)]
    return out
