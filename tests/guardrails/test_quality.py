"""Published detection quality (guardrails/README.md), asserted on the datasets.

Injection follows issue 20's protocol (guardrails/README.md, "Protocol (issue 20)"): the test
splits were scored once for the released artifact and the whole scanner (structural rules +
classifier). Targets the shipped model does not reach are asserted as strict xfails, so they show
up in every run and turn into failures the day they start passing without the README being updated.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guardrails.datasets import dataset_path
from guardrails.evaluation import eval_injection, eval_pii, wilson
from guardrails.scanners.injection import InjectionScanner
from guardrails.scanners.pii import PiiScanner
from guardrails.types import ScanContext

DATA = Path(__file__).parent / "data"
PII_SET = dataset_path("pii", "presidio_synth_v2.json")
MUST = ("CREDIT_CARD", "EMAIL_ADDRESS", "IBAN_CODE", "IP_ADDRESS", "US_SSN")


def _lines(path: Path) -> list[str]:
    return [s.strip() for s in path.read_text(encoding="utf-8").splitlines() if s.strip() and not s.startswith("#")]


@pytest.fixture(scope="module", params=["default", "conservative"])
def injection(request: pytest.FixtureRequest) -> InjectionScanner:
    s = InjectionScanner(operating_point=request.param)
    s.warm()
    return s


@pytest.fixture(scope="module")
def inj_results(injection: InjectionScanner) -> dict:
    return eval_injection(injection)


@pytest.fixture(scope="module")
def pii_results() -> dict:
    return eval_pii(PiiScanner(), PII_SET)


def test_wilson_interval() -> None:
    lo, hi = wilson(62, 146)
    assert abs(lo - 0.3474) < 1e-3 and abs(hi - 0.5058) < 1e-3  # 62/146 = 0.4247, by hand
    assert wilson(0, 0) == (0.0, 1.0)
    assert wilson(10, 10)[1] == 1.0


@pytest.mark.parametrize("entity", MUST)
def test_pii_recall_and_precision(pii_results: dict, entity: str) -> None:
    for scoring in ("strict", "overlap"):
        r = pii_results[entity][scoring]
        assert r["recall"] >= 0.95, (entity, scoring, r)
        assert r["precision"] >= 0.90, (entity, scoring, r)


def test_pii_micro_precision_over_claimed(pii_results: dict) -> None:
    assert pii_results["ALL (micro, strict)"]["strict"]["precision"] >= 0.90


# Measured on the shipped artifact (guardrails/README.md); floors catch regressions, the issue's
# targets that an operating point misses are strict xfails.
MEASURED = {
    "default": {"jackhhao_f1": 0.9668, "gandalf_recall": 0.9464, "deepset_f1": 0.7723, "trigger_fpr": 0.0303,
                "docs_recall": 0.625},
    "conservative": {"jackhhao_f1": 0.9474, "gandalf_recall": 0.9018, "deepset_f1": 0.5909, "trigger_fpr": 0.0101,
                     "docs_recall": 0.5},
}
TARGETS = {"jackhhao_f1": 0.97, "gandalf_recall": 0.98, "deepset_f1": 0.90, "trigger_fpr": 0.02}


def _metric(name: str, injection: InjectionScanner, inj_results: dict) -> float:
    if name == "trigger_fpr":
        texts = _lines(DATA / "benign_trigger_words.txt")
        assert len(texts) >= 90
        return sum(bool(injection.scan(t, ScanContext())) for t in texts) / len(texts)
    source, stat = name.split("_")
    return float(inj_results[source][stat])


@pytest.mark.parametrize("name", list(TARGETS))
def test_injection_no_worse_than_published(name: str, injection: InjectionScanner, inj_results: dict) -> None:
    got = _metric(name, injection, inj_results)
    floor = MEASURED[injection.operating_point][name]
    assert (got <= floor + 1e-3) if name == "trigger_fpr" else (got >= floor - 1e-3), (name, got)  # 4-digit rounding


@pytest.mark.parametrize("name", list(TARGETS))
def test_injection_target(name: str, injection: InjectionScanner, inj_results: dict, request: pytest.FixtureRequest) -> None:
    m = MEASURED[injection.operating_point][name]
    if (m > TARGETS[name]) if name == "trigger_fpr" else (m < TARGETS[name]):
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"{injection.operating_point}: target not reached (README)"))
    got = _metric(name, injection, inj_results)
    assert (got <= TARGETS[name]) if name == "trigger_fpr" else (got >= TARGETS[name]), (name, got)


def test_deepset_benign_fpr(inj_results: dict) -> None:
    assert inj_results["deepset"]["fpr"] <= 0.02, inj_results["deepset"]


def test_indirect_injection_in_documents(injection: InjectionScanner) -> None:
    rows = [json.loads(s) for s in (DATA / "documents.jsonl").read_text().splitlines() if s.strip()]
    hits = [(r["label"], bool(injection.scan(r["text"], ScanContext()))) for r in rows]
    attacks = [h for lab, h in hits if lab == 1]
    benign = [h for lab, h in hits if lab == 0]
    assert sum(attacks) / len(attacks) >= MEASURED[injection.operating_point]["docs_recall"] - 1e-9, hits
    assert sum(benign) <= 1, hits
