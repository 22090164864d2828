"""Fixtures shared by the spend tests."""

import pytest

from gateway.spend.db import make_engine, migrate


@pytest.fixture
def engine(tmp_path):
    """A migrated SQLite ledger database in the test's folder."""
    e = make_engine(f"sqlite:///{tmp_path / 'l.db'}")
    migrate(e)
    yield e
    e.dispose()
