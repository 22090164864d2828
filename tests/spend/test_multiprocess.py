"""Two gateway processes share one key through Redis (counters) and PostgreSQL (ledger, keys)."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
import yaml

from gateway.mock_upstream import MockUpstream
from gateway.spend.auth import KeyHasher
from gateway.spend.db import make_engine, migrate
from gateway.spend.keystore import KeyStore
from gateway.spend.reserve import prompt_bound
from gateway.spend.schema import ledger
from tests.spend.gw import PRICE

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.services, pytest.mark.slow]


def test_limits_and_budget_hold_across_two_processes(tmp_path, postgres_url, redis_url):
    name = "spend_mp_" + uuid.uuid4().hex[:8]
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    db_url = postgres_url.rsplit("/", 1)[0] + "/" + name
    engine = make_engine(db_url)
    migrate(engine)
    store = KeyStore(engine, KeyHasher("mp-secret"))
    _rpm_rec, rpm_key = store.create_key(rpm=30)
    # a budget worth 5 requests at their worst case (prompt bound + max_tokens 40, gateway/spend/reserve.py)
    from tests.spend.gateway_child import CHAT
    worst = (prompt_bound(CHAT) * PRICE["input_per_mtok"] + CHAT["max_tokens"] * PRICE["output_per_mtok"]) / 1e6
    budget = round(5 * worst, 9)
    budget_rec, budget_key = store.create_key(budget_usd=budget, budget_period="day")
    with MockUpstream() as m:
        cfg = {
            "models": [{"name": "gpt-4o", "deployments": [{"provider": "openai", "model": "mock-gpt",
                                                            "api_base": m.base_url, "price": PRICE}]}],
            "auth": {"enabled": True, "counters": {"backend": "redis", "redis_url": redis_url,
                                                    "key_prefix": f"mp{uuid.uuid4().hex[:6]}:"}},
            "spend": {"ledger": {"backend": "postgres", "url": db_url, "spool_dir": str(tmp_path / "spool")}},
            "server": {"workers": 2},  # allowed: the counters are shared
        }
        path = tmp_path / "mp.yaml"
        path.write_text(yaml.safe_dump(cfg))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SLUICE_KEY_SECRET": "mp-secret"}
        procs = [subprocess.Popen([sys.executable, "-m", "tests.spend.gateway_child", str(path), rpm_key, budget_key,
                                   "25", "25"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, env=env, text=True)
                 for _ in range(2)]
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        # RPM windows are calendar minutes: start early in one so the burst cannot straddle two
        into_minute = time.time() % 60
        if into_minute > 20:
            time.sleep(60 - into_minute + 0.1)
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = [orjson.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
    # RPM: 50 attempts against a limit of 30 from two processes: exactly 30 admitted
    assert sum(o["ok_rpm"] for o in outs) == 30
    # Budget: 50 concurrent requests from two processes on a budget worth 5 of them. Each holds its
    # worst case in the shared counter until it settles, so together they never commit more than
    # the budget (requests that settle below their worst case make room for more): nothing overspent,
    # and the rest refused with budget_exceeded.
    costs = [c for o in outs for c in o["costs"]]
    refused = [code for o in outs for code in o["refused"]]
    assert 5 <= len(costs) < 50 and len(costs) + len(refused) == 50
    assert set(refused) == {"budget_exceeded"}
    with engine.connect() as c:
        spent = c.execute(sa.select(sa.func.sum(ledger.c.cost_usd)).where(ledger.c.key_id == budget_rec.id)).scalar_one()
    assert spent == pytest.approx(sum(costs), abs=1e-9)  # every charged request is in the shared ledger
    print(f"budget {budget:.6f}, {len(costs)} served, spent {spent:.6f}")
    assert spent <= budget + 1e-12
    engine.dispose()
    with admin.connect() as c:
        c.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
    admin.dispose()
