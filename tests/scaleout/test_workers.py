"""`sluice serve --workers 2`: one key's rate limit and budget hold across the two worker processes.

The other multi-process tests run separate gateways (tests/spend/test_multiprocess.py, and
test_scaleout.py with PostgreSQL); this one is the deployment the README suggests for more
throughput on one machine: one `sluice serve` with two uvicorn workers sharing the listening
socket, Redis counters, and the embedded SQLite ledger. Every request opens its own connection,
so the kernel hands them to both workers. That both served is read from the sockets each worker
holds: its own aiohttp pool keeps a connection to the mock upstream open once it has called it
(worker pids from the ledger spool files, one per process: spool-<pid>-*.jsonl).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from gateway.mock_upstream import MockUpstream
from gateway.spend.reserve import prompt_bound
from tests.services import free_port, stop, wait_for_port

pytestmark = [pytest.mark.slow, pytest.mark.services]

ROOT = Path(__file__).resolve().parents[2]
SECRET = "workers-secret"
PRICE = {"input_per_mtok": 100.0, "output_per_mtok": 100.0}
CHAT = {"model": "g", "messages": [{"role": "user", "content": "Tell me about rivers"}], "max_tokens": 40}
RPM = 20


def _key(cfg: Path, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "keys", "create", "-c", str(cfg), *args],
                         capture_output=True, text=True, check=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "SLUICE_KEY_SECRET": SECRET}).stdout
    m = re.search(r"sk-[A-Za-z0-9_\-]+", out)
    assert m is not None, out
    return m.group(0)


async def _fire(url: str, key: str, n: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_keepalive_connections=0)  # a new connection per request: both workers accept
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as c:
        return await asyncio.gather(*(c.post("/v1/chat/completions", json=CHAT,
                                             headers={"authorization": f"Bearer {key}"}) for _ in range(n)))


def _worker_pids(spool: Path) -> set[int]:
    return {int(p.name.split("-")[1]) for p in spool.glob("spool-*.jsonl")}


def _upstream_connections(pid: int, upstream_port: int) -> int:
    """TCP connections process `pid` holds to 127.0.0.1:upstream_port (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    n = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if f[9] in inodes and int(f[2].split(":")[1], 16) == upstream_port:
            n += 1
    return n


def test_rpm_and_budget_hold_across_two_workers(tmp_path, redis_url):
    with MockUpstream() as m:
        port = free_port()
        cfg = tmp_path / "gw.yaml"
        cfg.write_text(yaml.safe_dump({
            "server": {"host": "127.0.0.1", "port": port, "workers": 2},
            "models": [{"name": "g", "deployments": [{"provider": "openai", "model": "mock-gpt",
                                                      "api_base": m.base_url, "price": PRICE,
                                                      "headers": {"x-mock-latency-ms": "50"}}]}],
            "auth": {"enabled": True, "counters": {"backend": "redis", "redis_url": redis_url,
                                                    "key_prefix": f"w{uuid.uuid4().hex[:6]}:"}},
            "spend": {"ledger": {"path": str(tmp_path / "spend.db"), "spool_dir": str(tmp_path / "spool")}},
            "guardrails": {"enabled": False}, "prompts": {"enabled": False},
        }))
        rpm_key = _key(cfg, "--name", "rpm", "--rpm", str(RPM))
        worst = (prompt_bound(CHAT) * PRICE["input_per_mtok"] + CHAT["max_tokens"] * PRICE["output_per_mtok"]) / 1e6
        budget = round(5 * worst, 9)  # worth 5 requests at their worst case
        budget_key = _key(cfg, "--name", "budget", "--budget", f"{budget:.9f}", "--period", "day")
        log = (tmp_path / "serve.log").open("wb")  # a file, not a pipe nobody reads: a full pipe blocks the workers
        proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config", str(cfg),
                                 "--log-level", "warning"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(ROOT), "SLUICE_KEY_SECRET": SECRET})
        try:
            wait_for_port(port, timeout=90, proc=proc)
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 90
            while len(_worker_pids(tmp_path / "spool")) < 2:  # both workers up (each opens its spool)
                assert time.monotonic() < deadline, "the second worker never started"
                time.sleep(0.1)
            into_minute = time.time() % 60  # RPM windows are calendar minutes: keep the burst in one
            if into_minute > 40:
                time.sleep(60 - into_minute + 0.1)
            rpm = asyncio.run(_fire(url, rpm_key, 2 * RPM))
            spent = asyncio.run(_fire(url, budget_key, 30))
            upstream_port = int(m.base_url.rsplit(":", 1)[1].split("/")[0])
            per_worker = {pid: _upstream_connections(pid, upstream_port) for pid in _worker_pids(tmp_path / "spool")}
        finally:
            stop(proc)
            log.close()
    # both workers served (each holds a pooled connection to the upstream it called)
    assert len(per_worker) == 2 and all(n > 0 for n in per_worker.values()), per_worker
    assert sorted({r.status_code for r in rpm}) == [200, 429]
    assert sum(r.status_code == 200 for r in rpm) == RPM  # exactly the limit, whichever worker answered
    assert {r.json()["error"]["code"] for r in rpm if r.status_code == 429} == {"rpm_exceeded"}
    served = [float(r.headers["x-sluice-cost-usd"]) for r in spent if r.status_code == 200]
    refused = {r.json()["error"]["code"] for r in spent if r.status_code != 200}
    assert 5 <= len(served) < 30 and refused == {"budget_exceeded"}
    assert sum(served) <= budget + 1e-12  # the two workers together never overspend
