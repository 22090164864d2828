"""Database engine for the spend ledger and keys: SQLite (WAL) embedded, PostgreSQL at scale.

The schema is created and upgraded by Alembic (`migrate`), on startup and by `sluice spend migrate`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from gateway.errors import ConfigError
from gateway.spend.config import LedgerConfig

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def database_url(cfg: LedgerConfig, base_dir: Path | str = ".") -> str:
    if cfg.backend == "postgres":
        url = os.environ.get(cfg.url_env) or cfg.url
        if not url:
            raise ConfigError(f"spend.ledger.backend is postgres but neither ${cfg.url_env} nor "
                              "spend.ledger.url is set; set one to postgresql+psycopg://user:pass@host/db")
        return url
    p = Path(cfg.path)
    if not p.is_absolute():
        p = Path(base_dir) / p
    p.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{p}"


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False}, use_insertmanyvalues=False)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # use_insertmanyvalues=False: psycopg's executemany (pipeline mode) inserts ledger batches
    # ~10x cheaper in CPU than one giant multi-VALUES statement it must re-parse every batch.
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, use_insertmanyvalues=False)


def _alembic(engine: sa.Engine, action: str, revision: str) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    # Replicas and workers start together: serialise their migrations (PostgreSQL: an advisory lock
    # held by the migrating transaction; SQLite: a lock file beside the database).
    with _sqlite_file_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7318204101)"))
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)


@contextlib.contextmanager
def _sqlite_file_lock(engine: sa.Engine) -> Iterator[None]:
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        yield
        return
    with open(f"{path}.migrate.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Upgrade the schema to `revision` (idempotent; several processes may call it at start-up)."""
    _alembic(engine, "upgrade", revision)


def downgrade(engine: sa.Engine, revision: str) -> None:
    _alembic(engine, "downgrade", revision)
