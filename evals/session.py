"""One call that loads a suite, wires the client (live / record / replay, cache) and runs it.

Used by `sluice eval run` and by `sluice prompts promote --run` (composed in gateway/cli/prompts.py).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import httpx

from evals.cache import ResultCache
from evals.client import EvalClient, Mode
from evals.errors import SuiteError
from evals.results import RunResult
from evals.runner import check_suite, run_suite
from evals.suite import Suite, load_suite
from evals.targets import TargetPlan

REPLAY_BASE_URL = "http://replay.invalid/v1"


@dataclass(slots=True)
class RunOptions:
    base_url: str | None = None
    api_key: str = "sk-eval"
    mode: Mode = "live"
    cassette: Path | None = None
    cache_path: Path | None = None  # None: no result cache
    registry_dir: Path | None = None
    prompt_ref: str | None = None  # evaluate this version/label of the suite's prompt
    transport: httpx.AsyncBaseTransport | None = None  # e.g. httpx.ASGITransport(gateway_app)
    progress: bool = False
    allow_outside_dataset: bool = False  # a suite's dataset file may lie outside the suite's folder


def default_cassette(suite: Suite, content_hash: str) -> Path:
    """One cassette per suite and target content: <suite dir>/cassettes/<suite>/<hash12>.json."""
    return suite.base_dir / "cassettes" / suite.name / f"{re.sub(r'^sha256:', '', content_hash)[:12]}.json"


async def run_suite_file(path: str | Path | Suite, opts: RunOptions) -> RunResult:
    suite = path if isinstance(path, Suite) else load_suite(path, allow_outside_dataset=opts.allow_outside_dataset)
    check_suite(suite)
    plan = TargetPlan(suite, registry_dir=opts.registry_dir, prompt_ref=opts.prompt_ref)
    cassette = opts.cassette or default_cassette(suite, plan.info.content_hash)
    if opts.mode == "replay" and not cassette.exists():
        raise SuiteError(f"no cassette at {cassette} for {plan.info.ref} ({plan.info.content_hash[7:19]}); "
                         f"record one with --record")
    if opts.mode != "replay" and not opts.base_url:
        raise SuiteError("--base-url (or SLUICE_BASE_URL) is needed unless --replay")
    cache = ResultCache(opts.cache_path) if opts.cache_path and opts.mode == "live" else None
    client = EvalClient(
        base_url=opts.base_url or REPLAY_BASE_URL, api_key=opts.api_key, suite=suite.name, mode=opts.mode,
        cassette_path=cassette, cache=cache, transport=opts.transport, timeout_s=suite.spec.timeout_s,
        retries=suite.spec.retries,
    )
    try:
        result = await run_suite(suite, client, registry_dir=opts.registry_dir, prompt_ref=opts.prompt_ref,
                                 progress=opts.progress)
    finally:
        await client.aclose()
        if cache is not None:
            cache.close()
    if opts.mode != "live":
        result.stats["cassette"] = str(cassette)
        if cassette.exists():  # what a replay attestation is bound to (and a recording vouches for)
            result.stats["cassette_hash"] = "sha256:" + hashlib.sha256(cassette.read_bytes()).hexdigest()
    return result
