"""A fresh, empty PostgreSQL database per test on the shared server (tests/services.py)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import sqlalchemy as sa

from gateway.spend.db import make_engine


@contextlib.contextmanager
def fresh_database(postgres_url: str) -> Iterator[tuple[sa.Engine, str]]:
    """(engine, url) of a new database, not migrated; dropped afterwards."""
    name = "spend_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    url = postgres_url.rsplit("/", 1)[0] + "/" + name
    engine = make_engine(url)
    try:
        yield engine, url
    finally:
        engine.dispose()
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
        admin.dispose()
