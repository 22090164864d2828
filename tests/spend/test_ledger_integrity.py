"""Spend that adds up under attack: no request can poison, stall or overwrite the ledger (SQLite).

Reproduced findings these guard against:
- a 1.1 MB model name made a spool line longer than the writer's read size: the writer took it for
  a torn line and stopped for good (0 of 20 later rows written); the replay at restart stopped at
  the same line and then deleted the spool;
- the client's `x-request-id` was the ledger's dedupe key: 10 paid requests with one id gave one
  row, and an unauthenticated request could claim an id first so the paid request's row was
  dropped (and so was its spend when budgets were re-seeded from the ledger).
The PostgreSQL side (DataError on over-long values) is in test_ledger_integrity_postgres.py.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
import pytest
import sqlalchemy as sa

from gateway.mock_upstream import MockUpstream
from gateway.spend.db import make_engine, migrate
from gateway.spend.ledger import LedgerWriter
from gateway.spend.pricing import Usage
from gateway.spend.rows import ledger_row
from gateway.spend.schema import ledger
from tests.spend.gw import gateway_config, running
from tests.spend.helpers import make_ctx
from tests.spend.test_ledger import count, row

MARK = "…[truncated]"
MASTER = "master-key-for-integrity-tests"
ADMIN = {"authorization": f"Bearer {MASTER}"}
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Tell me about rivers"}]}


def paid_row(request_id: str, *, model: str = "gpt-4o", **kw):
    """A row as the spend hook builds it (server-side fields filled by ledger_row)."""
    ctx = make_ctx(model=model, request_id=request_id)
    ctx.status_code = kw.pop("status_code", 200)
    return ledger_row(ctx, usage=Usage(prompt=10, completion=5), usage_source="upstream", cost_usd=0.25,
                      unpriced=False, price_version="v1")


def rows_in(engine) -> list[dict]:
    with engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(sa.select(ledger).order_by(ledger.c.id))]


def spool_lines(tmp_path) -> list[bytes]:
    return [line for p in sorted((tmp_path / "spool").glob("spool-*.jsonl")) for line in p.read_bytes().splitlines()]


# -- 1. ledger poisoning (SQLite) ----------------------------------------------------------------

async def test_a_huge_model_name_does_not_stall_the_writer(engine, tmp_path):
    w = LedgerWriter(engine, tmp_path / "spool", batch_size=50)
    await w.start()
    w.record(paid_row("huge", model="m" * 1_100_000))
    for i in range(20):
        w.record(paid_row(f"after-{i}"))
    await w.flush()
    got = rows_in(engine)
    assert w.backlog_bytes == 0  # nothing stuck behind the long row
    assert [r["request_id"] for r in got] == ["huge"] + [f"after-{i}" for i in range(20)]
    assert got[0]["requested_model"] == "m" * (256 - len(MARK)) + MARK
    await w.aclose()
    assert list((tmp_path / "spool").glob("spool-*")) == []


def test_replay_reads_a_line_longer_than_the_read_size_and_keeps_unwritten_rows(engine, tmp_path):
    """A spool left by a dead process (here written as an older version would: unbounded values)."""
    spool = tmp_path / "spool"
    spool.mkdir()
    lines = [orjson.dumps(row("big", requested_model="x" * 1_100_000))]
    lines += [orjson.dumps(row(f"o{i}")) for i in range(20)]
    (spool / "spool-999-dead.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    w = LedgerWriter(engine, spool)
    w.open()
    ids = [r["request_id"] for r in rows_in(engine)]
    assert ids == ["big"] + [f"o{i}" for i in range(20)]
    assert not (spool / "spool-999-dead.jsonl").exists()  # removed only once every row was written
    asyncio.run(w.aclose())


def test_a_spool_is_kept_while_the_database_refuses_its_rows(tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "spool-999-dead.jsonl").write_bytes(b"".join(orjson.dumps(row(f"o{i}")) + b"\n" for i in range(3)))
    bad = make_engine(f"sqlite:///{tmp_path / 'unmigrated.db'}")  # no tables: every insert fails
    w = LedgerWriter(bad, spool)
    with pytest.raises(sa.exc.OperationalError):
        w.open()
    assert (spool / "spool-999-dead.jsonl").exists()  # still holds its three rows
    migrate(bad)
    w = LedgerWriter(bad, spool)
    w.open()
    assert count(bad) == 3 and not (spool / "spool-999-dead.jsonl").exists()
    asyncio.run(w.aclose())


async def test_every_field_is_bounded_before_it_reaches_the_spool(engine, tmp_path):
    w = LedgerWriter(engine, tmp_path / "spool")
    await w.start()
    long = {c.name: "z" * 5000 for c in ledger.columns
            if isinstance(c.type, sa.String) and c.name not in ("row_id", "request_id", "day")}
    w.record(row("z" * 5000, **long, prompt_tokens=10**30, completion_tokens=-(10**30)))
    (line,) = spool_lines(tmp_path)
    spooled = orjson.loads(line)
    for c in ledger.columns:
        v = spooled.get(c.name)
        if isinstance(c.type, sa.String) and c.type.length and isinstance(v, str):
            assert len(v) <= c.type.length, c.name
    assert spooled["request_id"] == "z" * (64 - len(MARK)) + MARK
    assert len(spooled["tags"]) < 5000 and spooled["tags"].endswith(MARK)
    assert spooled["prompt_tokens"] == 2**31 - 1 and spooled["completion_tokens"] == -(2**31)
    await w.flush()
    (stored,) = rows_in(engine)
    assert stored["request_id"] == spooled["request_id"] and stored["tags"] == spooled["tags"]
    await w.aclose()


async def test_nul_and_lone_surrogates_cannot_break_a_row(engine, tmp_path):
    w = LedgerWriter(engine, tmp_path / "spool")
    await w.start()
    w.record(paid_row("nul\x00id", model="bad\ud800model\x00"))  # orjson refuses lone surrogates
    w.record(paid_row("next"))
    await w.flush()
    got = rows_in(engine)
    assert [r["request_id"] for r in got] == ["nul\ufffdid", "next"]
    assert "\x00" not in got[0]["requested_model"] and got[0]["requested_model"].startswith("bad")
    await w.aclose()


async def test_a_row_the_database_refuses_is_dead_lettered_and_later_rows_still_land(engine, tmp_path, caplog):
    w = LedgerWriter(engine, tmp_path / "spool", batch_size=8)
    await w.start()
    good = [paid_row(f"g{i}") for i in range(10)]
    broken = paid_row("broken")
    broken["status_code"] = None  # NOT NULL: the database refuses it however often it is retried
    for r in good[:5] + [broken] + good[5:]:
        w.record(r)
    with caplog.at_level(logging.ERROR, logger="sluice.spend.ledger"):
        await w.flush()
    assert [r["request_id"] for r in rows_in(engine)] == [f"g{i}" for i in range(10)]
    assert w.backlog_bytes == 0 and w.dead_letters == 1
    from gateway.spend.schema import ledger_dead_letters

    with engine.connect() as c:
        (dead,) = [dict(r._mapping) for r in c.execute(sa.select(ledger_dead_letters))]
    assert dead["row_id"] == broken["row_id"] and orjson.loads(dead["payload"])["request_id"] == "broken"
    assert "IntegrityError" in dead["reason"]
    assert any(r.levelno == logging.ERROR and "dead-letter" in r.getMessage() for r in caplog.records)
    await w.aclose()
    assert list((tmp_path / "spool").glob("spool-*")) == []


def test_a_corrupt_or_torn_line_is_dead_lettered_not_silently_dropped(engine, tmp_path):
    from gateway.spend.schema import ledger_dead_letters

    spool = tmp_path / "spool"
    spool.mkdir()
    body = orjson.dumps(row("a")) + b"\n" + b"{not json\n" + orjson.dumps(row("b")) + b"\n"
    (spool / "spool-999-dead.jsonl").write_bytes(body + orjson.dumps(row("torn"))[:40])
    w = LedgerWriter(engine, spool)
    w.open()
    assert [r["request_id"] for r in rows_in(engine)] == ["a", "b"]
    with engine.connect() as c:
        reasons = sorted(r.reason for r in c.execute(sa.select(ledger_dead_letters)))
    assert len(reasons) == 2 and w.dead_letters == 2
    assert not (spool / "spool-999-dead.jsonl").exists()
    asyncio.run(w.aclose())


# -- 2. the client's request id is not the ledger's key ------------------------------------------

async def test_rows_with_one_request_id_are_all_kept(engine, tmp_path):
    w = LedgerWriter(engine, tmp_path / "spool")
    await w.start()
    for _ in range(10):
        w.record(paid_row("same-id"))
    await w.flush()
    got = rows_in(engine)
    assert len(got) == 10 and {r["request_id"] for r in got} == {"same-id"}
    assert len({r["row_id"] for r in got}) == 10
    assert sum(r["cost_usd"] for r in got) == pytest.approx(2.5)
    await w.aclose()


async def test_replaying_a_spool_does_not_duplicate_rows(engine, tmp_path):
    """Idempotent replays dedupe on the server's row id (a spool replayed after its rows were written)."""
    w = LedgerWriter(engine, tmp_path / "spool")
    await w.start()
    for _ in range(5):
        w.record(paid_row("same-id"))
    copy = b"".join(line + b"\n" for line in spool_lines(tmp_path))
    await w.flush()
    await w.aclose()
    (tmp_path / "spool" / "spool-999-dead.jsonl").write_bytes(copy)
    w2 = LedgerWriter(engine, tmp_path / "spool")
    w2.open()
    assert count(engine) == 5
    await w2.aclose()


