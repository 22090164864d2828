"""Property: a report read from the daily rollups (whole days) plus the raw rows (the partial days
at the range's edges) equals the same report over the raw rows alone, on SQLite and PostgreSQL,
for random rows, batches (with replays), ranges, groupings and team scopes; and the rollup table
always equals the raw rows' aggregate."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.spend.db import make_engine, migrate
from gateway.spend.ledger import insert_rows
from gateway.spend.reports import DIMENSIONS, NAMED, ReportQuery, finance_report, grouped
from gateway.spend.rollup import ROLLUPS
from gateway.spend.schema import ledger
from tests.spend.pgdb import fresh_database
from tests.spend.rollup_check import rollup_mismatches
from tests.spend.test_ledger import row

DAY0 = 1_764_028_800.0  # 2025-11-25T00:00:00Z
_DAY = 86_400


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def db(request, tmp_path_factory) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        e = make_engine(f"sqlite:///{tmp_path_factory.mktemp('rollup') / 'r.db'}")
        migrate(e)
        yield e
        e.dispose()
    else:
        with fresh_database(request.getfixturevalue("postgres_url")) as (e, _):
            migrate(e)
            yield e


def _pick(*values: Any) -> st.SearchStrategy[Any]:
    return st.sampled_from(values)


_ts = st.floats(DAY0 - 2 * _DAY, DAY0 + 3 * _DAY, allow_nan=False)
_edge = st.one_of(st.none(), _ts, st.integers(-2, 3).map(lambda d: DAY0 + d * _DAY))  # also on a midnight


@st.composite
def _row(draw: st.DrawFn, i: int) -> dict[str, Any]:
    cost = draw(st.one_of(st.none(), st.just(0.0), st.floats(0, 2, allow_nan=False)))
    return row(
        f"r{i}", ts=draw(_ts), cost=cost,
        team_id=draw(_pick(None, "", "t1", "t2")), key_id=draw(_pick(None, "k1", "k2", "k3")),
        user_id=draw(_pick(None, "", "ada", "bob")), requested_model=draw(_pick(None, "gpt-4o", "mini", "")),
        served_deployment=draw(_pick(None, "d1", "d2")), served_provider=draw(_pick(None, "openai", "anthropic")),
        prompt_ref=draw(_pick(None, "support@1", "support@2")), prompt_hash=draw(_pick(None, "h1", "h2")),
        rag_pipeline=draw(_pick(None, "docs")), status_code=draw(_pick(200, 200, 400, 429, 500)),
        price_version=draw(_pick(None, "v1", "v2")),
        prompt_tokens=draw(st.integers(0, 5000)), completion_tokens=draw(st.integers(0, 5000)),
        cached_tokens=draw(st.integers(0, 100)), cache_write_tokens=draw(st.integers(0, 100)),
        reasoning_tokens=draw(st.integers(0, 100)), partially_priced=draw(st.booleans()),
        cache_status=draw(_pick(None, "hit", "semantic-hit", "miss", "bypass")),
        cost_saved_usd=draw(st.one_of(st.none(), st.floats(0, 1, allow_nan=False))),
    )


@st.composite
def _workload(draw: st.DrawFn) -> tuple[list[list[dict[str, Any]]], list[ReportQuery]]:
    n = draw(st.integers(0, 60))
    rows = [draw(_row(i)) for i in range(n)]
    batches, at = [], 0
    while at < n:  # random batches; some replay rows already written (a spool replayed after a kill)
        k = draw(st.integers(1, 20))
        replay = draw(st.lists(st.sampled_from(rows[: at + 1]), max_size=3)) if at else []
        batches.append(rows[at : at + k] + replay)
        at += k
    queries = []
    for _ in range(draw(st.integers(1, 4))):
        a, b = draw(_edge), draw(_edge)
        by = draw(st.lists(st.sampled_from(list(DIMENSIONS)), max_size=3, unique=True))
        queries.append(ReportQuery(a, b, by, draw(_pick(None, "t1", ""))))
    return batches, queries


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def _by_group(rows: list[dict[str, Any]], by: list[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    keys = [c for b in by for c in (b, NAMED.get(b)) if c]
    out = {tuple(r[k] for k in keys): r for r in rows}
    assert len(out) == len(rows)  # one row per group
    return out


def _assert_same(auto: list[dict[str, Any]], raw: list[dict[str, Any]], by: list[str]) -> None:
    a, r = _by_group(auto, by), _by_group(raw, by)
    assert a.keys() == r.keys()
    for k in r:
        bad = {m: (a[k][m], r[k][m]) for m in r[k] if not _close(a[k][m], r[k][m])}
        assert not bad, (k, bad)
    costs = [x["cost_usd"] or 0.0 for x in auto]  # most expensive first (ties within float noise)
    assert all(x >= y - 1e-9 for x, y in itertools.pairwise(costs))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(work=_workload())
def test_rollup_backed_reports_equal_raw_aggregates(db, work):
    batches, queries = work
    with db.begin() as c:
        c.execute(ledger.delete())
        for table, _ in ROLLUPS:
            c.execute(table.delete())
    for b in batches:
        insert_rows(db, b)
    assert rollup_mismatches(db) == []
    for q in queries:
        _assert_same(grouped(db, q), grouped(db, q, "raw"), q.by)
    q = queries[0]
    auto, raw = finance_report(db, q, DAY0, "auto"), finance_report(db, q, DAY0, "raw")
    assert auto.price_versions == raw.price_versions
    assert sorted((u["model"] or "", u["requests"], u["tokens"]) for u in auto.unpriced) == \
        sorted((u["model"] or "", u["requests"], u["tokens"]) for u in raw.unpriced)
    for name in ("by_day_team", "top_models", "top_keys", "by_prompt"):
        assert len(getattr(auto, name)) == len(getattr(raw, name)), name
    _assert_same([auto.totals], [raw.totals], [])
