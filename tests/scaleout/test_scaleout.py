"""Scale-out on real infrastructure: three `sluice serve` processes share Redis (rate-limit and
budget counters, exact cache), PostgreSQL (keys, ledger) and a Chroma server (semantic index).

Shown here, over the mock upstream:
- one rate limit and one budget hold across the processes;
- a response cached by one process is a hit on the others;
- one consistent ledger: a row per served request, costs equal to what clients were told;
- SIGTERM of one process mid-load loses no ledger row while the others keep serving; SIGKILL
  loses at most the rows of requests still in flight on it (the ledger's stated bound), and the
  orphaned spool is replayed when a process starts again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml

from gateway.mock_upstream import MockUpstream
from gateway.spend.reserve import prompt_bound
from tests.services import free_port, stop, wait_for_port

pytestmark = [pytest.mark.slow, pytest.mark.services]

ROOT = Path(__file__).resolve().parents[2]
MASTER = "sk-master-" + uuid.uuid4().hex
PRICE = {"input_per_mtok": 100.0, "output_per_mtok": 100.0}  # ~ $0.003 per mock request


@dataclass
class Instance:
    name: str
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Cluster:
    config_path: Path
    env: dict[str, str]
    db_url: str
    instances: list[Instance] = field(default_factory=list)
    log_dir: Path = Path(".")

    def spawn(self, inst: Instance) -> None:
        log = open(self.log_dir / f"{inst.name}-{inst.port}.log", "ab")  # noqa: SIM115 - owned by the process
        inst.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", str(self.config_path),
             "--port", str(inst.port), "--log-level", "warning"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT))

    def wait(self, inst: Instance) -> None:
        assert inst.proc is not None
        wait_for_port(inst.port, timeout=120, proc=inst.proc)
        _wait_ready(inst)

    def start(self, inst: Instance) -> None:
        self.spawn(inst)
        self.wait(inst)

    def ledger(self, where: str = "", **params: Any) -> list[sa.Row[Any]]:
        engine = sa.create_engine(self.db_url)
        try:
            with engine.connect() as c:
                return list(c.execute(sa.text(f"SELECT request_id, key_id, cost_usd, cache_status FROM spend_ledger {where}"),
                                      params))
        finally:
            engine.dispose()


def _wait_ready(inst: Instance, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{inst.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{inst.name} never became ready")


@pytest.fixture(scope="module")
def mock() -> Iterator[MockUpstream]:
    with MockUpstream(latency_s=0.02) as m:
        yield m


@pytest.fixture(scope="module")
def cluster(mock, redis_url, postgres_url, chroma_server, tmp_path_factory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("scaleout")
    db = "scaleout_" + uuid.uuid4().hex[:8]
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {db}")
    db_url = postgres_url.rsplit("/", 1)[0] + "/" + db
    config = {
        "server": {"drain_timeout_s": 10, "reload_watch": False},
        "router": {"retry": {"max_retries": 0}},
        "models": [{"name": "gpt", "deployments": [{"provider": "openai", "model": "mock-gpt",
                                                    "api_base": mock.base_url, "price": PRICE}]}],
        "auth": {"enabled": True, "cache_ttl_s": 0.5, "counters": {"backend": "redis"}},
        "spend": {"ledger": {"backend": "postgres", "spool_dir": str(tmp / "spool"), "flush_interval_s": 0.05}},
        "cache": {"enabled": True, "backend": "redis", "redis": {"prefix": f"scaleout-{db}:"},
                  "semantic": {"enabled": True, "index": "chroma", "chroma_host": chroma_server.host,
                               "chroma_port": chroma_server.port, "chroma_collection": db}},
    }
    path = tmp / "sluice.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SLUICE_MASTER_KEY": MASTER,
           "SLUICE_KEY_SECRET": "scaleout-hmac-" + uuid.uuid4().hex,
           "SLUICE_REDIS_URL": redis_url, "SLUICE_DATABASE_URL": db_url}
    cl = Cluster(path, env, db_url, log_dir=tmp)
    cl.instances = [Instance(n, free_port()) for n in ("a", "b", "c")]
    try:
        # Migrate once before the replicas start, as a deployment does (concurrent first-start
        # migrations race on a fresh database).
        subprocess.run([sys.executable, "-m", "gateway.cli", "spend", "migrate", "--config", str(path)],
                       env=env, cwd=str(ROOT), check=True, capture_output=True, timeout=180)
        # Likewise the semantic cache's Chroma collection: three processes racing to create it on
        # a fresh server leave it unreadable ("Error creating hnsw segment reader").
        import chromadb

        chromadb.HttpClient(host=chroma_server.host, port=chroma_server.port).get_or_create_collection(
            db, embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
        for inst in cl.instances:  # start together: imports dominate start-up
            cl.spawn(inst)
        for inst in cl.instances:
            cl.wait(inst)
        yield cl
    finally:
        for inst in cl.instances:
            if inst.proc is not None:
                stop(inst.proc)
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        admin.dispose()


def _new_key(cluster: Cluster, **limits: Any) -> tuple[str, str]:
    r = httpx.post(f"{cluster.instances[0].url}/sluice/v1/keys", headers={"authorization": f"Bearer {MASTER}"},
                   json={"name": "scaleout-" + uuid.uuid4().hex[:6], **limits}, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["key"]


@dataclass
class Result:
    instance: str
    status: int  # 0: connection failed
    request_id: str | None = None
    cost: float | None = None
    cache: str | None = None
    code: str | None = None
    sent: float = 0.0
    done: float = 0.0


async def _call(client: httpx.AsyncClient, inst: Instance, key: str, prompt: str) -> Result:
    sent = time.monotonic()
    try:
        r = await client.post(f"{inst.url}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                              json=_body(prompt))
    except httpx.TransportError:
        return Result(inst.name, 0, sent=sent, done=time.monotonic())
    cost = r.headers.get("x-sluice-cost-usd")
    code = r.json().get("error", {}).get("code") if r.status_code >= 400 else None
    return Result(inst.name, r.status_code, r.headers.get("x-request-id"),
                  float(cost) if cost not in (None, "unpriced") else None, r.headers.get("x-sluice-cache"),
                  code, sent, time.monotonic())


def _body(prompt: str) -> dict[str, Any]:
    # max_tokens: a budget reserves each request's worst case, its prompt plus this much output
    return {"model": "gpt", "messages": [{"role": "user", "content": prompt}], "max_tokens": 64}


def _unique() -> str:
    return f"question {uuid.uuid4().hex}: what is the capital of the place with this id?"


def _wait_for_rows(cluster: Cluster, key_id: str, request_ids: set[str | None],
                   timeout: float = 20) -> dict[str, sa.Row[Any]]:
    """The key's ledger rows, once every one of `request_ids` is there (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = {r.request_id: r for r in cluster.ledger("WHERE key_id = :k", k=key_id)}
        if request_ids <= rows.keys() or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


