"""Latency under a fixed request rate (open loop): the gateway against direct-to-mock, beside the
machine's own timer noise.

    python bench/open_loop.py [--rate R | --fraction 0.5] [--seconds 10] [--variant core]

A closed-loop client (wrk) sends the next request only when one returns, so a stall delays the
requests that would have been sent meanwhile and they are never measured ("coordinated omission").
Here request i is due at t0 + i / rate; each is sent at its due time on a pool of keep-alive raw
sockets (HTTP/1.1, one request in flight per socket, a new socket when all are busy), and its
latency runs from the *due* time to the last byte of the response, so any stall of the client, the
gateway or the machine counts in full.

Targets, measured in one run at the same rate (the rate defaults to `--fraction` of the gateway's
own capacity, measured first with wrk at 16 connections):
  timer    the client's own loop: a no-op "request" at each due time (sleep-until-due overshoot), i.e.
           the machine's idle-wakeup noise at this rate, with nothing else measured
  direct   client -> mock upstream
  gateway  client -> `sluice serve` (variant from bench/gateway_overhead.py) -> mock upstream
Pinning as in gateway_overhead: the server under test on core 0, the mock and this client on core 1.
Prints p50/p90/p99/max per target and the gateway's p50/p99 minus direct's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import wrk
from bench.gateway_overhead import PY, body, mock_and_gateway
from bench.proc import cores, pinned


def _request(path: str, payload: bytes, key: str | None) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
            f"Content-Length: {len(payload)}"]
    if key:
        head.append(f"Authorization: Bearer {key}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response (content-length or chunked); return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    if b"transfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                return status
    i = lower.find(b"content-length:")
    n = int(lower[i + 15:lower.index(b"\r\n", i)]) if i >= 0 else 0
    await reader.readexactly(n)
    return status


async def run_open_loop(port: int | None, path: str, payload: bytes, key: str | None, rate: float,
                        seconds: float) -> dict[str, float]:
    """port None: the timer baseline (no request, only the wake-up at each due time)."""
    loop = asyncio.get_running_loop()
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    req = _request(path, payload, key)
    lat: list[float] = []
    errors = 0
    n = int(rate * seconds)

    async def one(due: float) -> None:
        nonlocal errors
        if port is None:
            lat.append(loop.time() - due)
            return
        conn = idle.pop() if idle else await asyncio.open_connection("127.0.0.1", port)
        try:
            conn[1].write(req)
            status = await _read_response(conn[0])
            lat.append(loop.time() - due)
            if status != 200:
                errors += 1
            idle.append(conn)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            errors += 1
            conn[1].close()

    if port is not None:  # open a few connections up front (not measured)
        for _ in range(8):
            idle.append(await asyncio.open_connection("127.0.0.1", port))
    t0 = loop.time() + 0.05
    tasks = []
    for i in range(n):
        due = t0 + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(due)))
    await asyncio.gather(*tasks)
    for _, w in idle:
        w.close()
    lat.sort()

    def q(p: float) -> float:
        return 1000 * lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")

    return {"requests": len(lat), "errors": errors, "p50_ms": q(0.50), "p90_ms": q(0.90), "p99_ms": q(0.99),
            "max_ms": 1000 * lat[-1] if lat else float("nan")}


def client(port: int | None, path: str, payload: str, key: str | None, rate: float, seconds: float,
           core: str | None) -> dict[str, float]:
    """Run the open-loop client in its own process (pinned beside the mock), return its numbers."""
    import subprocess

    root = str(Path(__file__).resolve().parents[1])
    call = f"run_open_loop({port!r}, {path!r}, {payload!r}.encode(), {key!r}, {rate!r}, {seconds!r})"
    code = (f"import asyncio, json, sys; sys.path.insert(0, {root!r}); from bench.open_loop import run_open_loop; "
            f"print(json.dumps(asyncio.run({call})))")
    try:
        import uvloop  # noqa: F401  the servers run on uvloop; so does the client when it can
        code = code.replace("asyncio.run(", "__import__('uvloop').run(")
    except ImportError:
        pass
    out = subprocess.run(pinned([PY, "-c", code], core), capture_output=True, text=True, check=True,
                         timeout=seconds + 120).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, help="requests per second (default: --fraction of capacity)")
    ap.add_argument("--fraction", type=float, default=0.5)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--variant", default="core")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    cpus = cores()
    load = Path("/proc/loadavg").read_text().split()[:3]
    results: dict[str, dict[str, float]] = {}
    with mock_and_gateway(args.variant, cpus) as served:
        mock_port, port, key = served.mock_port, served.port, served.key
        gw_payload = body("bench", False)
        rate = args.rate
        if rate is None:
            script = wrk.lua_script(gw_payload, {"Content-Type": "application/json",
                                                 "Authorization": f"Bearer {key}"})
            wrk.run(f"http://127.0.0.1:{port}/v1/chat/completions", script, seconds=1, core=cpus["load"])
            cap = wrk.run(f"http://127.0.0.1:{port}/v1/chat/completions", script, seconds=4, core=cpus["load"])
            rate = round(cap.rps * args.fraction)
            print(f"gateway capacity (wrk, 16 connections): {cap.rps:.0f} req/s -> rate {rate} req/s", flush=True)
        for name, p, path, payload, k in (
                ("timer", None, "", "", None),
                ("direct", mock_port, "/v1/chat/completions", body("mock-gpt", False), None),
                ("gateway", port, "/v1/chat/completions", gw_payload, key)):
            client(p, path, payload, k, rate, 2, cpus["load"])  # warm-up (connections, caches)
            results[name] = client(p, path, payload, k, rate, args.seconds, cpus["load"])
            r = results[name]
            print(f"  {name:8s} {r['requests']:6.0f} req  p50 {r['p50_ms']:7.3f}  p90 {r['p90_ms']:7.3f}  "
                  f"p99 {r['p99_ms']:7.3f}  max {r['max_ms']:8.3f} ms" + (f"  ERRORS {r['errors']:.0f}"
                                                                          if r["errors"] else ""), flush=True)
    g, d = results["gateway"], results["direct"]
    print(f"\nrate {rate} req/s, {args.seconds:g} s, variant {args.variant}, loadavg before {' '.join(load)}, "
          f"after {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    print("| target | p50 ms | p90 ms | p99 ms | max ms |\n|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['p50_ms']:.3f} | {r['p90_ms']:.3f} | {r['p99_ms']:.3f} | {r['max_ms']:.3f} |")
    print(f"gateway adds: p50 {g['p50_ms'] - d['p50_ms']:+.3f} ms, p99 {g['p99_ms'] - d['p99_ms']:+.3f} ms "
          f"(targets: <= 1 ms, <= 5 ms)")
    if args.json:
        args.json.write_text(json.dumps({"rate": rate, "variant": args.variant, "results": results}, indent=2))
    return 1 if any(r["errors"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
