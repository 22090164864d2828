"""Throughput of `sluice serve` with 1 and N workers, without an upstream in the way.

    python bench/workers_scaling.py [--workers 1,2] [--seconds 5] [--connections 32] [--auth-redis]

The model is the in-process `mock` provider, so every CPU cycle measured is the gateway's own
(on this 2-core machine an HTTP mock upstream and wrk would take the core a second worker needs).
wrk (2 threads) runs unpinned beside the workers. Prints requests/s, CPU-ms per request of the
server's process tree, and the speed-up against 1 worker measured in the same run.
With --auth-redis: auth on, every request with a virtual key that has rpm, tpm and a budget (far
above what the bench sends, so every check runs and none trips), the counters in a Redis started
for the run (so they hold across workers), and the SQLite ledger and metrics on (the shipped
defaults); the errors column counts non-2xx answers (a tripped limit would show there): it must be 0.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import wrk
from bench.gateway_overhead import BENCH_SECRET, create_key
from bench.proc import cpu_seconds, free_port, spawn, stop, wait_port

PY = sys.executable
CONFIG = """server: {{host: 127.0.0.1, port: {port}}}
spend: {{enabled: false}}
prompts: {{enabled: false}}
telemetry: {{metrics: false}}
models:
  - name: mock
    deployments: [{{provider: mock, model: mock-gpt, price: {{input_per_mtok: 0.15, output_per_mtok: 0.6}}}}]
"""
AUTH = """auth: {{enabled: true, counters: {{backend: redis, redis_url: '{redis}'}}}}
"""
BODY = '{"model": "mock", "messages": [{"role": "user", "content": "Say hello to the benchmark, briefly."}]}'


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--auth-redis", action="store_true", help="auth + limits + budget on Redis counters")
    args = ap.parse_args(argv)
    redis = None
    redis_url = ""
    if args.auth_redis:
        exe = shutil.which("redis-server")
        if exe is None:
            raise SystemExit("--auth-redis needs redis-server (apt-get install redis-server)")
        rport = free_port()
        redis = subprocess.Popen([exe, "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        redis_url = f"redis://127.0.0.1:{rport}/0"
    base_rps = None
    print("| workers | req/s | CPU-ms/req | speed-up vs 1 worker | errors |\n|---|---|---|---|---|")
    try:
        for n in (int(w) for w in args.workers.split(",")):
            port = free_port()
            cfg = Path(tempfile.mkdtemp(prefix="sluice-workers-")) / "c.yaml"
            text = CONFIG.format(port=port)
            env = None
            headers = {"Content-Type": "application/json"}
            if args.auth_redis:  # the shipped spend and metrics defaults, plus auth with shared counters
                text = "\n".join(line for line in text.splitlines()
                                 if not line.startswith(("spend:", "telemetry:"))) + "\n" + AUTH.format(redis=redis_url)
            cfg.write_text(text)
            if args.auth_redis:
                headers["Authorization"] = f"Bearer {create_key(cfg)}"
                env = {**os.environ, "SLUICE_KEY_SECRET": BENCH_SECRET}
            script = wrk.lua_script(BODY, headers)
            proc = spawn([PY, "-m", "gateway.cli", "serve", "--config", str(cfg), "--workers", str(n),
                          "--log-level", "warning"], None, env)
            try:
                wait_port(port, proc, timeout=120)
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                wrk.run(url, script, seconds=2, connections=args.connections, core=None, threads=2)  # warm up
                cpu0 = cpu_seconds(proc.pid)
                res = wrk.run(url, script, seconds=args.seconds, connections=args.connections, core=None, threads=2)
                cpu = cpu_seconds(proc.pid) - cpu0
            finally:
                stop(proc)
            if not res.requests:
                raise SystemExit(f"no request completed with {n} workers (wrk: {res})")
            base_rps = base_rps or res.rps
            print(f"| {n} | {res.rps:,.0f} | {1000 * cpu / max(1, res.requests):.3f} | {res.rps / base_rps:.2f}x | "
                  f"{res.errors} |", flush=True)
    finally:
        if redis is not None:
            redis.terminate()
            redis.wait(10)
    print(f"loadavg {Path('/proc/loadavg').read_text().split()[:3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