@pytest.fixture(scope="module")
def mock():
    with MockUpstream() as m:
        yield m


@pytest.fixture
def secrets(monkeypatch):
    monkeypatch.setenv("SLUICE_MASTER_KEY", MASTER)
    monkeypatch.setenv("SLUICE_KEY_SECRET", "hmac-secret-for-integrity-tests")


async def test_ten_paid_requests_with_one_request_id_are_ten_rows(tmp_path, mock, secrets):
    mock.reset()
    config = gateway_config(tmp_path, mock.base_url, auth={"enabled": True})
    async with running(config) as (app, client):
        key = (await client.post("/sluice/v1/keys", json={"budget_usd": 100}, headers=ADMIN)).json()["key"]
        charged = []
        for _ in range(10):
            r = await client.post("/v1/chat/completions", json=CHAT,
                                  headers={"authorization": f"Bearer {key}", "x-request-id": "dup"})
            assert r.status_code == 200, r.text
            charged.append(float(r.headers["x-sluice-cost-usd"]))
        svc = app.gateway.services.spend
        await svc.writer.flush()
        got = rows_in(svc.engine)
    assert len(got) == 10 and {r["request_id"] for r in got} == {"dup"}
    assert sum(r["cost_usd"] for r in got) == pytest.approx(sum(charged), abs=1e-12)


