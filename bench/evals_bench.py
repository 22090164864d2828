"""Eval harness throughput through the gateway (in-process, ASGI transport) over the mock upstream.

    python bench/evals_bench.py [--cases 1000] [--concurrency 32] [--json OUT]

Measured in one run, in one process (harness + gateway share the CPU, as in `sluice eval` tests):
  baseline  the same N chat calls made with the bare openai SDK at the same concurrency
  cold      `run_suite_file` on a fresh result cache (every case is a model call)
  cached    the same suite again on that cache (no model calls)
Targets (issue 6): cold <= 30 s, cached <= 3 s for 1,000 cases at concurrency 32.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
for k, v in {"HF_HUB_OFFLINE": "1", "RAGAS_DO_NOT_TRACK": "true", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
             "ANONYMIZED_TELEMETRY": "False"}.items():
    os.environ.setdefault(k, v)

import httpx
import openai

from evals import RunOptions, run_suite_file, suite_from_dict
from gateway.app import create_app
from gateway.config import parse_config
from gateway.mock_upstream import MockUpstream


def suite(n: int, concurrency: int):  # type: ignore[no-untyped-def]
    return suite_from_dict({
        "name": "bench", "target": {"model": "mock-chat", "input": "Summarise ticket {{ n }} in one line.",
                                    "params": {"max_tokens": 16}},
        "dataset": [{"id": f"t{i}", "vars": {"n": i}} for i in range(n)],
        "assert": [{"type": "regex", "value": r"\w+"}, {"type": "not-icontains", "value": "as an ai"},
                   {"type": "latency", "threshold": 30_000}],
        "concurrency": concurrency, "retries": 0})


async def baseline(app, n: int, concurrency: int) -> float:  # type: ignore[no-untyped-def]
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), timeout=60)
    client = openai.AsyncOpenAI(base_url="http://gateway/v1", api_key="x", http_client=http, max_retries=0)
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await client.chat.completions.create(model="mock-chat", max_tokens=16, messages=[
                {"role": "user", "content": f"Summarise ticket {i} in one line."}])
    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    await http.aclose()
    return time.perf_counter() - t0


async def main(args: argparse.Namespace) -> dict[str, object]:
    with MockUpstream() as mock, tempfile.TemporaryDirectory() as tmp:
        config = parse_config({"models": [{"name": "mock-chat", "deployments": [
            {"provider": "openai", "model": "gpt-4o-mini", "api_base": mock.base_url}]}]})
        app = create_app(config)
        async with app.lifespan():
            await baseline(app, 50, args.concurrency)  # warm-up: SDK lazy imports, gateway pools
            base_s = await baseline(app, args.cases, args.concurrency)
            s = suite(args.cases, args.concurrency)
            opts = RunOptions(base_url="http://gateway/v1", transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
                              cache_path=Path(tmp) / "cache.sqlite")
            t0 = time.perf_counter()
            cold = await run_suite_file(s, opts)
            cold_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            cached = await run_suite_file(s, opts)
            cached_s = time.perf_counter() - t0
    out = {
        "cases": args.cases, "concurrency": args.concurrency,
        "baseline_sdk_s": round(base_s, 3), "cold_s": round(cold_s, 3), "cached_s": round(cached_s, 3),
        "cold_vs_baseline": round(cold_s / base_s, 2), "cached_vs_baseline": round(cached_s / base_s, 3),
        "cold_status": cold.status, "cold_model_calls": cold.stats["model_calls"],
        "cached_model_calls": cached.stats["model_calls"], "cached_hits": cached.stats["cache_hits"],
        "targets_met": {"cold<=30s": cold_s <= 30, "cached<=3s": cached_s <= 3},
    }
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    result = asyncio.run(main(a))
    print(json.dumps(result, indent=2))
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))
