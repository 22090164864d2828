"""evals/README.md as a test.

Convention (shared by tests/docs/test_*_readme.py, extending the root README's ```bash test):
a fenced block whose info string is `LANG test id=NAME [file=PATH] [background]` is an example
that runs here, in README order, in a temporary copy of examples/ (tests/docs/readme.py):
bash blocks run as one terminal session (exported variables carry over) with this venv's `sluice`
first on PATH; python blocks run with this venv's python; a block with file=PATH is written there
first (YAML is then loaded by the real config/suite/prompt models, so a wrong key fails); a
`background` block is `sluice serve ...`, kept running on a free port that replaces 127.0.0.1:4000 in
every block. Each block has a check below (CHECKS, same order), and a runnable block without the
mark fails the test. `<!-- fields: module:name -->` before a table: the table lists exactly that
object's fields, with the code's defaults; `docs:json_report` / `docs:json_trial` are checked
against a real JSON report here.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from tests.docs.readme import (
    ROOT,
    Result,
    Session,
    check_field_tables,
    field_tables,
    undocumented_options,
    unmarked_examples,
    walk,
)

README = ROOT / "evals" / "README.md"


def _report(s: Session, name: str) -> dict:
    return json.loads((s.ws / "out" / name).read_text())


def _replay(r: Result, s: Session) -> None:
    assert "extract-order -> extract-order@1  PASSED  pass rate 83.3%" in r.out
    data = _report(s, "extract.json")
    assert data["format"] == "sluice-eval-run/1" and data["status"] == "passed" and data["mode"] == "replay"
    assert data["scores"]["pass_rate"] == pytest.approx(5 / 6) and data["stats"]["replayed"] == 6
    tables = field_tables(README)
    assert sorted(r["name"] for r in tables["docs:json_report"]) == sorted(data)
    assert sorted(r["name"] for r in tables["docs:json_trial"]) == sorted(data["trials"][0])
    suite = ET.parse(s.ws / "out" / "extract.xml").getroot().find("testsuite")
    # 6 trials + 1 threshold; `invoice` fails, tolerated by the thresholds: the file is green
    assert suite.get("tests") == "7" and suite.get("failures") == "0" and suite.get("errors") == "0"
    assert suite.find("testcase[@name='invoice']/failure") is None
    assert "tolerated" in suite.find("testcase[@name='invoice']/system-out").text
    assert "eval `extract-order`: passed" in (s.ws / "out" / "extract.md").read_text()
    assert (s.ws / "out" / "extract.html").read_text().startswith("<!doctype html>")


def _gate(r: Result, s: Session) -> None:
    from prompts import PromptRegistry

    assert re.search(r"attestation \w+: support-answer@1 passed", r.out)
    assert "v2: exit 1" in r.out and "FAILED" in r.out
    assert "latency" not in r.out.split("vs out/v1.json")[-1]  # replayed latency is not compared
    md = (s.ws / "out" / "v2.md").read_text()
    assert "eval `support-answer`: failed" in md and re.search(r"\*\*Against out/v1.json:\*\* [1-9]\d* regression", md)
    assert "support-answer: production - -> 1" in r.out
    assert PromptRegistry(s.ws / "examples" / "prompts").labels("support-answer") == {"production": 1}


def _jsonl(r: Result, s: Session) -> None:
    from evals.dataset import load_cases

    cases = load_cases("data/questions.jsonl", s.ws / "demo" / "evals")
    assert [c.id for c in cases] == ["colour", "fruit"] and cases[0].assert_[0].type == "icontains"


def _csv(r: Result, s: Session) -> None:
    from evals.dataset import load_cases

    late, ret = load_cases("data/orders.csv", s.ws / "demo" / "evals")
    assert late.id == "late" and late.vars == {"message": "Hi, my order A-48213 never arrived."}
    assert late.expected == "A-48213" and ret.expected == "C-55510"


def _judged(r: Result, s: Session) -> None:
    from evals.runner import check_suite
    from evals.suite import suite_from_dict

    suite = suite_from_dict(yaml.safe_load(r.out))
    check_suite(suite)  # every assertion type exists; every threshold names a metric
    assert suite.spec.judge_model == "gpt-4o-mini" and len(suite.spec.assert_) == 4


def _suite(r: Result, s: Session) -> None:
    from evals.runner import check_suite
    from evals.suite import load_suite

    suite = load_suite(s.ws / "demo" / "evals" / "mock-json.yaml")
    check_suite(suite)
    assert suite.spec.repeats == 3 and len(suite.cases) == 2


def _checks(r: Result, s: Session) -> None:
    assert (s.ws / "demo" / "evals" / "demo_checks.py").exists()


def _config(r: Result, s: Session) -> None:
    from gateway.config import load_config

    cfg = load_config(s.ws / "demo" / "sluice.yaml")
    assert cfg.group("mock") is not None and cfg.group("mock").deployments[0].price is not None


def _serve(r: Result, s: Session) -> None:
    assert s.server is not None and s.server.poll() is None


def _live(r: Result, s: Session) -> None:
    first, second = [line for line in r.out.splitlines() if line.startswith("mock-json -> mock")]
    assert "PASSED" in first and "calls 6 cached 0" in first, first
    assert "PASSED" in second and "calls 0 cached 6" in second, second
    data = _report(s, "live.json")
    assert data["stats"]["cost_usd"] > 0 and data["scores"]["pass_hat_k"] == 1.0
    assert {"cost", "latency", "short-reply", "icontains", "is-json", "json-schema"} <= set(data["metrics"])


def _record(r: Result, s: Session) -> None:
    name = r.out.split()[-1]  # what `ls` printed, after the run's summary
    assert re.fullmatch(r"[0-9a-f]{12}\.json", name)
    cassette = json.loads((s.ws / "demo" / "evals" / "cassettes" / "mock-json" / name).read_text())
    assert len(cassette["interactions"]) == 6 and {i["repeat"] for i in cassette["interactions"]} == {"0", "1", "2"}


def _python(r: Result, s: Session) -> None:
    status, scores = r.out.splitlines()
    assert status == "passed 0 6 1.0"
    assert scores.split() == sorted(["cost", "icontains", "is-json", "json-schema", "latency", "pass_at_k",
                                     "pass_hat_k", "pass_rate", "short-reply"])


CHECKS = {"replay": _replay, "gate": _gate, "jsonl": _jsonl, "csv": _csv, "judged": _judged, "suite": _suite,
          "checks": _checks, "config": _config, "serve": _serve, "live": _live, "record": _record,
          "python": _python}


@pytest.mark.slow
def test_readme_examples_run(tmp_path: Path) -> None:
    session = Session(tmp_path)
    try:
        walk(session, README, CHECKS)
    finally:
        session.close()


def test_every_example_is_marked() -> None:
    assert unmarked_examples(README) == []


def test_field_tables_match_the_code() -> None:
    check_field_tables(README, ["evals.suite:SuiteSpec", "evals.suite:Target", "evals.suite:Threshold",
                                "evals.dataset:Case", "evals.dataset:AssertionSpec", "evals.assertions:CHECKS",
                                "evals.assertions.ragas_checks:NON_LLM", "evals.assertions.ragas_checks:LLM"])


def test_negation_column_matches_the_code() -> None:
    from evals.assertions.base import NEGATABLE

    rows = field_tables(README)["evals.assertions:CHECKS"]
    assert {r["name"] for r in rows if r["`not-`"] == "yes"} == NEGATABLE


def test_cli_options_are_documented() -> None:
    from evals.cli import app

    assert undocumented_options(README, app) == []


def test_builtin_scores_are_documented() -> None:
    from evals.runner import BUILTIN_SCORES

    text = README.read_text(encoding="utf-8")
    assert [s for s in BUILTIN_SCORES if f"`{s}`" not in text] == []
