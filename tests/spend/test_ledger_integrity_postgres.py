"""Ledger poisoning on a real PostgreSQL: values the columns cannot hold never block later rows.

Reproduced before the fix: one unauthenticated request with an `x-request-id` longer than 64
characters (or a model name longer than 256) made every later batch fail with DataError and retry
forever (0 of 10 later paid rows written); after SIGTERM the gateway would not start again,
because replaying the spool raised the same error.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest
import sqlalchemy as sa

from gateway.mock_upstream import MockUpstream
from gateway.spend.db import migrate
from gateway.spend.ledger import LedgerWriter
from tests.spend.gw import gateway_config, running
from tests.spend.pgdb import fresh_database
from tests.spend.test_ledger import row
from tests.spend.test_ledger_integrity import ADMIN, CHAT, MASTER, paid_row, rows_in

pytestmark = pytest.mark.services


@pytest.fixture
def pg(postgres_url):
    with fresh_database(postgres_url) as (engine, url):
        migrate(engine)
        yield engine, url


async def test_over_long_values_do_not_poison_later_rows(pg, tmp_path):
    engine, _ = pg
    w = LedgerWriter(engine, tmp_path / "spool", batch_size=50)
    await w.start()
    w.record(paid_row("r" * 65))
    w.record(paid_row("long-model", model="m" * 257))
    w.record(paid_row("nul", model="a\x00b"))  # PostgreSQL text cannot hold NUL
    for i in range(10):
        w.record(paid_row(f"paid-{i}"))
    await w.flush()
    got = rows_in(engine)
    assert len(got) == 13 and w.backlog_bytes == 0 and w.dead_letters == 0
    assert sorted(r["request_id"] for r in got if r["request_id"].startswith("paid-")) == \
        sorted(f"paid-{i}" for i in range(10))
    assert {len(r["request_id"]) for r in got if r["request_id"].startswith("rrr")} == {64}
    await w.aclose()


async def test_a_refused_row_is_dead_lettered_on_postgres(pg, tmp_path):
    engine, _ = pg
    w = LedgerWriter(engine, tmp_path / "spool", batch_size=4)
    await w.start()
    broken = paid_row("broken")
    broken["route"] = None  # NOT NULL
    w.record(paid_row("a"))
    w.record(broken)
    for i in range(10):
        w.record(paid_row(f"p{i}"))
    await w.flush()
    assert len(rows_in(engine)) == 11 and w.backlog_bytes == 0 and w.dead_letters == 1
    from gateway.spend.schema import ledger_dead_letters

    with engine.connect() as c:
        assert [r.row_id for r in c.execute(sa.select(ledger_dead_letters))] == [broken["row_id"]]
    await w.aclose()


def test_restart_replays_a_spool_an_older_version_left_with_over_long_values(pg, tmp_path):
    engine, _ = pg
    spool = tmp_path / "spool"
    spool.mkdir()
    old = {k: v for k, v in row("x" * 100, requested_model="m" * 1000).items() if k != "row_id"}
    lines = [orjson.dumps(old)] + [orjson.dumps(row(f"o{i}")) for i in range(10)]
    (spool / "spool-999-dead.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    w = LedgerWriter(engine, spool)
    w.open()  # raised DataError before: the gateway could not start
    assert len(rows_in(engine)) == 11
    assert not (spool / "spool-999-dead.jsonl").exists()
    asyncio.run(w.aclose())


@pytest.fixture(scope="module")
def mock():
    with MockUpstream() as m:
        yield m


async def test_gateway_on_postgres_survives_a_poisoning_request_and_restarts(pg, tmp_path, mock, monkeypatch):
    _, url = pg
    monkeypatch.setenv("SLUICE_MASTER_KEY", MASTER)
    monkeypatch.setenv("SLUICE_KEY_SECRET", "hmac-secret-for-integrity-tests")
    mock.reset()
    config = gateway_config(tmp_path, mock.base_url, auth={"enabled": True},
                            spend={"ledger": {"backend": "postgres", "url": url, "flush_interval_s": 0.05}})
    async with running(config) as (app, client):
        key = (await client.post("/sluice/v1/keys", json={}, headers=ADMIN)).json()["key"]
        r = await client.post("/v1/chat/completions", json=CHAT, headers={"x-request-id": "r" * 65})
        assert r.status_code == 401
        r = await client.post("/v1/chat/completions", json={**CHAT, "model": "m" * 257})
        assert r.status_code in (400, 401)
        # a paying request with over-long fields of its own: bounded before the spool, not a poisoned batch
        r = await client.post("/v1/chat/completions", json=CHAT, headers={
            "authorization": f"Bearer {key}", "x-request-id": "r" * 65, "x-sluice-tags": "t" * 5000})
        assert r.status_code == 200
        for i in range(10):
            r = await client.post("/v1/chat/completions", json=CHAT,
                                  headers={"authorization": f"Bearer {key}", "x-request-id": f"paid-{i}"})
            assert r.status_code == 200
        svc = app.gateway.services.spend
        await svc.writer.flush()
        paid = [r for r in rows_in(svc.engine) if r["status_code"] == 200]
        assert len(paid) == 11 and all(r["status_code"] == 200 for r in rows_in(svc.engine))
    # the shutdown flushed everything; a new start (which replays any spool left) succeeds
    assert list((tmp_path / "spool").glob("spool-*")) == []
    async with running(config) as (app, _client):
        assert len(rows_in(app.gateway.services.spend.engine)) == 11
