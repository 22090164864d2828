"""Daily rollups (m006), retention and the report indexes: backfill, replays, kills, pruning,
`sluice spend prune`, and the query plans of what is still read from raw rows."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from gateway.spend.config import RetentionConfig
from gateway.spend.db import downgrade, make_engine, migrate
from gateway.spend.ledger import LedgerWriter, insert_rows
from gateway.spend.reports import ReportQuery, _grouped_stmt, grouped
from gateway.spend.retention import cutoff, delete_ids, old_ids, prune
from gateway.spend.rows import bound_row
from gateway.spend.schema import ledger, ledger_daily
from tests.spend.pgdb import fresh_database
from tests.spend.rollup_check import rollup_mismatches
from tests.spend.test_cli import cfg_file, run  # noqa: F401 - the fixture
from tests.spend.test_ledger import count, row
from tests.spend.test_rollup_property import _assert_same

ROOT = Path(__file__).resolve().parents[2]
DAY0 = 1_764_028_800.0  # 2025-11-25T00:00:00Z
_DAY = 86_400


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def db(request, tmp_path) -> Iterator[sa.Engine]:
    """An empty, unmigrated database."""
    if request.param == "sqlite":
        e = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
        yield e
        e.dispose()
    else:
        with fresh_database(request.getfixturevalue("postgres_url")) as (e, _):
            yield e


def _rollups(engine) -> int:
    with engine.connect() as c:
        return c.execute(sa.select(sa.func.count()).select_from(ledger_daily)).scalar_one()


def _spread(n: int, days: int, start: float = DAY0, seed: int = 0) -> list[dict]:
    rnd = random.Random(seed)
    return [row(f"s{seed}-{i}", ts=start + rnd.random() * days * _DAY, cost=rnd.choice([None, 0.001, 0.02]),
                team_id=rnd.choice(["t1", "t2", None]), key_id=rnd.choice(["k1", "k2", "k3"]),
                requested_model=rnd.choice(["gpt-4o", "mini"]), status_code=rnd.choice([200, 200, 429]))
            for i in range(n)]


def test_m006_backfills_the_rollups_from_rows_already_written(db):
    migrate(db, "m005")
    t = sa.Table("spend_ledger", sa.MetaData(), autoload_with=db)
    rows = [bound_row(r) for r in _spread(300, 5)]
    with db.begin() as c:  # written before m006: raw rows only
        c.execute(t.insert(), rows)
    migrate(db)
    assert _rollups(db) > 0 and rollup_mismatches(db) == []
    q = ReportQuery(DAY0 + _DAY, DAY0 + 4 * _DAY, ["team", "day"])
    _assert_same(grouped(db, q), grouped(db, q, "raw"), q.by)
    downgrade(db, "m005")
    assert "spend_ledger_daily" not in sa.inspect(db).get_table_names()
    assert "ix_spend_ledger_day" in {i["name"] for i in sa.inspect(db).get_indexes("spend_ledger")}
    migrate(db)
    assert rollup_mismatches(db) == [] and count(db) == 300


def test_replayed_rows_add_nothing_to_the_rollups(db):
    migrate(db)
    rows = _spread(50, 2)
    assert insert_rows(db, rows[:30]) == 30
    assert insert_rows(db, rows[20:] + rows[:5] + rows[40:41]) == 20  # 15 replays, one row twice in a batch
    assert count(db) == 50 and rollup_mismatches(db) == []
    with db.connect() as c:
        assert c.execute(sa.select(sa.func.sum(ledger_daily.c.requests))).scalar_one() == 50


def test_a_row_refused_by_the_database_leaves_no_rollup(engine, tmp_path):
    """The raw insert and the rollup upsert are one transaction: a batch the database refuses
    (split until the bad row is alone and dead-lettered) counts only the rows it kept."""
    w = LedgerWriter(engine, tmp_path / "spool", batch_size=10)
    w.open()
    good = _spread(9, 1)
    bad = {**row("bad"), "ts": None}  # ts is NOT NULL: the database refuses the row
    for r in good[:4] + [bad] + good[4:]:
        w.record(r)
    asyncio.run(w.aclose())
    assert w.dead_letters == 1 and count(engine) == 9
    assert rollup_mismatches(engine) == []


_KILL_CHILD = r"""
import random, sys
from gateway.spend.db import make_engine
from gateway.spend.ledger import insert_rows
from tests.spend.test_ledger import row
e = make_engine(sys.argv[1])
rnd = random.Random(int(sys.argv[2]))
n = 0
print("ready", flush=True)
while True:
    batch = [row(f"k{sys.argv[2]}-{n + i}", ts=1_764_028_800.0 + rnd.random() * 3 * 86_400,
                 team_id=rnd.choice(["a", "b"]), requested_model=rnd.choice(["x", "y", "z"]))
             for i in range(rnd.randint(1, 400))]
    insert_rows(e, batch + batch[: rnd.randint(0, 5)])
    n += len(batch)
