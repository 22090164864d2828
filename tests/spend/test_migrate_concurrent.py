"""Replicas start together and each migrates the schema at start-up: the migrations must serialise
(PostgreSQL advisory lock, SQLite lock file) so every process comes up and the schema is at head."""

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.spend.db import make_engine
from gateway.spend.schema import metadata

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4
# Each child sleeps until the same instant, then migrates: they race on an empty database.
CHILD = """
import sys, time
from gateway.spend.db import make_engine, migrate
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
migrate(make_engine(sys.argv[1]))
"""


def _race(url: str) -> list[subprocess.CompletedProcess]:
    start = time.time() + 3.0  # after every interpreter has imported SQLAlchemy and Alembic
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, url, str(start)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(PROCESSES)]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


def _assert_at_head(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            versions = [r[0] for r in c.execute(sa.text("SELECT version_num FROM alembic_version"))]
            tables = set(sa.inspect(c).get_table_names())
    finally:
        engine.dispose()
    assert len(versions) == 1  # one head, recorded once
    assert set(metadata.tables) <= tables


def test_concurrent_sqlite_migrations_all_succeed(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    results = _race(url)
    assert [r.returncode for r in results] == [0] * PROCESSES, [r.stderr[-2000:] for r in results]
    _assert_at_head(url)


@pytest.mark.services
def test_concurrent_postgres_migrations_all_succeed(postgres_url):
    name = "migrate_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    url = postgres_url.rsplit("/", 1)[0] + "/" + name
    try:
        results = _race(url)
        assert [r.returncode for r in results] == [0] * PROCESSES, [r.stderr[-2000:] for r in results]
        _assert_at_head(url)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
        admin.dispose()
