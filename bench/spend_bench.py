"""Spend/auth overhead and ledger throughput, as ratios against baselines measured in the same run.

    python bench/spend_bench.py                 # SQLite, plus PostgreSQL if it can start one
    python bench/spend_bench.py --pg-url postgresql+psycopg://user@host/db

1. Hook CPU per request: the auth+limits hook (cached key, RPM+TPM, a key and a team budget, memory
   counters) and the spend hook (pricing, headers, ledger spool append), in-process, against a
   baseline that only builds the request context. Reported in CPU microseconds per request.
2. Through the app (httpx ASGI transport, mock upstream): CPU ms per request with auth+spend on vs
   off. httpx and the mock dominate these numbers; the difference is what spend adds.
3. Ledger: rows/s from `record()` to committed in the database, and RSS growth while a backlog
   of 50,000 rows drains (memory must not grow with the backlog: rows wait on disk).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("SLUICE_KEY_SECRET", "bench-secret")
os.environ.setdefault("SLUICE_MASTER_KEY", "bench-master")


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def bench_hooks(tmp: Path, n: int) -> None:
    from gateway.context import RequestContext
    from gateway.spend.hook import AdmissionHook, AuthHook, SpendHook
    from gateway.spend.service import SpendService
    from tests.spend.helpers import make_config, usage

    cfg = make_config(tmp, auth={"enabled": True}, spend={"prices": {"gpt-4o": {"input_per_mtok": 2.5,
                                                                                  "output_per_mtok": 10}},
                                                          "ledger": {"flush_interval_s": 0.2}})
    svc = SpendService(cfg)
    await svc.start()
    team = svc.store.create_team("bench", budget_usd=1e9)
    _, key = svc.store.create_key(team_id=team.id, rpm=10**9, tpm=10**12, budget_usd=1e9, budget_period="day")
    auth, admission, spend = AuthHook(svc), AdmissionHook(svc), SpendHook(svc)
    headers = {"authorization": f"Bearer {key}"}
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Tell me about rivers " * 5}]}
    completion = {"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
                  "usage": usage(40, 16)}

    def ctx() -> RequestContext:
        return RequestContext(request_id=uuid.uuid4().hex, route="chat.completions", body=body, headers=headers,
                              started_mono=time.monotonic(), started_wall=time.time(), requested_model="gpt-4o")

    async def baseline() -> None:
        c = ctx()
        c.ended_mono = time.monotonic()

    async def full() -> None:
        c = ctx()
        await auth.before(c)
        await admission.before(c)
        await spend.after(c, completion)
        c.ended_mono = time.monotonic()
        await spend.finished(c)

    for fn in (baseline, full):  # warm up (caches, key lookup, counter seeding)
        for _ in range(200):
            await fn()
    results = {}
    for name, fn in (("baseline (context only)", baseline), ("auth+limits+budgets+spend hooks", full)):
        t = cpu()
        for _ in range(n):
            await fn()
        results[name] = (cpu() - t) / n * 1e6
    # what the worst-case reservation itself costs (issue 15: <= 0.05 ms): resolving the route and
    # bounding the request over the deployments it may reach, the work admission adds per request
    route = admission._route("gpt-4o", body)
    groups = [g for chain in route.chains for g in chain]
    t = cpu()
    for _ in range(n):
        admission.worst.bound(admission._route("gpt-4o", body), groups, body, chat=True)
    worst_us = (cpu() - t) / n * 1e6
    await svc.aclose()
    base = results["baseline (context only)"]
    print(f"\n[1] hook CPU per request, {n} requests, in-process (memory counters, SQLite ledger)")
    for name, us in results.items():
        print(f"    {name:<36} {us:8.1f} µs CPU/request   x{us / base:5.1f} of baseline")
    print(f"    added by spend/auth: {results['auth+limits+budgets+spend hooks'] - base:.1f} µs CPU/request "
          "(includes the background ledger writer's inserts, which run in this process)")
    print(f"    of which the worst-case reservation (route + bound): {worst_us:.1f} µs CPU/request")


async def bench_app(tmp: Path, n: int) -> None:
    import httpx

    from gateway.app import create_app
    from gateway.mock_upstream import MockUpstream
    from tests.spend.gw import gateway_config

    chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Tell me about rivers"}]}
    out = {}
    with MockUpstream() as m:
        for label, auth_on, spend_on in (("core path (auth off, spend off)", False, False),
                                         ("auth + limits + spend on", True, True)):
            d = tmp / label.split()[0]
            d.mkdir(parents=True, exist_ok=True)
            cfg = gateway_config(d, m.base_url, auth={"enabled": auth_on},  # default flush interval
                                 spend={"enabled": spend_on, "prices": {}, "ledger": {"flush_interval_s": 0.2}})
            app = create_app(cfg)
            async with app.lifespan():
                headers = {}
                if auth_on:
                    svc = app.gateway.services.spend
                    assert svc is not None  # auth is on
                    _, key = svc.store.create_key(rpm=10**9, tpm=10**12, budget_usd=1e9)
                    headers = {"authorization": f"Bearer {key}"}
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as c:  # type: ignore[arg-type]
                    for _ in range(100):
                        r = await c.post("/v1/chat/completions", json=chat, headers=headers)
                        assert r.status_code == 200, r.text
                    t = cpu()
                    for _ in range(n):
                        await c.post("/v1/chat/completions", json=chat, headers=headers)
                    out[label] = (cpu() - t) / n * 1e3
    base = out["core path (auth off, spend off)"]
    print(f"\n[2] through the app (httpx ASGI client + mock upstream thread in this process), {n} requests")
    for name, ms in out.items():
        print(f"    {name:<36} {ms:8.3f} ms CPU/request   x{ms / base:5.2f}")
    print(f"    added: {out['auth + limits + spend on'] - base:+.3f} ms CPU/request (noisy: includes the client)")


async def bench_ledger(label: str, url: str, spool: Path, n: int) -> None:
    from gateway.spend.db import make_engine, migrate
    from gateway.spend.ledger import LedgerWriter
    from tests.spend.test_ledger import row

    engine = make_engine(url)
    migrate(engine)
    w = LedgerWriter(engine, spool, batch_size=500, flush_interval_s=0.05)
    await w.start()
    rows = [row(f"{label}-{uuid.uuid4().hex}") for _ in range(n)]
    rss0 = rss_mib()
    t0 = time.perf_counter()
    c0 = cpu()
    for r in rows:  # the worst case: a burst faster than any database, all at once
        w.record(r)
    t_rec = time.perf_counter() - t0
    peak = rss_mib()
    while w.backlog_bytes:
        await asyncio.sleep(0.02)
        peak = max(peak, rss_mib())
    await w.flush()
    dt = time.perf_counter() - t0
    used = cpu() - c0
    await w.aclose()
    engine.dispose()
    print(f"    {label:<10} {n} rows: record() {t_rec / n * 1e6:5.1f} µs/row; committed {n / dt:8.0f} rows/s "
          f"({used / n * 1e6:5.1f} µs CPU/row); RSS growth while draining {peak - rss0:+.1f} MiB")


@contextlib.contextmanager
def temp_postgres(settings: list[str] | None = None) -> Iterator[str | None]:
    """Start a throwaway PostgreSQL the way tests/services.py does (`settings`: more `-c name=value`
    arguments); None if it is not installed."""
    import signal

    from tests.services import _pg_bin, free_port, wait_for_port

    initdb, postgres = _pg_bin("initdb"), _pg_bin("postgres")
    if not initdb or not postgres:
        yield None
        return
    tmp = tempfile.mkdtemp(prefix="sluice-bench-pg-")
    data = os.path.join(tmp, "data")
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_user, initdb, "-D", data, "-U", "sluice", "--auth=trust"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = free_port()
    proc = subprocess.Popen([*as_user, postgres, "-D", data, "-p", str(port), "-h", "127.0.0.1", "-k", tmp,
                             *(settings or [])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc=proc)
        createdb = _pg_bin("createdb") or "createdb"
        for _ in range(100):
            if subprocess.run([createdb, "-h", "127.0.0.1", "-p", str(port), "-U", "sluice", "bench"],
                              check=False, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        yield f"postgresql+psycopg://sluice@127.0.0.1:{port}/bench"
    finally:
        pid = Path(data, "postmaster.pid")
        if pid.exists():
            os.kill(int(pid.read_text().split()[0]), signal.SIGINT)
        proc.wait(20)
        shutil.rmtree(tmp, ignore_errors=True)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--app-requests", type=int, default=1500)
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--pg-url", default=os.environ.get("SLUICE_BENCH_PG_URL"))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sluice-spend-bench-"))
    try:
        await bench_hooks(tmp / "hooks", args.requests)
        await bench_app(tmp / "app", args.app_requests)
        print("\n[3] ledger write throughput (spool -> database; SQLite WAL synchronous=NORMAL, PostgreSQL fsync on)")
        await bench_ledger("sqlite", f"sqlite:///{tmp / 'ledger.db'}", tmp / "spool-sqlite", args.rows)
        if args.pg_url:
            await bench_ledger("postgres", args.pg_url, tmp / "spool-pg", args.rows)
        else:
            with temp_postgres() as url:
                if url is None:
                    print("    postgres   skipped: PostgreSQL is not installed (apt-get install postgresql)")
                else:
                    await bench_ledger("postgres", url, tmp / "spool-pg", args.rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
