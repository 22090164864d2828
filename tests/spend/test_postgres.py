"""The same ledger, keys and reports on a real PostgreSQL (started by tests/services.py)."""

import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from gateway.spend.auth import KeyAuthenticator, KeyHasher
from gateway.spend.db import downgrade, make_engine, migrate
from gateway.spend.keystore import KeyStore
from gateway.spend.ledger import LedgerWriter, insert_rows
from gateway.spend.reports import ReportQuery, finance_report, grouped
from gateway.spend.schema import metadata
from tests.spend.test_ledger import count, row
from tests.spend.test_reports import DAY0, seed

pytestmark = pytest.mark.services


@pytest.fixture
def pg(postgres_url):
    """A fresh database per test on the shared server."""
    name = "spend_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    engine = make_engine(postgres_url.rsplit("/", 1)[0] + "/" + name)
    migrate(engine)
    yield engine
    engine.dispose()
    with admin.connect() as c:
        c.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
    admin.dispose()


def _diffs(engine):
    with engine.connect() as c:
        return compare_metadata(MigrationContext.configure(c), metadata)


def test_migrations_match_the_schema_and_create_report_indexes(pg, tmp_path):
    assert _diffs(pg) == []
    lite = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    migrate(lite)
    assert _diffs(lite) == []
    idx = {i["name"] for i in sa.inspect(pg).get_indexes("spend_ledger")}
    assert {"ix_spend_ledger_ts", "ix_spend_ledger_team_ts", "ix_spend_ledger_key_ts",
            "ix_spend_ledger_model_ts"} <= idx
    assert "ix_spend_ledger_day" not in idx  # m006: days are read from the daily rollups
    assert {i["name"] for i in sa.inspect(pg).get_indexes("spend_ledger_daily")} == {"ix_spend_ledger_daily_team_day"}


def test_migrate_is_repeatable_and_reversible(pg):
    migrate(pg)  # already at head: no-op
    downgrade(pg, "base")
    assert "spend_ledger" not in sa.inspect(pg).get_table_names()
    migrate(pg)
    assert "spend_ledger" in sa.inspect(pg).get_table_names()


async def test_ledger_writer_on_postgres_is_idempotent(pg, tmp_path):
    w = LedgerWriter(pg, tmp_path / "spool", batch_size=100)
    await w.start()
    for i in range(250):
        w.record(row(f"p{i}"))
    w.record(row("p0"))  # a duplicate request id (a replay) is ignored
    await w.flush()
    await w.aclose()
    assert count(pg) == 250
    insert_rows(pg, [row("p1"), row("p999")])
    assert count(pg) == 251


async def test_keys_on_postgres(pg):
    store = KeyStore(pg, KeyHasher("s"))
    store.create_team("ml", budget_usd=3)
    rec, key = store.create_key(team_id="ml")
    auth = KeyAuthenticator(store, store.hasher)
    p, got = await auth.authenticate({"authorization": f"Bearer {key}"})
    assert p.key_id == rec.id and got.team.budget_usd == 3


def test_reports_on_postgres_match_sqlite(pg, tmp_path):
    lite = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    migrate(lite)
    seed(pg)
    seed(lite)
    for by in (["team"], ["day", "team"], ["model"], ["key", "day"]):
        a = grouped(pg, ReportQuery(by=by))
        b = grouped(lite, ReportQuery(by=by))
        assert [{k: (round(v, 9) if isinstance(v, float) else v) for k, v in r.items()} for r in a] == \
               [{k: (round(v, 9) if isinstance(v, float) else v) for k, v in r.items()} for r in b]
    rep = finance_report(pg, ReportQuery(DAY0, DAY0 + 2 * 86400, ["team"]), DAY0)
    assert rep.totals["requests"] == 14 and rep.unpriced[0]["model"] == "mystery"
