"""Pass-rate statistics: Wilson score interval, pass@k and pass^k over repeated trials."""

from __future__ import annotations

import math


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (scipy's); (0, 1) when n == 0."""
    if n == 0:
        return (0.0, 1.0)
    from scipy.stats import binomtest  # imported on use: scipy.stats costs ~0.3 s

    ci = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return (max(0.0, float(ci.low)), min(1.0, float(ci.high)))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimator of P(at least one of k samples passes) from n samples with c passes."""
    if k > n:
        raise ValueError(f"k={k} exceeds the number of samples n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Estimator of P(all k samples pass) (tau-bench's pass^k) from n samples with c passes."""
    if k > n:
        raise ValueError(f"k={k} exceeds the number of samples n={n}")
    return math.comb(c, k) / math.comb(n, k)