"""


def test_sigkill_at_any_point_of_a_flush_leaves_rollups_equal_to_the_raw_rows(tmp_path):
    """A writer killed mid-transaction (raw rows and rollups half written) leaves neither: after
    each of many kills at random moments, the rollups equal the raw rows' aggregate."""
    url = f"sqlite:///{tmp_path / 'k.db'}"
    e = make_engine(url)
    migrate(e)
    rnd = random.Random(7)
    for i in range(8):
        p = subprocess.Popen([sys.executable, "-c", _KILL_CHILD, url, str(i)], cwd=ROOT, stdout=subprocess.PIPE,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True)
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        time.sleep(0.2 + rnd.random() * 0.6)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
        assert rollup_mismatches(e) == [], f"after kill {i}"
    assert count(e) > 0
    e.dispose()


def test_prune_deletes_old_raw_rows_in_batches_and_keeps_the_rollups(db):
    migrate(db)
    insert_rows(db, _spread(400, 10))
    whole = ReportQuery(DAY0, DAY0 + 10 * _DAY, ["team", "day"])
    old = ReportQuery(DAY0, DAY0 + 4 * _DAY, ["key"])
    report, old_report, rollups = grouped(db, whole), grouped(db, old), _rollups(db)
    before = DAY0 + 4 * _DAY
    with db.connect() as c:
        n_old = c.execute(sa.select(sa.func.count()).select_from(ledger).where(ledger.c.ts < before)).scalar_one()
    res = prune(db, before, batch_rows=37)
    assert res.done and res.deleted == n_old and res.batches == n_old // 37 + 1
    with db.connect() as c:
        assert c.execute(sa.select(sa.func.min(ledger.c.ts))).scalar_one() >= before
    assert count(db) == 400 - n_old and _rollups(db) == rollups  # rollups kept
    _assert_same(grouped(db, whole), report, whole.by)  # old days answer from the rollups
    _assert_same(grouped(db, old), old_report, old.by)
    assert grouped(db, old, "raw") == []  # ... and not from raw rows: those are gone
    again = prune(db, before, batch_rows=37)
    assert again.deleted == 0 and again.done


def test_prune_stops_after_max_batches():
    e = make_engine("sqlite://")
    migrate(e)
    insert_rows(e, _spread(100, 2))
    res = prune(e, DAY0 + 3 * _DAY, batch_rows=10, max_batches=3)
    assert (res.deleted, res.batches, res.done) == (30, 3, False) and count(e) == 70


def test_the_writer_prunes_with_retention_and_budgets_keep_their_month(engine, tmp_path):
    now = time.time()
    today = now // _DAY * _DAY
    rows = [row("old", ts=today - 40 * _DAY), row("edge", ts=today - 32 * _DAY - 1),
            row("kept", ts=today - 32 * _DAY), row("month", ts=today - 31 * _DAY + 5), row("now", ts=now)]
    insert_rows(engine, rows)
    w = LedgerWriter(engine, tmp_path / "spool", retention_days=32)
    assert w.prune_step() is True
    with engine.connect() as c:
        left = {r for (r,) in c.execute(sa.select(ledger.c.request_id))}
    assert left == {"kept", "month", "now"} and w.rows_pruned == 2
    assert cutoff(now, 32) == today - 32 * _DAY  # a UTC midnight: whole days go
    with engine.connect() as c:  # the pruned days' rollups stay
        assert c.execute(sa.select(sa.func.sum(ledger_daily.c.requests))).scalar_one() == 5


def test_retention_below_a_budget_month_is_refused():
    with pytest.raises(ValidationError):
        RetentionConfig(raw_days=31)
    assert RetentionConfig().raw_days is None  # off unless configured


