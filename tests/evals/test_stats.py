import math

import pytest

from evals.stats import pass_at_k, pass_hat_k, wilson_interval


def test_wilson_known_values():
    lo, hi = wilson_interval(8, 10)
    assert math.isclose(lo, 0.4902, abs_tol=1e-3) and math.isclose(hi, 0.9433, abs_tol=1e-3)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(10, 10)
    assert hi == 1.0 and 0.69 < lo < 0.73


def test_pass_at_k_and_pass_hat_k():
    assert pass_at_k(5, 0, 3) == 0.0
    assert pass_at_k(5, 3, 3) == 1.0  # n - c < k: some pass is guaranteed
    assert math.isclose(pass_at_k(4, 1, 2), 1 - math.comb(3, 2) / math.comb(4, 2))
    assert pass_hat_k(3, 3, 3) == 1.0 and pass_hat_k(3, 2, 3) == 0.0
    assert math.isclose(pass_hat_k(4, 3, 2), 3 / 6)
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)
