"""Run every bench in sequence (about 2-3 minutes on an idle 2-core machine).

    python bench/run_all.py [--quick]
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    benches = [
        ["gateway_overhead.py", "--seconds", "2" if quick else "5", "--json", str(HERE / "results" / "gateway_overhead.json")],
        ["startup.py", "--runs", "1" if quick else "3"],
        ["embeddings_bench.py", *(["--questions", "32", "--passages", "8"] if quick else [])],
    ]
    rc = 0
    for b in benches:
        print(f"\n=== {' '.join(b)} ===", flush=True)
        t = time.perf_counter()
        r = subprocess.run([sys.executable, str(HERE / b[0]), *b[1:]], check=False)
        print(f"--- {b[0]} finished in {time.perf_counter() - t:.0f} s (exit {r.returncode})", flush=True)
        rc = rc or r.returncode
    return rc


if __name__ == "__main__":
    sys.exit(main())
