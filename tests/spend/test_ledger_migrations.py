"""m002 (server row ids, client request ids not unique, dead letters) on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from gateway.spend.db import downgrade, make_engine, migrate
from gateway.spend.ledger import insert_rows
from gateway.spend.schema import metadata
from tests.spend.pgdb import fresh_database
from tests.spend.test_ledger import row


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def db(request, tmp_path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        e = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
        yield e
        e.dispose()
    else:
        with fresh_database(request.getfixturevalue("postgres_url")) as (e, _):
            yield e


def _old_rows(engine, ids):
    """Insert rows into the m001 schema (request_id unique, no row_id) through the reflected table."""
    t = sa.Table("spend_ledger", sa.MetaData(), autoload_with=engine)
    with engine.begin() as c:
        c.execute(t.insert(), [{k: v for k, v in row(i).items() if k != "row_id"} for i in ids])


def _ledger(engine):
    with engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(sa.text("SELECT * FROM spend_ledger ORDER BY id"))]


def test_m002_keeps_old_rows_and_stops_deduplicating_on_the_client_id(db):
    migrate(db, "m001")
    _old_rows(db, ["a", "b"])
    migrate(db)
    with db.connect() as c:
        assert compare_metadata(MigrationContext.configure(c), metadata) == []
    old = _ledger(db)
    assert [(r["request_id"], r["row_id"]) for r in old] == [("a", "a"), ("b", "b")]  # backfilled
    # an old spool line (no row_id) replayed after the upgrade still finds its row: no duplicate
    legacy = {k: v for k, v in row("a").items() if k != "row_id"}
    insert_rows(db, [legacy])
    assert len(_ledger(db)) == 2
    # new rows: one client request id, many rows
    insert_rows(db, [row("a", row_id="r1"), row("a", row_id="r2"), row("a", row_id="r2")])
    assert [r["request_id"] for r in _ledger(db)] == ["a", "b", "a", "a"]
    tables = sa.inspect(db).get_table_names()
    assert "spend_ledger_dead_letters" in tables


def test_m002_downgrade_keeps_every_row_and_upgrades_again(db):
    migrate(db)
    insert_rows(db, [row("a", row_id="r1"), row("a", row_id="r2"), row("b", row_id="r3")])
    downgrade(db, "m001")
    got = _ledger(db)
    assert len(got) == 3 and len({r["request_id"] for r in got}) == 3  # unique again, nothing dropped
    assert "row_id" not in got[0] and "spend_ledger_dead_letters" not in sa.inspect(db).get_table_names()
    with pytest.raises(sa.exc.IntegrityError):  # m001's uniqueness is back
        _old_rows(db, ["b"])
    migrate(db)
    with db.connect() as c:
        assert compare_metadata(MigrationContext.configure(c), metadata) == []
    assert len(_ledger(db)) == 3
    downgrade(db, "base")
    migrate(db)


def test_m004_keeps_alert_marks_and_downgrades(db):
    migrate(db)
    from gateway.spend.schema import alert_marks

    with db.begin() as c:
        c.execute(alert_marks.insert().values(scope="team", scope_id="t", period="2025-11", threshold=0.8,
                                              limit_usd=5.0, ts=1.0))
        c.execute(alert_marks.insert().values(scope="team", scope_id="t", period="2025-11", threshold=0.8,
                                              limit_usd=50.0, ts=2.0))  # the same threshold of a raised budget
    downgrade(db, "m003")
    with db.connect() as c:
        rows = c.execute(sa.text("SELECT scope_id, threshold, ts FROM budget_alert_marks")).all()
    assert [tuple(r) for r in rows] == [("t", 0.8, 1.0)]  # one mark per threshold again, the first kept
    migrate(db)
    with db.connect() as c:
        assert compare_metadata(MigrationContext.configure(c), metadata) == []
        assert c.execute(sa.text("SELECT limit_usd FROM budget_alert_marks")).scalar_one() == 0.0
