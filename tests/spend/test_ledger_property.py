"""Property: whatever a request carries (ids, model names, tags, any unicode, any size), every row
recorded through the writer lands in the ledger exactly once, replays add nothing, and the writer
never stalls (SQLite)."""

from __future__ import annotations

import asyncio
import itertools
import math
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.context import Principal
from gateway.spend.db import make_engine, migrate
from gateway.spend.ledger import LedgerWriter
from gateway.spend.pricing import Usage
from gateway.spend.rows import ledger_row
from gateway.spend.schema import ledger
from tests.spend.helpers import make_ctx

MARK = "…[truncated]"
BOUNDS = {c.name: c.type.length or c.info.get("max_chars") for c in ledger.columns if isinstance(c.type, sa.String)}

# any code point, and the ones that broke or could break a row: NUL, lone surrogates, newlines,
# JSON's specials, the truncation marker's own character, astral characters
_chars = st.one_of(
    st.characters(codec=None, exclude_categories=()),
    st.sampled_from(["\x00", "\ud800", "\udfff", "\n", "\r", "\u2028", '"', "\\", ",", "…", "😀", "é"]),
)


def _sized(small: int) -> st.SearchStrategy[str]:
    """Short text, text around the column's size, or a long run (up to ~1.2 MB) of a short piece."""
    return st.one_of(
        st.text(_chars, max_size=small),
        st.text(_chars, min_size=small - 2, max_size=small + 2),
        st.tuples(st.text(_chars, min_size=1, max_size=4), st.integers(100, 300_000)).map(lambda t: t[0] * t[1]),
    )


_request = st.fixed_dictionaries({
    "request_id": _sized(64),
    "model": _sized(256),
    "tags": st.lists(_sized(40), max_size=6),
    "user": st.none() | _sized(128),
    "error_code": st.none() | _sized(64),
    "status": st.integers(-(2**40), 2**40),
    "prompt": st.integers(-(2**70), 2**70),
    "cost": st.none() | st.floats(allow_nan=True, allow_infinity=True),
})


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    e = make_engine(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'p.db'}")
    migrate(e)
    yield e
    e.dispose()


_runs = itertools.count()


def _clean(s: str) -> bool:
    return "\x00" not in s and not any(0xD800 <= ord(c) <= 0xDFFF for c in s)


def _fits(stored: str | None, sent: str | None, column: str) -> None:
    if sent is None or sent == "":
        return
    assert stored is not None and len(stored) <= BOUNDS[column]
    if len(sent) <= BOUNDS[column] and _clean(sent):
        assert stored == sent  # a value that fits is stored as sent
    elif len(sent) > BOUNDS[column]:
        assert stored.endswith(MARK)


def _stored(engine: sa.Engine, marker: str) -> list:
    with engine.connect() as c:
        return list(c.execute(sa.select(ledger).where(ledger.c.key_id == marker).order_by(ledger.c.id)))


async def _example(engine: sa.Engine, spool: Path, marker: str, requests: list[dict]) -> None:
    w = LedgerWriter(engine, spool, batch_size=3)
    w.open()
    sent = []
    for r in requests:
        ctx = make_ctx(model=r["model"])
        ctx.request_id, ctx.tags, ctx.status_code, ctx.error_code = r["request_id"], r["tags"], 200, r["error_code"]
        ctx.principal = Principal(key_id=marker, user_id=r["user"])  # this example's rows
        row = ledger_row(ctx, usage=Usage(prompt=10, completion=1), usage_source="upstream", cost_usd=r["cost"],
                         unpriced=False, price_version="v")
        row["status_code"], row["prompt_tokens"] = r["status"], r["prompt"]
        w.record(row)
        sent.append((row, r))
    spooled = b"".join(p.read_bytes() for p in spool.glob("spool-*.jsonl"))
    await w.flush()
    assert w.backlog_bytes == 0  # never stalls
    assert getattr(w, "dead_letters", 0) == 0  # nothing refused
    await w.aclose()
    assert list(spool.glob("spool-*")) == []
    assert len(_stored(engine, marker)) == len(sent)  # every row, once
    # the same spool left by a dead process and replayed at the next start adds nothing
    (spool / "spool-1-replay.jsonl").write_bytes(spooled)
    again = LedgerWriter(engine, spool)
    again.open()
    await again.aclose()
    assert list(spool.glob("spool-*")) == []

    got = _stored(engine, marker)
    assert len(got) == len(sent)  # still once each: the replay added nothing
    for stored, (_row, r) in zip(got, sent, strict=True):  # written in the order recorded
        _fits(stored.request_id, r["request_id"], "request_id")
        _fits(stored.requested_model, r["model"], "requested_model")
        _fits(stored.user_id, r["user"], "user_id")
        _fits(stored.tags, ",".join(r["tags"]) or None, "tags")
        assert -(2**31) <= stored.prompt_tokens < 2**31 and -(2**31) <= stored.status_code < 2**31
        if r["cost"] is None or not math.isfinite(r["cost"]):
            assert stored.cost_usd is None
        else:
            assert stored.cost_usd == r["cost"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(requests=st.lists(_request, min_size=1, max_size=7))
def test_every_recorded_row_lands_exactly_once_and_the_writer_never_stalls(engine, tmp_path_factory, requests):
    n = next(_runs)
    asyncio.run(_example(engine, tmp_path_factory.getbasetemp() / f"prop-spool-{n}", f"prop-{n}", requests))