async def test_one_rate_limit_across_processes(cluster) -> None:
    _, key = _new_key(cluster, rpm=12)
    insts = cluster.instances
    async with httpx.AsyncClient(timeout=30) as client:
        results = await asyncio.gather(*(_call(client, insts[i % 3], key, _unique()) for i in range(30)))
    ok = [r for r in results if r.status == 200]
    limited = [r for r in results if r.status == 429]
    assert len(ok) == 12 and len(limited) == 18, [(r.instance, r.status) for r in results]
    assert {r.code for r in limited} == {"rpm_exceeded"}
    assert len({r.instance for r in ok}) >= 2  # the 12 were served by different processes


async def test_one_budget_across_processes(cluster) -> None:
    budget = 0.03
    key_id, key = _new_key(cluster, budget_usd=budget, budget_period="month")
    results: list[Result] = []
    async with httpx.AsyncClient(timeout=30) as client:
        for i in range(60):  # one at a time, round-robin: the budget is what stops us
            res = await _call(client, cluster.instances[i % 3], key, _unique())
            results.append(res)
            if res.status == 429:
                break
    served = [r for r in results if r.status == 200]
    assert results[-1].status == 429 and results[-1].code == "budget_exceeded"
    # every process now refuses the key: the budget is one, not one per process
    async with httpx.AsyncClient(timeout=30) as client:
        after = await asyncio.gather(*(_call(client, inst, key, _unique()) for inst in cluster.instances))
    assert [r.code for r in after] == ["budget_exceeded"] * 3
    spent = sum(r.cost or 0.0 for r in served)
    worst = (prompt_bound(_body(_unique())) * PRICE["input_per_mtok"] + 64 * PRICE["output_per_mtok"]) / 1e6
    # never over the budget: refused once what is left is less than the next request's worst case
    assert len(served) > 1 and budget - worst < spent <= budget + 1e-12
    rows = _wait_for_rows(cluster, key_id, {r.request_id for r in served})
    assert sum(float(rows[r.request_id].cost_usd) for r in served) == pytest.approx(spent, abs=1e-9)
    assert sum(float(r.cost_usd or 0) for r in rows.values()) == pytest.approx(spent, abs=1e-9)  # refusals cost 0


