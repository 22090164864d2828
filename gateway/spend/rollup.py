"""Daily rollups of the ledger: one row per UTC day and group of dimensions, kept by the writer.

Two tables (schema.py): `spend_ledger_daily` groups by every report dimension (DIMS),
`spend_ledger_daily_team` by team, model, deployment, provider, status and price version only
(TEAM_DIMS: far fewer rows, for the reports that need no more).

`add(conn, rows)` runs in the transaction that inserts the raw rows it summarises (ledger.py), as
one `INSERT ... ON CONFLICT (day, dims_key) DO UPDATE` per batch, so the rollup and the raw rows
commit or roll back together: after any kill point, `spend_ledger_daily` holds exactly the
aggregate of the raw rows (until retention prunes raw rows; the rollups are kept).

A group is identified by `dims_key`, a hash of its dimension values in which NULL and "" differ
(a unique index over nullable columns would not match NULLs on conflict). The key function is
frozen: the migration that backfills the table (m006) and the writer must agree on it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import orjson
import sqlalchemy as sa

from gateway.spend.schema import ledger, ledger_daily, ledger_daily_team

# the raw columns a rollup row is grouped by (besides `day`), in dims_key order: never reorder
DIMS = ("team_id", "key_id", "user_id", "requested_model", "served_deployment", "served_provider",
        "prompt_ref", "prompt_hash", "rag_pipeline", "status_code", "price_version")
INT_SUMS = ("requests", "prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens",
            "reasoning_tokens", "unpriced_requests", "unpriced_tokens", "partially_priced_requests",
            "cache_hits", "used_requests", "priced_requests")
FLOAT_SUMS = ("cost_usd", "cost_saved_usd")
SUMS = INT_SUMS + FLOAT_SUMS
CACHE_HITS = ("hit", "semantic-hit")
TEAM_DIMS = ("team_id", "requested_model", "served_deployment", "served_provider", "status_code", "price_version")
# every rollup table and the raw columns it groups by: the writer keeps them all
ROLLUPS: tuple[tuple[sa.Table, tuple[str, ...]], ...] = ((ledger_daily, DIMS), (ledger_daily_team, TEAM_DIMS))


def dims_key(values: Iterable[Any]) -> str:
    """The group's id: 32 hex digits of BLAKE2b over its dimension values as JSON (null is not "")."""
    return hashlib.blake2b(orjson.dumps(list(values)), digest_size=16).hexdigest()


def aggregate(rows: Iterable[dict[str, Any]], by: tuple[str, ...] = DIMS) -> list[dict[str, Any]]:
    """Rollup deltas of bounded raw rows, one per (day, group of `by`), sorted by (day, dims_key)
    so that concurrent writers lock rollup rows in the same order (no deadlock on PostgreSQL)."""
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for r in rows:
        dims = tuple(r.get(d) for d in by)
        g = groups.get((r["day"], dims))
        if g is None:
            g = groups[(r["day"], dims)] = [0] * len(INT_SUMS) + [0.0, 0.0]
        p, c = r.get("prompt_tokens") or 0, r.get("completion_tokens") or 0
        unpriced = bool(r.get("unpriced"))
        used = p + c > 0
        g[0] += 1
        g[1] += p
        g[2] += c
        g[3] += r.get("cached_tokens") or 0
        g[4] += r.get("cache_write_tokens") or 0
        g[5] += r.get("reasoning_tokens") or 0
        if unpriced:
            g[6] += 1
            g[7] += p + c
        g[8] += bool(r.get("partially_priced"))
        g[9] += r.get("cache_status") in CACHE_HITS
        g[10] += used
        g[11] += used and not unpriced
        g[12] += r.get("cost_usd") or 0.0
        g[13] += r.get("cost_saved_usd") or 0.0
    out = []
    for (day, dims), sums in groups.items():
        out.append({"day": day, "dims_key": dims_key(dims), **dict(zip(by, dims, strict=True)),
                    **dict(zip(SUMS, sums, strict=True))})
    out.sort(key=lambda g: (g["day"], g["dims_key"]))
    return out


