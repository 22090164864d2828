"""Run a suite: every case x repeat as one trial, concurrently (bounded), then aggregate and gate.

Transient errors are retried by the openai SDK (`retries`); a trial whose call still fails counts
as failed with its error. Problems with the suite itself (unknown assertion type or threshold
metric, a missing judge model, a replay cassette miss) make the run an error (exit code 2).
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from evals.assertions import CheckContext, evaluate, validate_spec
from evals.client import EvalClient
from evals.dataset import Case, dataset_hash
from evals.errors import CassetteMiss, ModelCallError, SuiteError
from evals.results import RunResult, ThresholdResult, TrialResult
from evals.stats import pass_at_k, pass_hat_k, wilson_interval
from evals.suite import Suite
from evals.targets import TargetPlan
from prompts import PromptError

BUILTIN_SCORES = ("pass_rate", "pass_at_k", "pass_hat_k")


def check_suite(suite: Suite) -> None:
    """Static checks before any model call (exit 2 on failure)."""
    metric_names = set(BUILTIN_SCORES)
    for case in suite.cases:
        for spec in suite.assertions_for(case):
            validate_spec(spec)
            metric_names.add(spec.metric_name)
    unknown = sorted(set(suite.spec.thresholds) - metric_names)
    if unknown:
        raise SuiteError(f"suite {suite.name}: thresholds name unknown metric(s) {unknown}; "
                         f"known: {sorted(metric_names)}")


async def run_suite(
    suite: Suite,
    client: EvalClient,
    *,
    registry_dir: str | Path | None = None,
    prompt_ref: str | None = None,
    progress: bool = False,
    now: Callable[[], float] = time.time,
) -> RunResult:
    started, t0 = now(), time.perf_counter()
    check_suite(suite)
    plan = TargetPlan(suite, registry_dir=registry_dir, prompt_ref=prompt_ref)
    spec = suite.spec
    sem = asyncio.Semaphore(spec.concurrency)
    fatal: list[str] = []

    async def trial(case: Case, repeat: int) -> TrialResult:
        async with sem:
            return await _run_trial(suite, plan, client, case, repeat, fatal)

    jobs = [(c, r) for c in suite.cases for r in range(spec.repeats)]
    if progress:
        with Progress(TextColumn(f"[bold]{suite.name}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), transient=True) as bar:
            task = bar.add_task("trials", total=len(jobs))

            async def tracked(case: Case, repeat: int) -> TrialResult:
                res = await trial(case, repeat)
                bar.advance(task)
                return res
            trials = await asyncio.gather(*(tracked(c, r) for c, r in jobs))
    else:
        trials = await asyncio.gather(*(trial(c, r) for c, r in jobs))

    result = aggregate(suite, list(trials), asdict(plan.info), mode=client.mode, started=started, duration_s=time.perf_counter() - t0)
    if fatal:
        result.status, result.error = "error", fatal[0] + (f" (+{len(fatal) - 1} more)" if len(fatal) > 1 else "")
    elif trials and all(t.error and t.error.startswith("model call failed") for t in trials):
        result.status, result.error = "error", f"every model call failed, e.g. {trials[0].error}"
    s = client.stats
    result.stats = {"model_calls": s.model_calls, "cache_hits": s.cache_hits, "replayed": s.replayed,
                    "call_errors": s.errors, "cost_usd": round(s.cost_usd, 8)}
    result.git_commit = git_commit(suite.base_dir)
    return result


async def _run_trial(suite: Suite, plan: TargetPlan, client: EvalClient, case: Case, repeat: int,
                     fatal: list[str]) -> TrialResult:
    assert case.id is not None
    try:
        body, user_input = plan.build(case)
    except PromptError as e:
        return TrialResult(case.id, repeat, False, 0.0, error=f"cannot render target: {e.message}")
    try:
        reply = await client.chat(body, repeat=repeat)
    except CassetteMiss as e:
        fatal.append(f"case {case.id}: {e}")
        return TrialResult(case.id, repeat, False, 0.0, error=str(e))
    except ModelCallError as e:
        return TrialResult(case.id, repeat, False, 0.0, error=f"model call failed: {e}")
    ctx = CheckContext(case=case, output=reply.text, reply=reply, client=client, suite=suite.spec,
                       user_input=user_input, vars=case.template_vars())
    results = []
    try:
        for spec in suite.assertions_for(case):
            results.append(await evaluate(spec, ctx))
    except CassetteMiss as e:
        fatal.append(f"case {case.id}: {e}")
        return TrialResult(case.id, repeat, False, 0.0, reply.text, reply.latency_ms, reply.cost_usd,
                           reply.source, error=str(e), assertions=results)
    except SuiteError as e:
        fatal.append(str(e))
        return TrialResult(case.id, repeat, False, 0.0, reply.text, reply.latency_ms, reply.cost_usd,
                           reply.source, error=str(e), assertions=results)
    except ModelCallError as e:  # the judge or embedding call failed
        return TrialResult(case.id, repeat, False, 0.0, reply.text, reply.latency_ms, reply.cost_usd,
                           reply.source, error=f"assertion model call failed: {e}", assertions=results)
    passed = all(r.passed for r in results)
    weights = sum(r.weight for r in results)
    score = (sum(r.weight * (1.0 if r.passed else 0.0) for r in results) / weights) if weights else 1.0
    return TrialResult(case.id, repeat, passed, score, reply.text, reply.latency_ms, reply.cost_usd,
                       reply.source, assertions=results)


def aggregate(suite: Suite, trials: list[TrialResult], target: dict[str, Any], *, mode: str,
              started: float, duration_s: float) -> RunResult:
    k = suite.spec.repeats
    by_case: dict[str, list[TrialResult]] = {}
    for t in trials:
        by_case.setdefault(t.case_id, []).append(t)
    cases: list[dict[str, Any]] = []
    for cid, ts in by_case.items():
        c = sum(t.passed for t in ts)
        cases.append({"id": cid, "trials": len(ts), "passes": c,
                      "pass_at_k": pass_at_k(len(ts), c, k), "pass_hat_k": pass_hat_k(len(ts), c, k)})
    n_pass = sum(t.passed for t in trials)
    metrics: dict[str, dict[str, Any]] = {}
    for t in trials:
        for a in t.assertions:
            m = metrics.setdefault(a.name, {"scores": [], "passes": 0, "n": 0})
            m["n"] += 1
            m["passes"] += a.passed
            if a.score is not None:
                m["scores"].append(a.score)
    for m in metrics.values():
        scores = m.pop("scores")
        m["mean"] = sum(scores) / len(scores) if scores else None
        m["pass_rate"] = m["passes"] / m["n"] if m["n"] else None
    scores = {
        "pass_rate": n_pass / len(trials) if trials else 0.0,
        "pass_at_k": sum(c["pass_at_k"] for c in cases) / len(cases) if cases else 0.0,
        "pass_hat_k": sum(c["pass_hat_k"] for c in cases) / len(cases) if cases else 0.0,
    }
    for name, m in metrics.items():
        if m["mean"] is not None:
            scores[name] = m["mean"]
    checks = []
    for name, bound in suite.spec.threshold_bounds().items():
        value = scores.get(name)
        ok = value is not None and (bound.min is None or value >= bound.min) and (bound.max is None or value <= bound.max)
        checks.append(ThresholdResult(name, value, bound.min, bound.max, ok))
    status = "passed" if all(c.passed for c in checks) else "failed"
    return RunResult(
        suite=suite.name, suite_path=str(suite.path) if suite.path else None, suite_hash=suite.source_hash,
        dataset_hash=dataset_hash(suite.cases), target=target, mode=mode, started=started,
        duration_s=duration_s, repeats=k, trials=trials, cases=cases, metrics=metrics, scores=scores,
        pass_rate_ci=wilson_interval(n_pass, len(trials)), thresholds=checks, status=status,
    )


def git_commit(where: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