async def test_a_response_cached_by_one_process_is_a_hit_on_the_others(cluster) -> None:
    key_id, key = _new_key(cluster)
    prompt = _unique()
    async with httpx.AsyncClient(timeout=30) as client:
        first = await _call(client, cluster.instances[0], key, prompt)
        assert first.status == 200 and first.cache == "miss"
        deadline = time.monotonic() + 5  # the store is after the response: wait for it to land
        while True:
            second = await _call(client, cluster.instances[1], key, prompt)
            if second.cache == "hit" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        third = await _call(client, cluster.instances[2], key, prompt)
    assert second.cache == "hit" and third.cache == "hit"
    rows = _wait_for_rows(cluster, key_id, {first.request_id, second.request_id, third.request_id})
    assert float(rows[first.request_id].cost_usd) > 0 and rows[first.request_id].cache_status == "miss"
    # each process recorded its own hit in the one ledger
    assert rows[second.request_id].cache_status == "hit" and rows[third.request_id].cache_status == "hit"


async def _load(cluster: Cluster, key: str, seconds: float, workers: int,
                on_tick: Any = None) -> list[Result]:
    results: list[Result] = []
    stop_at = time.monotonic() + seconds

    async def worker(w: int) -> None:
        i = w
        async with httpx.AsyncClient(timeout=30) as client:
            while time.monotonic() < stop_at:
                inst = cluster.instances[i % len(cluster.instances)]
                i += 1
                results.append(await _call(client, inst, key, _unique()))

    async def ticker() -> None:
        if on_tick is not None:
            await on_tick()

    await asyncio.gather(ticker(), *(worker(w) for w in range(workers)))
    return results


async def test_sigterm_mid_load_loses_no_row_and_the_others_keep_serving(cluster) -> None:
    key_id, key = _new_key(cluster)
    victim = cluster.instances[2]
    killed_at: list[float] = []

    async def kill_later() -> None:
        await asyncio.sleep(1.5)
        killed_at.append(time.monotonic())
        assert victim.proc is not None
        victim.proc.send_signal(signal.SIGTERM)

    results = await _load(cluster, key, seconds=4.0, workers=6, on_tick=kill_later)
    assert victim.proc is not None and victim.proc.wait(30) in (0, -signal.SIGTERM)
    survivors = [r for r in results if r.instance != victim.name]
    assert survivors and all(r.status == 200 for r in survivors)
    assert any(r.sent > killed_at[0] for r in survivors if r.status == 200)  # served after the kill
    served = {r.request_id for r in results if r.status == 200}
    rows = _wait_for_rows(cluster, key_id, served)
    assert served <= rows.keys()  # SIGTERM flushed every row: none lost
    cluster.start(victim)  # back to three for the next test


async def test_sigkill_loses_at_most_the_requests_in_flight_and_the_spool_is_replayed(cluster) -> None:
    key_id, key = _new_key(cluster)
    victim = cluster.instances[2]
    workers = 6

    async def kill_later() -> None:
        await asyncio.sleep(1.5)
        assert victim.proc is not None
        victim.proc.send_signal(signal.SIGKILL)

    results = await _load(cluster, key, seconds=3.0, workers=workers, on_tick=kill_later)
    assert victim.proc is not None and victim.proc.wait(10) == -signal.SIGKILL
    assert all(r.status == 200 for r in results if r.instance != victim.name)
    cluster.start(victim)  # a restart replays the dead process's spool into PostgreSQL
    served = {r.request_id for r in results if r.status == 200}
    rows = _wait_for_rows(cluster, key_id, served)
    lost = served - rows.keys()
    # bound (gateway/spend/ledger.py): rows of requests whose `finished` had not run, i.e. at most
    # the requests in flight on the killed process — here at most one per load worker
    assert len(lost) <= workers, f"{len(lost)} ledger rows lost"
    print(f"SIGKILL under load: {len(served)} served, {len(lost)} ledger rows lost (bound {workers})")


def _served_counter(cluster: Cluster) -> float:
    """sum over the processes of sluice_requests_total{model="gpt",status="200"} (what Prometheus sums)."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for inst in cluster.instances:
        for fam in text_string_to_metric_families(httpx.get(f"{inst.url}/metrics", timeout=10,
                                                                   headers={"authorization": f"Bearer {MASTER}"}).text):
            total += sum(s.value for s in fam.samples if s.name == "sluice_requests_total"
                         and s.labels.get("model") == "gpt" and s.labels.get("status") == "200")
    return total


async def test_one_consistent_ledger(cluster) -> None:
    key_id, key = _new_key(cluster)
    before = _served_counter(cluster)
    results = await _load(cluster, key, seconds=2.0, workers=6)
    served = [r for r in results if r.status == 200]
    assert _served_counter(cluster) - before == len(served)  # each process counts what it served
    assert {r.instance for r in served} == {"a", "b", "c"}
    rows = _wait_for_rows(cluster, key_id, {r.request_id for r in served})
    assert sorted(rows) == sorted(r.request_id for r in served)  # exactly one row per served request
    assert sum(float(r.cost_usd) for r in rows.values()) == pytest.approx(sum(r.cost or 0 for r in served), abs=1e-9)