def _upsert(dialect: str, table: sa.Table = ledger_daily) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    stmt = insert(table)
    return stmt.on_conflict_do_update(index_elements=["day", "dims_key"],
                                      set_={s: table.c[s] + stmt.excluded[s] for s in SUMS})


def add(conn: sa.Connection, rows: list[dict[str, Any]]) -> int:
    """Add raw rows (bounded, and new to the ledger) to every rollup table, in the caller's
    transaction. Returns the rollup rows touched."""
    n = 0
    for table, by in ROLLUPS:
        groups = aggregate(rows, by)
        if groups:
            conn.execute(_upsert(conn.dialect.name, table), groups)
        n += len(groups)
    return n


def raw_sums() -> list[sa.ColumnElement[Any]]:
    """The rollup's sums as SQL over raw rows, labelled like its columns (the backfill's and the
    property tests' reference aggregate)."""
    c = ledger.c
    one = lambda cond: sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)
    used = c.prompt_tokens + c.completion_tokens > 0
    return [
        sa.func.count().label("requests"),
        sa.func.coalesce(sa.func.sum(c.prompt_tokens), 0).label("prompt_tokens"),
        sa.func.coalesce(sa.func.sum(c.completion_tokens), 0).label("completion_tokens"),
        sa.func.coalesce(sa.func.sum(c.cached_tokens), 0).label("cached_tokens"),
        sa.func.coalesce(sa.func.sum(c.cache_write_tokens), 0).label("cache_write_tokens"),
        sa.func.coalesce(sa.func.sum(c.reasoning_tokens), 0).label("reasoning_tokens"),
        one(c.unpriced.is_(True)).label("unpriced_requests"),
        sa.func.coalesce(sa.func.sum(sa.case((c.unpriced.is_(True), c.prompt_tokens + c.completion_tokens),
                                             else_=0)), 0).label("unpriced_tokens"),
        one(c.partially_priced.is_(True)).label("partially_priced_requests"),
        one(c.cache_status.in_(CACHE_HITS)).label("cache_hits"),
        one(used).label("used_requests"),
        one(sa.and_(used, c.unpriced.is_(False))).label("priced_requests"),
        sa.func.coalesce(sa.func.sum(c.cost_usd), 0.0).label("cost_usd"),
        sa.func.coalesce(sa.func.sum(c.cost_saved_usd), 0.0).label("cost_saved_usd"),
    ]


def raw_groups(conn: sa.Connection, where: Iterable[sa.ColumnElement[bool]] = (),
               by: tuple[str, ...] = DIMS) -> list[dict[str, Any]]:
    """The rollup rows (grouped by day and `by`) of the raw rows matching `where`, from the raw rows."""
    dims = [ledger.c.day, *(ledger.c[d] for d in by)]
    out = []
    for r in conn.execute(sa.select(*dims, *raw_sums()).where(*where).group_by(*dims)):
        m = {str(k): v for k, v in r._mapping.items()}
        for s in INT_SUMS:
            m[s] = int(m[s])
        for s in FLOAT_SUMS:
            m[s] = float(m[s])
        m["dims_key"] = dims_key(m[d] for d in by)
        out.append(m)
    return out


def backfill(conn: sa.Connection, chunk: int = 5000) -> int:
    """Add the rollups of the raw rows already in the ledger, a day at a time (by the raw `day`
    index, so memory holds one day's groups): the migration's backfill. Returns rollup rows written."""
    n = 0
    days = sorted(d for (d,) in conn.execute(sa.select(ledger.c.day).distinct()))
    for table, by in ROLLUPS:
        stmt = _upsert(conn.dialect.name, table)
        for day in days:
            groups = raw_groups(conn, [ledger.c.day == day], by)
            for i in range(0, len(groups), chunk):
                conn.execute(stmt, groups[i : i + chunk])
            n += len(groups)
    return n
