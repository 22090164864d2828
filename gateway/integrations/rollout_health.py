"""Rollout health: each variant's requests since a rollout began, read from the ledger, compared
(prompts/rollout_stats.py) and checked against the guards in `prompts.rollout_guards`. A trip aborts
the rollout (the label serves the baseline again), with the trips and the comparison kept as the
abort record's evidence in the signed journal, a warning in the log, the
`sluice_prompt_rollout_halts` metric and, when configured, a webhook.

The prompt hook asks for a check at most every `check_every_s`; the check runs in a worker thread
as a background task, so no request waits for it. Every replica checks; the first abort wins and
the others find the rollout already ended.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import sqlalchemy as sa

from gateway.spend.schema import ledger
from prompts import rollout as rollouts
from prompts.config import RolloutGuards
from prompts.errors import PromptError
from prompts.registry import PromptRegistry
from prompts.rollout import Rollout
from prompts.rollout_stats import VariantStats, compare, evaluate

log = logging.getLogger("sluice.prompts.rollout")
LATENCY_SAMPLE = 5_000  # most recent latencies per variant kept for p50/p95
ACTOR = "sluice-rollout-guard"


def variant_refs(ro: Rollout) -> dict[str, str]:
    return {"baseline": f"{ro.prompt}@{ro.baseline}", "candidate": f"{ro.prompt}@{ro.candidate}"}


def variant_stats(engine: sa.Engine, ro: Rollout) -> dict[str, VariantStats]:
    """Per variant, the ledger's rows for this rollout: its prompt refs, since it started."""
    refs = variant_refs(ro)
    c = ledger.c
    where = [c.prompt_ref.in_(list(refs.values())), c.ts >= ro.started]
    cost = sa.func.coalesce(c.cost_usd, 0.0)
    tokens = c.prompt_tokens + c.completion_tokens
    stmt = sa.select(
        c.prompt_ref, sa.func.count(), sa.func.sum(sa.case((c.status_code >= 500, 1), else_=0)),
        sa.func.sum(sa.case((c.guardrail == "block", 1), else_=0)),
        sa.func.sum(sa.case((c.cache_status.in_(("hit", "semantic-hit")), 1), else_=0)),
        sa.func.sum(cost), sa.func.sum(cost * cost), sa.func.count(c.cost_usd),
        sa.func.sum(tokens), sa.func.sum(tokens * tokens),
    ).where(*where).group_by(c.prompt_ref)
    out = {v: VariantStats() for v in refs}
    by_ref = {ref: v for v, ref in refs.items()}
    with engine.connect() as conn:
        for ref, n, err, blk, hits, cs, css, priced, ts_, tss in conn.execute(stmt):
            out[by_ref[ref]] = VariantStats(requests=n, errors=int(err or 0), blocks=int(blk or 0),
                                            cache_hits=int(hits or 0), cost_sum=float(cs or 0),
                                            cost_sumsq=float(css or 0), priced=int(priced or 0),
                                            tokens_sum=float(ts_ or 0), tokens_sumsq=float(tss or 0))
        for variant, ref in refs.items():
            lat = conn.execute(sa.select(c.latency_ms).where(c.prompt_ref == ref, c.ts >= ro.started,
                                                             c.latency_ms.is_not(None))
                               .order_by(c.id.desc()).limit(LATENCY_SAMPLE))
            out[variant].latencies_ms = [float(x) for (x,) in lat]
    return out


def rollout_report(engine: sa.Engine, ro: Rollout, guards: RolloutGuards) -> dict[str, Any]:
    """What `GET /sluice/v1/prompts/{name}/rollout` answers: the rollout, its comparison, any trips."""
    stats = variant_stats(engine, ro)
    b, c = stats["baseline"], stats["candidate"]
    return {"id": ro.id, "prompt": ro.prompt, "label": ro.label, "state": ro.state, "percent": ro.percent,
            "baseline": ro.baseline, "candidate": ro.candidate, "started": ro.started,
            "confidence": guards.confidence, "comparison": _plain(compare(b, c, guards.confidence)),
            "trips": [t.as_dict() for t in evaluate(guards, b, c)], "history": _plain(ro.history)}


def _plain(value: Any) -> Any:
    """JSON-safe (tuples to lists, infinities to None) so the journal and the API hold the same thing."""
    return json.loads(json.dumps(value, default=str).replace("-Infinity", "null").replace("Infinity", "null")
                      .replace("NaN", "null"))


class RolloutMonitor:
    def __init__(self, registry: PromptRegistry, guards: RolloutGuards, engine_of: Any,
                 clock: Any) -> None:
        self.registry = registry
        self.guards = guards
        self._engine_of = engine_of  # () -> the ledger's engine, or None when spend is off
        self._clock = clock
        self._next = 0.0
        self._task: asyncio.Task[None] | None = None
        self.halts: dict[tuple[str, str], int] = {}
        self.sent: list[dict[str, Any]] = []

    def maybe_check(self) -> None:
        """Called on the request path: schedules a check when one is due; costs a clock read otherwise."""
        if not self.guards.enabled:
            return
        now = self._clock.monotonic()
        if now < self._next or (self._task is not None and not self._task.done()):
            return
        self._next = now + self.guards.check_every_s
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            halts = await asyncio.to_thread(self.check_all)
        except Exception:  # a check must never take the gateway down; the next one retries
            log.exception("rollout health check failed")
            return
        for halt in halts:
            await self._alert(halt)

    def check_all(self) -> list[dict[str, Any]]:
        """Check every active rollout once; abort those that tripped a guard. Returns the halts."""
        engine = self._engine_of()
        if engine is None:
            return []
        halts = []
        for ro in [r for r in rollouts.rollouts(self.registry) if r.state == "active"]:
            report = rollout_report(engine, ro, self.guards)
            if not report["trips"]:
                continue
            reason = "; ".join(f"{t['guard']}: {t['detail']}" for t in report["trips"])
            evidence = {"trips": report["trips"], "comparison": report["comparison"]}
            try:
                rollouts.abort(self.registry, ro.prompt, ro.label, actor=ACTOR, reason=reason, evidence=evidence,
                               rollout_id=ro.id)
            except PromptError:
                continue  # another replica (or a person) ended it first
            key = (ro.prompt, ro.label)
            self.halts[key] = self.halts.get(key, 0) + 1
            halt = {"type": "prompt_rollout_halted", "rollout_id": ro.id, "prompt": ro.prompt, "label": ro.label,
                    "baseline": ro.baseline, "candidate": ro.candidate, "reason": reason, "evidence": evidence}
            log.warning("rollout %s of %s@%d on %s halted, back on v%d: %s", ro.id, ro.prompt, ro.candidate,
                        ro.label, ro.baseline, reason)
            self.sent.append(halt)
            halts.append(halt)
        return halts

    async def _alert(self, halt: dict[str, Any]) -> None:
        url = self.guards.webhook_url
        if not url:
            return
        import aiohttp

        try:
            timeout = aiohttp.ClientTimeout(total=5.0)
            async with aiohttp.ClientSession(timeout=timeout) as s, s.post(url, json=halt, allow_redirects=False) as r:
                if r.status >= 300:
                    log.error("rollout halt webhook answered %d for %s", r.status, halt["rollout_id"])
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.error("rollout halt webhook failed (%s): %s", type(exc).__name__, exc)

    async def aclose(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
