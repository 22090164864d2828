"""Profile `sluice serve` under wrk load with py-spy (sampling, native frames off).

    python bench/profile_gateway.py [--variant full] [--mode json|stream] [--seconds 10]
        [--py-spy /tmp/pyspy/bin/py-spy] [--out /tmp/profile]

py-spy is not a project dependency: install it into a throwaway venv
(`python -m venv /tmp/pyspy && /tmp/pyspy/bin/pip install py-spy`). The gateway runs pinned to
core 0 with the variant's config from bench/gateway_overhead.py, the mock upstream and wrk on core 1.
Writes a speedscope/raw profile under --out and prints the top frames by own time and by
inclusive time (from py-spy's collapsed stacks), which is what bench/README.md quotes.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import wrk
from bench.gateway_overhead import body, mock_and_gateway
from bench.proc import cores


def top(collapsed: Path, n: int) -> str:
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        c = int(count)
        total += c
        frames = stack.split(";")
        own[frames[-1]] += c
        for f in set(frames):
            incl[f] += c
    out = [f"{total} samples", "own time:"]
    out += [f"  {100 * c / total:5.1f}%  {f}" for f, c in own.most_common(n)]
    out += ["inclusive:"]
    out += [f"  {100 * c / total:5.1f}%  {f}" for f, c in incl.most_common(n)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", default="full")
    ap.add_argument("--mode", default="json", choices=("json", "stream"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--py-spy", default="/tmp/pyspy/bin/py-spy")
    ap.add_argument("--out", type=Path, default=Path("/tmp/profile"))
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    cpus = cores()
    with mock_and_gateway(args.variant, cpus) as served:
        port, gw, key = served.port, served.gateway, served.key
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        script = wrk.lua_script(body("bench", args.mode == "stream"),
                                {"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
        wrk.run(url, script, seconds=2, connections=args.connections, core=cpus["load"])
        collapsed = args.out / f"{args.variant}-{args.mode}.txt"
        spy = subprocess.Popen([args.py_spy, "record", "--pid", str(gw.pid), "--rate", "500", "--format", "raw",
                                "--duration", str(args.seconds + 1), "--output", str(collapsed), "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        r = wrk.run(url, script, seconds=args.seconds, connections=args.connections, core=cpus["load"])
        spy.wait(60)
        print(f"{args.variant} {args.mode}: {r.rps:.0f} req/s, errors {r.errors}; loadavg "
              f"{Path('/proc/loadavg').read_text().strip()}")
        print(top(collapsed, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
