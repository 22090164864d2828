"""The console's finance page over a large ledger: seeds N raw rows (default 1 M, bench/ledger_scale.py's
World and bulk loader, rollups with the writer's code) into a gateway's SQLite ledger, signs in as
admin and times GET /ui/spend end-to-end through the ASGI app (median of --runs), for a few views.

    .venv/bin/python -m bench.console_bench [--rows 1000000] [--runs 5]
Target: <= 300 ms server time per page."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import tempfile
import time
from pathlib import Path

TARGET_MS = 300.0


def _day(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from bench.ledger_scale import DAY, DAY0, World, load
    from gateway.clock import FakeClock
    from gateway.mock_upstream import MockUpstream
    from tests.spend.gw import gateway_config, running

    master = "console-bench-master"
    os.environ["SLUICE_MASTER_KEY"] = master
    tmp = Path(tempfile.mkdtemp(prefix="sluice-console-bench-"))
    clock = FakeClock(wall=DAY0 + (args.days - 1) * DAY + 12 * 3600)  # the ledger's last day
    with MockUpstream() as m:
        config = gateway_config(tmp, m.base_url, auth={"enabled": True})
        async with running(config, clock=clock) as (app, client):
            engine = app.gateway.services.spend.engine
            t0 = time.perf_counter()
            t_load, t_roll = load(engine, World(), args.rows, args.days)
            print(f"seeded {args.rows:,} rows in {time.perf_counter() - t0:.0f} s "
                  f"(load {t_load:.0f} s, rollups {t_roll:.0f} s)", flush=True)
            r = await client.post("/ui/login", content=f"key={master}",
                                  headers={"content-type": "application/x-www-form-urlencoded"})
            assert r.status_code == 303, r.text
            last = DAY0 + (args.days - 1) * DAY
            views = {
                "all time, by team, per day": "/ui/spend",
                "last 30 days, by model, per week": f"/ui/spend?from={_day(last - 29 * DAY)}&to={_day(last)}"
                                                    "&dim=model&granularity=week",
                "last 7 days, by key, per day (movers)": f"/ui/spend?from={_day(last - 6 * DAY)}&to={_day(last)}&dim=key",
                "all time, by prompt, per month": "/ui/spend?dim=prompt&granularity=month",
            }
            for name, path in views.items():
                times = []
                for _ in range(args.runs):
                    t = time.perf_counter()
                    r = await client.get(path)
                    times.append((time.perf_counter() - t) * 1000)
                    assert r.status_code == 200, (path, r.status_code)
                med = statistics.median(times)
                print(f"{name:42s} median {med:7.1f} ms  ({med / TARGET_MS:.2f}x the {TARGET_MS:.0f} ms target; "
                      f"{len(r.content) // 1024} KiB)", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
