"""The verification step, rule by rule, and its quality on the labelled pair set."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.cache.config import SemanticConfig
from gateway.cache.verify import extract, verify
from tests.cache.pairs import HELDOUT_SPLITS, OLD_SPLITS, load_pairs


@pytest.mark.parametrize("a,b,reason", [
    ("Convert 5 km to miles", "Convert 6 km to miles", "numbers"),
    ("What happened in 1969?", "What happened in nineteen sixty-nine and 1970?", "numbers"),
    ("Who won World War II?", "Who won World War I?", "numbers"),
    ("Which foods contain gluten?", "Which foods don't contain gluten?", "negation"),
    ("How do I enable dark mode?", "How do I turn off dark mode?", "opposite"),
    ("Should I stretch before running?", "Should I stretch after running?", "opposite"),
    ("What is the capital of Austria?", "What is the capital of Australia?", "named"),
    ("How do I reverse a list in python?", "How do I reverse a list in rust?", "named"),
    ("Convert 5 km to miles", "Convert 5 miles to km", "units"),
    ("How many cups are in a quart?", "How many quarts are in a cup?", "units"),
    ("Is Paris bigger than London?", "Is London bigger than Paris?", "direction"),
    ("Convert a string to an integer", "Convert an integer to a string", "direction"),
    ("Who founded Tesla?", "When was Tesla founded?", "question type"),
    ("What is the chemical symbol for gold?", "What is the chemical symbol for silver?", "swapped"),
])
def test_rejects_near_misses_with_a_reason(a: str, b: str, reason: str) -> None:
    v = verify(a, b)
    assert not v.ok and reason in v.reason
    assert not verify(b, a).ok  # symmetric


@pytest.mark.parametrize("a,b", [
    ("How do I convert 5 kg to pounds?", "What is 5 kilograms in lbs?"),
    ("What is 100 degrees Fahrenheit in Celsius?", "Convert 100°F to Celsius."),
    ("What is 15% of 200?", "Calculate 15 percent of 200."),
    ("What year did World War II end?", "When did World War 2 end?"),
    ("How do I print without a newline in Python?", "In Python, how can I print with no trailing newline?"),
    ("Who wrote Pride and Prejudice?", "Who is the author of Pride and Prejudice?"),
    ("How do I generate a random number in JavaScript?", "What's the way to get a random number in JS?"),
    ("Hey, what's the capital of Italy?", "capital of italy?"),
])
def test_accepts_paraphrases(a: str, b: str) -> None:
    assert verify(a, b).ok, verify(a, b).reason


def test_extract_reads_numbers_units_and_names() -> None:
    f = extract("Convert 1,000 USD to EUR for the Berlin trip in 2024, not 5k")
    assert f.numbers == {"1000", "2024", "5000"}
    assert ("usd", "src") in f.units and ("eur", "tgt") in f.units
    assert "berlin" in f.entities and f.negations == 1


def _rates(pairs, sims, threshold: float) -> tuple[float, float]:
    para = [(p, s) for p, s in zip(pairs, sims) if p.label == "paraphrase"]
    near = [(p, s) for p, s in zip(pairs, sims) if p.label == "near_miss"]
    hit = sum(s >= threshold and verify(p.a, p.b).ok for p, s in para) / len(para)
    false = sum(s >= threshold and verify(p.a, p.b).ok for p, s in near) / len(near)
    return hit, false


def test_the_labelled_set_is_large_varied_and_split() -> None:
    pairs = load_pairs()
    assert len(pairs) >= 150
    assert {p.label for p in pairs} == {"paraphrase", "near_miss"}
    assert len({p.category for p in pairs}) >= 15
    held = load_pairs(splits=HELDOUT_SPLITS)
    assert 0.3 < len(held) / len(pairs) < 0.7 and {p.label for p in held} == {"paraphrase", "near_miss"}
    assert {p.split for p in pairs} == {*OLD_SPLITS, "roles_tune", "roles_heldout"}
    roles = load_pairs(splits=("roles_tune", "roles_heldout"))
    assert len(roles) >= 150 and {p.category for p in roles} >= {"near_spelled", "roles", "roles_para"}
    assert 0.35 < len(load_pairs("roles_heldout")) / len(roles) < 0.65  # the hash halves


def test_default_threshold_meets_targets(embedder) -> None:
    """Issue 4 targets at the default settings: false hits <= 1% while serving >= 70% of paraphrases.

    Pooled over every pair of issue 4's files (184 near-misses) the false-hit rate must be <= 1%; each split
    must serve >= 70% of its paraphrases and stay <= 3% false (one pair in ~35); see pairs.py for
    how the splits were used.
    """
    threshold = SemanticConfig().threshold
    pairs = load_pairs(splits=OLD_SPLITS)
    a = embedder.embed([p.a for p in pairs])
    b = embedder.embed([p.b for p in pairs])
    sims = (a * b).sum(axis=1)
    hit, false = _rates(pairs, sims, threshold)
    assert hit >= 0.70 and false <= 0.01, (hit, false)
    for split in ("tune", "heldout", "fresh", "fresh2"):
        idx = [i for i, p in enumerate(pairs) if p.split == split]
        hit, false = _rates([pairs[i] for i in idx], sims[idx], threshold)
        assert hit >= 0.70 and false <= 0.03, (split, hit, false)
    # and similarity alone would fail badly at the same threshold (why verification exists)
    near = np.array([s for p, s in zip(pairs, sims) if p.label == "near_miss"])
    assert (near >= threshold).mean() > 0.3
