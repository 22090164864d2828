"""The injection model's training code (tools/injection_training/train.py, outside the wheel):
the shipped artifact reproduces from it and it trains on the protocol's rows only."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from guardrails.injection.data import train_split
from guardrails.injection.model import ARTIFACT


@pytest.fixture(scope="module")
def spec() -> dict:
    with gzip.open(ARTIFACT, "rt", encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.slow
def test_artifact_reproduces_from_the_script(spec: dict) -> None:
    """Refit with the shipped rule (the cross-validated rule search is `train --check`'s job)."""
    from tools.injection_training.train import RULE_KEYS, TrainParams, build, dump

    chosen = {"embed_C": spec["embed"]["C"], "default": {k: spec[k] for k in (*RULE_KEYS, "cv")},
              "conservative": spec["conservative"]}
    params = {**spec["params"], "embed_Cs": tuple(spec["params"]["embed_Cs"])}
    rebuilt = json.loads(gzip.decompress(dump(build(TrainParams(**params), chosen=chosen))))
    # The TF-IDF part and the rules reproduce exactly. The MiniLM part does not, bit for bit, across
    # CPUs: onnxruntime's int8 kernels differ by instruction set (the 7th digit of a few embedding
    # coefficients moved between two machines of this kind), so that part is compared to 1e-4.
    _assert_same(rebuilt, spec, "")


def _assert_same(got: object, want: object, where: str) -> None:
    inside_embed = where.startswith(".embed")
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), where
        for k in want:
            _assert_same(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        if inside_embed and want and all(isinstance(x, float | int) for x in want):
            assert np.allclose(got, want, rtol=1e-4, atol=1e-6), where
        else:
            for i, (g, w) in enumerate(zip(got, want, strict=True)):
                _assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and inside_embed:
        assert got == pytest.approx(want, rel=1e-4, abs=1e-6), where
    else:
        assert got == want, where


def test_trains_only_on_the_protocol_rows(spec: dict) -> None:
    """No own data in the shipped model: the artifact records the protocol's training rows only,
    and no extra training file sits next to the training script."""
    from tools.injection_training import train

    assert spec["train_rows"] == len(train_split()) == 2221
    assert sorted(p.name for p in train.DEV_TRIGGER_SET.parent.glob("*.txt")) == [train.DEV_TRIGGER_SET.name]
    assert not list(ARTIFACT.parent.glob("*.txt"))  # the runtime package ships no training data


def test_check_runs_from_the_repository_root() -> None:
    """`python -m tools.injection_training.train --check` is the documented command (READMEs)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-m", "tools.injection_training.train", "--help"], cwd=root,
                         capture_output=True, text=True, check=True).stdout
    assert "--check" in out and "injection_model.json.gz" in out

