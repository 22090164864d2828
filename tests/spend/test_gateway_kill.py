"""Kill a whole gateway under load: SIGKILL loses no acknowledged request's row; SIGTERM loses none."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from gateway.mock_upstream import MockUpstream
from gateway.spend.db import make_engine
from gateway.spend.ledger import LedgerWriter
from gateway.spend.schema import ledger
from tests.spend.gw import PRICE
from tests.spend.rollup_check import rollup_mismatches

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _start(tmp_path, base_url):
    cfg = {"models": [{"name": "gpt-4o", "deployments": [{"provider": "openai", "model": "mock-gpt",
                                                           "api_base": base_url, "price": PRICE}]}],
           "spend": {"ledger": {"path": "spend.db", "spool_dir": "spool", "flush_interval_s": 0.5}}}
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return subprocess.Popen([sys.executable, "-m", "tests.spend.gateway_load_child", str(path)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)


def _acks(proc, at_least):
    acked = []
    for line in proc.stdout:
        if line.startswith("ack "):
            acked.append(line.split()[1])
            if len(acked) >= at_least:
                break
    return acked


def _ids(engine):
    with engine.connect() as c:
        return [r[0] for r in c.execute(sa.select(ledger.c.request_id))]


def test_sigkill_under_load_keeps_every_acknowledged_row(tmp_path):
    with MockUpstream() as m:
        proc = _start(tmp_path, m.base_url)
        acked = _acks(proc, 300)
        os.kill(proc.pid, signal.SIGKILL)
        acked += [line.split()[1] for line in proc.stdout.read().splitlines() if line.startswith("ack ")]
        proc.wait(10)
    engine = make_engine(f"sqlite:///{tmp_path / 'spend.db'}")
    in_db = len(_ids(engine))
    w = LedgerWriter(engine, tmp_path / "spool")
    w.open()  # what the next start does: replay the dead gateway's spool
    import asyncio

    asyncio.run(w.aclose())
    ids = _ids(engine)
    print(f"acknowledged {len(acked)}, in the database at the kill {in_db}, after replay {len(ids)}")
    assert set(acked) <= set(ids)  # no acknowledged request lost
    # Bound: rows beyond the acknowledged ones are requests whose response was being sent when
    # the process died (at most the 8 in flight); nothing is duplicated.
    assert len(ids) == len(set(ids)) and len(ids) - len(acked) <= 8
    assert rollup_mismatches(engine) == []  # the daily rollups equal the raw rows after the kill and replay


def test_sigterm_under_load_flushes_every_row(tmp_path):
    with MockUpstream() as m:
        proc = _start(tmp_path, m.base_url)
        acked = _acks(proc, 200)
        os.kill(proc.pid, signal.SIGTERM)
        out = proc.stdout.read()
        assert proc.wait(30) == 0
    acked += [line.split()[1] for line in out.splitlines() if line.startswith("ack ")]
    assert "closed" in out
    ids = _ids(make_engine(f"sqlite:///{tmp_path / 'spend.db'}"))
    assert set(acked) <= set(ids) and len(ids) - len(acked) <= 8
    assert list((tmp_path / "spool").glob("spool-*")) == []  # nothing left to replay
