"""granian against uvicorn as the ASGI server, in one run (issue 21's evaluation; granian is not a
project dependency).

    pip install --target /tmp/granian_pkgs granian   # a throwaway folder; the lock files are untouched
    python bench/granian_eval.py --granian-path /tmp/granian_pkgs [--seconds 5]

Each server runs pinned to core 0 (the mock upstream and wrk on core 1, 16 connections), serving
  bare     bench/floors.py's bare ASGI pass-through
  gateway  gateway.app:app_from_env (the `core` config of bench/gateway_overhead.py)
under uvicorn (uvloop, httptools: what `sluice serve` runs, less its read-deadline protocol) and
under granian (`--interface asgi`, uvloop, one worker, one runtime thread). Prints requests/s,
p50/p99 and CPU-ms per request of the server's process tree for a JSON request and a short stream.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import wrk
from bench.gateway_overhead import PY, body, gateway_config
from bench.proc import cores, cpu_seconds, free_port, rss_mib, spawn, stop, wait_port


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--granian-path", required=True, help="folder granian was pip-installed into (--target)")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args(argv)
    cpus = cores()
    mock_port = free_port()
    mock = spawn([PY, "-c", f"from gateway.mock_upstream import run; run('127.0.0.1', {mock_port})"], cpus["mock"])
    print(f"loadavg {Path('/proc/loadavg').read_text().split()[:3]}")
    print("| server | app | mode | req/s | p50 ms | p99 ms | CPU-ms/req | RSS MiB |\n|---|---|---|---|---|---|---|---|")
    try:
        wait_port(mock_port, mock)
        base = f"http://127.0.0.1:{mock_port}/v1"
        for _ in range(args.rounds):
            for app in ("bare", "gateway"):
                for server in ("uvicorn", "granian"):
                    port = free_port()
                    env = {"BENCH_UPSTREAM": base}
                    if app == "bare":
                        target, model, factory = "bench.floors:bare_app", "mock-gpt", False
                    else:
                        cfg = gateway_config(base, port, "core")
                        env["SLUICE_CONFIG"] = str(cfg)
                        target, model, factory = "gateway.app:app_from_env", "bench", True
                    if server == "uvicorn":
                        cmd = [PY, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop",
                               "--http", "httptools", "--no-access-log", "--log-level", "warning",
                               *(["--factory"] if factory else []), target]
                    else:
                        env["PYTHONPATH"] = f"{Path(__file__).resolve().parents[1]}{os.pathsep}{args.granian_path}"
                        cmd = [PY, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
                               "--loop", "uvloop", "--workers", "1", "--runtime-threads", "1", "--no-ws",
                               "--log-level", "warning", *(["--factory"] if factory else []), target]
                    proc = spawn(cmd, cpus["proxy"], env)
                    try:
                        wait_port(port, proc)
                        url = f"http://127.0.0.1:{port}/v1/chat/completions"
                        for mode, stream in (("json", False), ("stream", True)):
                            script = wrk.lua_script(body(model, stream), {"Content-Type": "application/json"})
                            wrk.run(url, script, seconds=1, core=cpus["load"])
                            c0 = cpu_seconds(proc.pid)
                            r = wrk.run(url, script, seconds=args.seconds, core=cpus["load"])
                            cpu = (cpu_seconds(proc.pid) - c0) * 1000 / max(1, r.requests)
                            print(f"| {server} | {app} | {mode} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
                                  f"{cpu:.3f} | {rss_mib(proc.pid):.0f} |" + (f" ERRORS {r.errors}" if r.errors else ""),
                                  flush=True)
                    finally:
                        stop(proc)
    finally:
        stop(mock)
    print(f"loadavg {Path('/proc/loadavg').read_text().split()[:3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
