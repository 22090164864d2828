"""Per-variant comparison of a rollout and the guards that halt it (pure; no I/O).

Rates (errors, guardrail blocks, cache hits) get Wilson score intervals per variant and Newcombe's
hybrid score interval (method 10) for the candidate-minus-baseline difference; means (cost, tokens,
latency per request) get Welch's standard error with a normal quantile (the guards need at least
`min_requests` per variant, where the t and normal quantiles agree to ~2%).

A guard trips when the whole interval of the difference, at `halt_confidence`, lies past its margin.
The monitor looks again and again, and each look is a new chance of a false halt: at 95% per look an
equal candidate was halted in 1 of 5 seeded runs of 100 looks (tests/prompts/test_rollout_guards.py).
So the halt uses 99.9% per look (by Bonferroni, at most ~10% false halts over 100 looks; no halt in
10 seeded runs of 50 looks), while the comparison still reports 95% intervals. A false halt only reverts to the
baseline, the safe side.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import Any


@dataclass(slots=True)
class VariantStats:
    """What the ledger holds about one variant's requests since the rollout began."""

    requests: int = 0
    errors: int = 0  # status >= 500: the upstream or the gateway failed
    blocks: int = 0  # a guardrail blocked the request or its answer
    cache_hits: int = 0
    cost_sum: float = 0.0  # USD over priced requests
    cost_sumsq: float = 0.0
    priced: int = 0
    tokens_sum: float = 0.0
    tokens_sumsq: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)  # a bounded recent sample


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    if n <= 0:
        return 0.0, 1.0
    z = _z(confidence)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95) -> tuple[float, float]:
    """Interval for p2 - p1 (candidate minus baseline), Newcombe (1998) method 10."""
    if n1 <= 0 or n2 <= 0:
        return -1.0, 1.0
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1, confidence)
    l2, u2 = wilson(k2, n2, confidence)
    d = p2 - p1
    return (d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2),
            d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2))


def mean_ci(n: int, s: float, ss: float, confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) from a count, sum and sum of squares."""
    if n <= 0:
        return 0.0, 0.0, 0.0
    mean = s / n
    var = max(0.0, (ss - n * mean * mean) / (n - 1)) if n > 1 else 0.0
    half = _z(confidence) * math.sqrt(var / n)
    return mean, mean - half, mean + half


def welch(n1: int, s1: float, ss1: float, n2: int, s2: float, ss2: float,
          confidence: float = 0.95) -> tuple[float, float, float]:
    """(difference, low, high) of mean2 - mean1."""
    if n1 <= 1 or n2 <= 1:
        return 0.0, -math.inf, math.inf
    m1, m2 = s1 / n1, s2 / n2
    v1 = max(0.0, (ss1 - n1 * m1 * m1) / (n1 - 1))
    v2 = max(0.0, (ss2 - n2 * m2 * m2) / (n2 - 1))
    d = m2 - m1
    half = _z(confidence) * math.sqrt(v1 / n1 + v2 / n2)
    return d, d - half, d + half


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    xs = sorted(values)
    i = min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))
    return xs[i]


def _rate(name: str, b: VariantStats, c: VariantStats, kb: int, kc: int, conf: float) -> dict[str, Any]:
    lo, hi = newcombe(kb, b.requests, kc, c.requests, conf)
    return {"metric": name,
            "baseline": kb / b.requests if b.requests else None, "baseline_ci": wilson(kb, b.requests, conf),
            "candidate": kc / c.requests if c.requests else None, "candidate_ci": wilson(kc, c.requests, conf),
            "difference_ci": (lo, hi)}


def _mean(name: str, nb: int, sb: float, ssb: float, nc: int, sc: float, ssc: float, conf: float,
          scale: float = 1.0) -> dict[str, Any]:
    mb, lb, hb = mean_ci(nb, sb, ssb, conf)
    mc, lc, hc = mean_ci(nc, sc, ssc, conf)
    _d, lo, hi = welch(nb, sb, ssb, nc, sc, ssc, conf)
    return {"metric": name,
            "baseline": mb * scale if nb else None, "baseline_ci": (lb * scale, hb * scale),
            "candidate": mc * scale if nc else None, "candidate_ci": (lc * scale, hc * scale),
            "difference_ci": (lo * scale, hi * scale)}


def compare(b: VariantStats, c: VariantStats, confidence: float = 0.95) -> list[dict[str, Any]]:
    """One row per metric: each variant's value and interval, and the difference's interval."""
    lat_b, lat_c = b.latencies_ms, c.latencies_ms
    lat = [sum(lat_b), sum(x * x for x in lat_b), sum(lat_c), sum(x * x for x in lat_c)]
    rows = [
        {"metric": "requests", "baseline": b.requests, "candidate": c.requests},
        _rate("error_rate", b, c, b.errors, c.errors, confidence),
        _rate("block_rate", b, c, b.blocks, c.blocks, confidence),
        _rate("cache_hit_rate", b, c, b.cache_hits, c.cache_hits, confidence),
        _mean("cost_per_1k_requests_usd", b.priced, b.cost_sum, b.cost_sumsq, c.priced, c.cost_sum, c.cost_sumsq,
              confidence, scale=1000.0),
        _mean("tokens_per_request", b.requests, b.tokens_sum, b.tokens_sumsq, c.requests, c.tokens_sum,
              c.tokens_sumsq, confidence),
        _mean("latency_ms_mean", len(lat_b), lat[0], lat[1], len(lat_c), lat[2], lat[3], confidence),
        {"metric": "latency_ms_p50", "baseline": percentile(lat_b, 0.5), "candidate": percentile(lat_c, 0.5)},
        {"metric": "latency_ms_p95", "baseline": percentile(lat_b, 0.95), "candidate": percentile(lat_c, 0.95)},
    ]
    return rows


@dataclass(frozen=True, slots=True)
class Trip:
    guard: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def evaluate(guards: Any, b: VariantStats, c: VariantStats) -> list[Trip]:
    """The guards (a prompts.config.RolloutGuards) the candidate has tripped, given enough traffic."""
    if min(b.requests, c.requests) < guards.min_requests:
        return []
    conf = guards.halt_confidence
    trips: list[Trip] = []
    for name, kb, kc, on in (("error_rate", b.errors, c.errors, guards.error_rate),
                             ("block_rate", b.blocks, c.blocks, guards.block_rate)):
        if not on:
            continue
        lo, _hi = newcombe(kb, b.requests, kc, c.requests, conf)
        if lo > guards.rate_margin:
            trips.append(Trip(name, f"candidate {kc}/{c.requests} vs baseline {kb}/{b.requests}: the difference's "
                                    f"{conf:.1%} interval starts at {lo:+.3f}, above the margin {guards.rate_margin:+.3f}"))
    pct = guards.cost_per_1k_increase_pct
    if pct is not None and min(b.priced, c.priced) >= guards.min_requests and b.cost_sum > 0:
        _d, lo, _hi = welch(b.priced, b.cost_sum, b.cost_sumsq, c.priced, c.cost_sum, c.cost_sumsq, conf)
        allowed = (b.cost_sum / b.priced) * pct / 100
        if lo > allowed:
            trips.append(Trip("cost_per_1k_requests", f"candidate costs at least ${lo * 1000:.4f} more per 1,000 "
                                                      f"requests ({conf:.1%}), above the allowed +{pct:g}%"))
    return trips