def test_sluice_spend_prune(cfg_file):  # noqa: F811 - the fixture
    from gateway.spend.service import SpendService
    from tests.spend.helpers import make_config

    svc = SpendService(make_config(cfg_file.parent))
    svc.migrate()
    svc.engine.dispose()
    e = make_engine(f"sqlite:///{cfg_file.parent / 'spend.db'}")
    now = time.time()
    insert_rows(e, [row("a", ts=now - 100 * _DAY), row("b", ts=now - 50 * _DAY), row("c", ts=now)])
    r = run("spend", "prune", "-c", cfg_file)
    assert r.exit_code == 1 and "no retention" in r.output
    assert run("spend", "prune", "--days", "10", "-c", cfg_file).exit_code == 2  # below 32: refused
    r = run("spend", "prune", "--days", "60", "--dry-run", "-c", cfg_file)
    assert r.exit_code == 0 and "would delete 1 raw rows" in r.output and count(e) == 3
    r = run("spend", "prune", "--days", "40", "-c", cfg_file)
    assert r.exit_code == 0 and "deleted 2 raw rows" in r.output and count(e) == 1
    assert rollup_mismatches(e) != [] and grouped(e, ReportQuery(by=[]))[0]["requests"] == 3  # rollups kept
    e.dispose()


def test_day_is_the_utc_date_of_ts():
    assert bound_row(row("x", ts=DAY0 - 1, day="2030-01-01"))["day"] == "2025-11-24"
    assert bound_row(row("y", ts=DAY0, day="2030-01-01"))["day"] == "2025-11-25"


# -- query plans: what is still read from raw rows uses an index ------------------------------------

def _bulk(engine, n: int) -> None:
    """n rows over 90 days, 50 teams (inserted as raw rows, as the bench does), then ANALYZE."""
    rnd = random.Random(3)
    rows = [bound_row(row(f"p{i}", ts=DAY0 + rnd.random() * 90 * _DAY, team_id=f"t{rnd.randrange(50)}",
                          key_id=f"k{rnd.randrange(500)}")) for i in range(n)]
    with engine.begin() as c:
        c.execute(ledger.insert(), rows)
        c.exec_driver_sql("ANALYZE")


def _edge_sql(engine, team: str | None) -> str:
    # a report whose range ends mid-day: its whole days from the rollups, the last 6 hours raw
    q = ReportQuery(DAY0 + 10 * _DAY, DAY0 + 40.25 * _DAY, ["team", "model"], team)
    return str(_grouped_stmt(q, "auto").compile(engine, compile_kwargs={"literal_binds": True}))


def _prune_sql(engine) -> list[tuple[str, str]]:
    def lit(stmt):
        return str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))

    return [("prune-select", lit(old_ids(DAY0 + 30 * _DAY, 5000))), ("prune-delete", lit(delete_ids(list(range(1, 999)))))]


@pytest.mark.parametrize("team", [None, "t7"])
def test_sqlite_plans_use_indexes(tmp_path, team):
    e = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    migrate(e)
    _bulk(e, 20_000)
    with e.connect() as c:
        plans = {name: " | ".join(str(r[-1]) for r in c.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
                 for name, sql in [("report", _edge_sql(e, team)), *_prune_sql(e)]}
    e.dispose()
    for name, plan in plans.items():
        assert "SCAN spend_ledger " not in plan + " " and not plan.endswith("SCAN spend_ledger"), (name, plan)
        assert any(f"spend_ledger USING {how}" in plan for how in ("INDEX ix_spend_ledger_", "COVERING INDEX ix_spend_",
                                                               "INTEGER PRIMARY KEY")), (name, plan)
    assert "SCAN spend_ledger_daily" not in plans["report"] or team is None, plans["report"]


@pytest.mark.services
@pytest.mark.parametrize("team", [None, "t7"])
def test_postgres_plans_use_indexes(postgres_url, team):
    with fresh_database(postgres_url) as (e, _):
        migrate(e)
        _bulk(e, 50_000)
        with e.connect() as c:
            for name, sql in [("report", _edge_sql(e, team)), *_prune_sql(e)]:
                plan = "\n".join(r[0] for r in c.exec_driver_sql(f"EXPLAIN {sql}"))
                assert "Seq Scan on spend_ledger " not in plan + " ", (name, plan)
                assert "Index" in plan and ("ix_spend_ledger_" in plan or "spend_ledger_pkey" in plan), (name, plan)
