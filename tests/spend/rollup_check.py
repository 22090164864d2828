"""The invariant of the daily rollups: they hold exactly the aggregate of the raw rows."""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa

from gateway.spend.rollup import FLOAT_SUMS, INT_SUMS, ROLLUPS, raw_groups


def rollup_mismatches(engine: sa.Engine) -> list[str]:
    """What differs between each rollup table and the raw rows' aggregate (empty: they agree).
    Integer sums must be equal; cost sums equal up to float summation order (1e-9 relative)."""
    out: list[str] = []
    for table, by in ROLLUPS:
        out += _mismatches(engine, table, by)
    return out


def _mismatches(engine: sa.Engine, table: sa.Table, by: tuple[str, ...]) -> list[str]:
    with engine.connect() as c:
        want = {(g["day"], g["dims_key"]): g for g in raw_groups(c, by=by)}
        got: dict[tuple[str, str], dict[str, Any]] = {
            (r.day, r.dims_key): dict(r._mapping) for r in c.execute(sa.select(table))}
    out = [f"{table.name} row {k} has no raw rows" for k in got.keys() - want.keys()]
    out += [f"{table.name}: raw group {k} has no rollup row" for k in want.keys() - got.keys()]
    for k in want.keys() & got.keys():
        w, g = want[k], got[k]
        out += [f"{k} {d}: {g[d]!r} != {w[d]!r}" for d in by if g[d] != w[d]]
        out += [f"{k} {s}: {g[s]} != {w[s]}" for s in INT_SUMS if g[s] != w[s]]
        out += [f"{k} {s}: {g[s]} != {w[s]}" for s in FLOAT_SUMS
                if not math.isclose(g[s], w[s], rel_tol=1e-9, abs_tol=1e-12)]
    return out