async def test_an_unauthenticated_request_cannot_claim_a_paid_requests_row(tmp_path, mock, secrets):
    from gateway.spend.budgets import Budget

    mock.reset()
    config = gateway_config(tmp_path, mock.base_url, auth={"enabled": True})
    async with running(config) as (app, client):
        made = (await client.post("/sluice/v1/keys", json={"budget_usd": 100, "budget_period": "day"},
                                  headers=ADMIN)).json()
        r = await client.post("/v1/chat/completions", json=CHAT, headers={"x-request-id": "victim"})
        assert r.status_code == 401
        await app.gateway.services.spend.writer.flush()  # were it written, the attacker's row would come first
        r = await client.post("/v1/chat/completions", json=CHAT,
                              headers={"authorization": f"Bearer {made['key']}", "x-request-id": "victim"})
        assert r.status_code == 200
        paid = float(r.headers["x-sluice-cost-usd"])
        assert paid > 0
    # a restart re-seeds the budget from the ledger: the paid request's spend is there
    async with running(config) as (app, _client):
        svc = app.gateway.services.spend
        got = rows_in(svc.engine)
        # an unauthenticated request writes no row (sluice_requests{status="401"} counts it)
        assert [(r["status_code"], r["request_id"], r["cost_usd"]) for r in got] == [(200, "victim", paid)]
        spent = await svc.budgets.spent(Budget("key", made["id"], "key", 100, "day"))
    assert spent == pytest.approx(paid, abs=1e-9)


async def test_requests_with_huge_fields_cannot_stall_paid_rows(tmp_path, mock, secrets):
    mock.reset()
    config = gateway_config(tmp_path, mock.base_url, auth={"enabled": True})
    async with running(config) as (app, client):
        key = (await client.post("/sluice/v1/keys", json={}, headers=ADMIN)).json()["key"]
        auth = {"authorization": f"Bearer {key}"}
        r = await client.post("/v1/chat/completions", json={**CHAT, "model": "m" * 1_100_000},
                              headers={"x-request-id": "r" * 200})
        assert r.status_code in (400, 401)  # refused before any work, and before anyone is charged
        r = await client.post("/v1/chat/completions", json=CHAT,  # a paying client's own huge field
                              headers={**auth, "x-request-id": "tagged", "x-sluice-tags": "t" * 1_100_000})
        assert r.status_code == 200
        for i in range(20):
            r = await client.post("/v1/chat/completions", json=CHAT, headers={**auth, "x-request-id": f"paid-{i}"})
            assert r.status_code == 200
        svc = app.gateway.services.spend
        await svc.writer.flush()
        got = rows_in(svc.engine)
        assert svc.writer.backlog_bytes == 0
    assert sorted(r["request_id"] for r in got) == sorted([*(f"paid-{i}" for i in range(20)), "tagged"])
    (tagged,) = [r for r in got if r["request_id"] == "tagged"]
    assert len(tagged["tags"]) == 2048  # bounded to its column (gateway/spend/rows.py)


def test_the_readme_documents_the_bounds_the_gateway_applies():
    """One table of bounds: schema.py's column sizes, which bound_row applies and the README lists."""
    import re
    from pathlib import Path

    from gateway.spend.schema import text_bounds

    text = (Path(__file__).resolve().parents[2] / "gateway/spend/README.md").read_text(encoding="utf-8")
    table = text.split("<!-- fields: gateway.spend.schema:ledger -->", 1)[1].split("\n\n", 2)[0]
    documented: dict[str, int] = {}
    for line in table.strip().splitlines()[2:]:
        first, sizes = (c.strip() for c in line.strip().strip("|").split("|")[:2])
        for name, size in zip(re.findall(r"`([^`]+)`", first), [s.strip() for s in sizes.split(",")], strict=False):
            if size:
                documented[name] = int(size)
    assert documented == text_bounds(ledger)
    assert len(MARK) == 12 and "`…[truncated]`" in text
