"""Throughput of `sluice serve` with 1 and N workers, without an upstream in the way.

    python bench/workers_scaling.py [--workers 1,2] [--seconds 5] [--connections 32]

The model is the in-process `mock` provider, so every CPU cycle measured is the gateway's own
(on this 2-core machine an HTTP mock upstream and wrk would take the core a second worker needs).
wrk (2 threads) runs unpinned beside the workers. Prints requests/s, CPU-ms per request of the
server's process tree, and the speed-up against 1 worker measured in the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import wrk
from bench.proc import cpu_seconds, free_port, spawn, stop, wait_port

PY = sys.executable
CONFIG = """server: {{host: 127.0.0.1, port: {port}}}
spend: {{enabled: false}}
prompts: {{enabled: false}}
telemetry: {{metrics: false}}
models:
  - name: mock
    deployments: [{{provider: mock, model: mock-gpt}}]
"""
BODY = '{"model": "mock", "messages": [{"role": "user", "content": "Say hello to the benchmark, briefly."}]}'


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args(argv)
    script = wrk.lua_script(BODY, {"Content-Type": "application/json"})
    base_rps = None
    print("| workers | req/s | CPU-ms/req | speed-up vs 1 worker |\n|---|---|---|---|")
    for n in (int(w) for w in args.workers.split(",")):
        port = free_port()
        cfg = Path(tempfile.mkdtemp(prefix="sluice-workers-")) / "c.yaml"
        cfg.write_text(CONFIG.format(port=port))
        proc = spawn([PY, "-m", "gateway.cli", "serve", "--config", str(cfg), "--workers", str(n),
                      "--log-level", "warning"], None)
        try:
            wait_port(port, proc)
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            wrk.run(url, script, seconds=1, connections=args.connections, core=None, threads=2)  # warm up
            cpu0 = cpu_seconds(proc.pid)
            res = wrk.run(url, script, seconds=args.seconds, connections=args.connections, core=None, threads=2)
            cpu = cpu_seconds(proc.pid) - cpu0
        finally:
            stop(proc)
        base_rps = base_rps or res.rps
        print(f"| {n} | {res.rps:,.0f} | {1000 * cpu / max(1, res.requests):.3f} | {res.rps / base_rps:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
