"""Property (issue 15): whatever a workload's requests carry (request ids, model names, tags, users,
bodies up to hundreds of kB, any unicode), SIGKILLing the gateway part-way and starting it again
leaves exactly one ledger row per acknowledged request, and the writer never stalls on a row.

Each example runs a real gateway process (tests/spend/workload_child.py) over the mock upstream and
kills it with SIGKILL after some acknowledgements; the restart replays its spool.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.mock_upstream import MockUpstream
from gateway.spend.db import make_engine
from gateway.spend.ledger import LedgerWriter
from gateway.spend.schema import ledger
from tests.spend.gw import PRICE
from tests.spend.rollup_check import rollup_mismatches

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

_ascii = st.characters(min_codepoint=0x20, max_codepoint=0x7E)  # what an HTTP header value may hold
_any = st.characters(codec=None, exclude_categories=("Cs",))  # JSON bodies: any code point but lone surrogates
_header = st.one_of(st.text(_ascii, max_size=80), st.text(_ascii, min_size=60, max_size=400))
_text = st.one_of(st.text(_any, max_size=300),
                  st.builds(lambda piece, n: piece * n, st.text(_any, min_size=1, max_size=8), st.integers(1, 40_000)))
_request = st.fixed_dictionaries({
    "rid": _header, "tags": _header, "model": st.sampled_from(["gpt-4o", "cheap"]),
    "user": st.one_of(st.none(), st.text(_any, max_size=400)), "content": _text,
})


def _workload(reqs: list[dict]) -> list[dict]:
    out = []
    for i, r in enumerate(reqs):
        body = {"model": r["model"], "messages": [{"role": "user", "content": r["content"] or "hi"}], "max_tokens": 8}
        if r["user"] is not None:
            body["user"] = r["user"]
        # the unique first tag finds the row again whatever else the request carried
        headers = {"x-request-id": r["rid"], "x-sluice-tags": f"w{i}," + r["tags"]}
        out.append({"headers": headers, "body": body})
    return out


@pytest.fixture(scope="module")
def mock():
    with MockUpstream() as m:
        yield m


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow, HealthCheck.data_too_large])
@given(reqs=st.lists(_request, min_size=4, max_size=16), kill_after=st.integers(0, 8))
def test_sigkill_and_restart_keep_exactly_one_row_per_acknowledged_request(mock, tmp_path_factory, reqs, kill_after):
    tmp = tmp_path_factory.mktemp("kill")
    cfg = {"models": [{"name": n, "deployments": [{"provider": "openai", "model": "mock-gpt", "api_base": mock.base_url,
                                                    "price": PRICE}]} for n in ("gpt-4o", "cheap")],
           "spend": {"ledger": {"path": "spend.db", "spool_dir": "spool", "flush_interval_s": 0.3}}}
    (tmp / "gw.yaml").write_text(yaml.safe_dump(cfg))
    (tmp / "work.json").write_bytes(orjson.dumps(_workload(reqs)))
    proc = subprocess.Popen([sys.executable, "-m", "tests.spend.workload_child", str(tmp / "gw.yaml"),
                             str(tmp / "work.json")], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, text=True)
    acked: list[int] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("ack "):
                acked.append(int(line.split()[1]))
            if len(acked) > kill_after or line.startswith("done"):
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        rest = proc.stdout.read() if proc.stdout else ""
        proc.wait(10)
    acked += [int(x.split()[1]) for x in rest.splitlines() if x.startswith("ack ")]
    assert acked, "no request was acknowledged"  # every request is valid: the first one is always served
    # the next start replays the dead process's spool (LedgerWriter.open, as SpendService does)
    engine = make_engine(f"sqlite:///{tmp / 'spend.db'}")
    writer = LedgerWriter(engine, tmp / "spool")
    writer.open()
    asyncio.run(writer.aclose())
    assert writer.dead_letters == 0  # no row was set aside: each fit its columns
    assert list((tmp / "spool").glob("spool-*")) == []  # nothing left unwritten, so nothing was stalled
    assert rollup_mismatches(engine) == []  # the daily rollups equal the raw rows after the kill and replay
    with engine.connect() as c:
        tags = [t for (t,) in c.execute(sa.select(ledger.c.tags))]
    engine.dispose()
    per_request = {i: sum(1 for t in tags if t is not None and (t == f"w{i}" or t.startswith(f"w{i},"))) for i in acked}
    assert all(n == 1 for n in per_request.values()), per_request
    assert len(tags) <= len(reqs)  # nothing duplicated beyond the workload
