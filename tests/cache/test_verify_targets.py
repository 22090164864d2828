"""Issue #20's targets for the semantic cache, on the held-out labelled pairs (old + new).

Protocol (tests/cache/data/README.md, committed before scoring): the rules were tuned on the tune
halves only; the held-out pairs (`heldout`, `fresh`, `fresh2`, `roles_heldout`) were scored once with
the rules final, at the configured threshold, similarity + verification. Targets: near-misses served
≤ 1%, paraphrases served ≥ 75%. A target not met is a strict xfail (as in
tests/guardrails/test_quality.py), so it turns red the day it starts passing unnoticed; the floors
hold what was measured (bench/README.md) so the verifier cannot get worse silently.
"""

from __future__ import annotations

import numpy as np
import pytest

from gateway.cache.config import SemanticConfig
from gateway.cache.verify import verify
from tests.cache.pairs import HELDOUT_SPLITS, TUNE_SPLITS, Pair, load_pairs, served_rates

TARGET_FALSE = 0.01
TARGET_HIT = 0.75
# Measured once on the held-out pairs (2026-12-02, rules of this issue final): 3/167 near-misses
# served (1.8%), 130/161 paraphrases served (80.7%). Before this issue: 23/167 and 122/161.
MEASURED_FALSE = (3, 167)
MEASURED_HIT = (130, 161)


def _served(embedder, pairs: list[Pair]) -> list[bool]:
    a = embedder.embed([p.a for p in pairs])
    b = embedder.embed([p.b for p in pairs])
    sims = np.asarray((a * b).sum(axis=1))
    threshold = SemanticConfig().threshold
    return [bool(s >= threshold) and verify(p.a, p.b).ok for p, s in zip(pairs, sims)]


@pytest.fixture(scope="module")
def heldout(embedder) -> dict:
    pairs = load_pairs(splits=HELDOUT_SPLITS)
    return served_rates(pairs, _served(embedder, pairs))


def test_heldout_is_what_was_measured(heldout: dict) -> None:
    near, para = heldout[("near_miss", "all")], heldout[("paraphrase", "all")]
    assert (near.total, para.total) == (MEASURED_FALSE[1], MEASURED_HIT[1])  # the set did not change
    assert near.served <= MEASURED_FALSE[0], str(near)  # floor: no more false hits than measured
    assert para.served >= MEASURED_HIT[0], str(para)  # floor: no fewer paraphrases served
    for cat in ("near_spelled", "roles"):
        assert heldout[("near_miss", cat)].rate <= 0.07, (cat, str(heldout[("near_miss", cat)]))


def test_heldout_paraphrases_served_target(heldout: dict) -> None:
    assert heldout[("paraphrase", "all")].rate >= TARGET_HIT, str(heldout[("paraphrase", "all")])


@pytest.mark.xfail(strict=True, reason="held-out false hits 3/167 = 1.8% (Wilson 95% 0.6-5.1%) > 1%: "
                   "http/https collapse to one stem, 'X onto Y' gives X no role, 'egg' / 'egg white'")
def test_heldout_false_hits_target(heldout: dict) -> None:
    assert heldout[("near_miss", "all")].rate <= TARGET_FALSE, str(heldout[("near_miss", "all")])


def test_tune_halves(embedder) -> None:
    """What the rules were tuned on: no near-miss of the new categories served, ≥ 90% paraphrases."""
    pairs = load_pairs(splits=TUNE_SPLITS)
    r = served_rates(pairs, _served(embedder, pairs))
    assert r[("near_miss", "near_spelled")].served == 0 and r[("near_miss", "roles")].served == 0
    assert r[("paraphrase", "all")].rate >= 0.90, str(r[("paraphrase", "all")])
