"""Time from `sluice serve` starting to its first 200 from /healthz (and /readyz).

    python bench/startup.py [--runs 3]

The config has one OpenAI-compatible model group (pointing at an address nothing listens on: startup
must not wait for upstreams). Baseline in the same run: `python -c "import sys"`, the interpreter's
own start, so the ratio shows what the gateway adds.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.gateway_overhead import gateway_available, gateway_config
from bench.proc import REPO, free_port, spawn, stop

PY = sys.executable


def first_200(port: int, path: str, proc: subprocess.Popen[bytes], t0: float, timeout: float = 60) -> float:
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
            raise RuntimeError(f"sluice serve exited with {proc.returncode}:\n{err}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", path)
            if c.getresponse().status == 200:
                return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.01)
    raise TimeoutError(f"no 200 from {path} within {timeout:g} s")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    why = gateway_available()
    if why is not None:
        print(f"gateway not measured: {why}")
        return 0
    base = []
    for _ in range(args.runs):
        t = time.perf_counter()
        subprocess.run([PY, "-c", "import sys"], check=True, cwd=REPO)
        base.append(time.perf_counter() - t)
    health, ready = [], []
    for _ in range(args.runs):
        port = free_port()
        cfg = gateway_config(f"http://127.0.0.1:{free_port()}/v1", port)
        t0 = time.perf_counter()
        proc = spawn([PY, "-m", "gateway.cli", "serve", "--config", str(cfg), "--port", str(port),
                      "--log-level", "warning"], None)
        try:
            health.append(first_200(port, "/healthz", proc, t0))
            ready.append(first_200(port, "/readyz", proc, t0))
        finally:
            stop(proc)
    b, h, r = statistics.median(base), statistics.median(health), statistics.median(ready)
    print(f"python start (baseline): median {b:.2f} s  {[round(x, 2) for x in base]}")
    print(f"sluice serve -> /healthz 200: median {h:.2f} s  {[round(x, 2) for x in health]}  ({h / b:.1f}x baseline)")
    print(f"sluice serve -> /readyz 200:  median {r:.2f} s  {[round(x, 2) for x in ready]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
