"""Issue 16/17 regressions on the eval side: attestations bound to suite, dataset and cassette, a
tampered cassette that no longer promotes, datasets kept inside the suite's folder, honest
baseline comparisons, bounded judge calls, and the example CI workflow's per-suite status."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from evals import RunOptions, SuiteError, load_suite, run_suite_file, suite_from_dict
from evals.attest import attest
from evals.reports.baseline import compare
from gateway.cli.prompts import app as prompts_app
from prompts import PromotionRefused, PromptRegistry, attestations_for, promote
from tests.evals.fake_openai import FakeOpenAI, last_user
from tests.prompts.helpers import write_prompt

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


@pytest.fixture
def ws(tmp_path):
    """A registry with prompt `up` guarded by suites/up.yaml, whose dataset is a file beside it."""
    write_prompt(tmp_path / "reg", "up", 1, user="{{ question }}", suite="../../suites/up.yaml")
    (tmp_path / "suites" / "data").mkdir(parents=True)
    (tmp_path / "suites" / "data" / "up.jsonl").write_text('{"id": "a", "vars": {"question": "a"}, "expected": "A"}\n')
    (tmp_path / "suites" / "up.yaml").write_text(yaml.safe_dump({
        "name": "up", "registry": "../reg", "target": {"prompt": "up@1"}, "dataset": "data/up.jsonl",
        "assert": [{"type": "equals"}]}))
    return tmp_path


def run(ws, mode, answer=lambda b: last_user(b).upper()):
    fake = FakeOpenAI(answer)
    return asyncio.run(run_suite_file(ws / "suites" / "up.yaml",
                                      RunOptions(base_url="http://f/v1", transport=fake.transport, mode=mode)))


def fingerprint(path):
    from evals.attest import suite_fingerprint

    return suite_fingerprint(path)


def test_an_attestation_names_its_suite_dataset_and_cassette(ws):
    att = attest(run(ws, "record"), ws / "reg")
    assert (att.suite_path, att.dataset_path, att.mode) == ("../suites/up.yaml", "../suites/data/up.jsonl", "record")
    (cassette,) = (ws / "suites" / "cassettes" / "up").glob("*.json")
    import hashlib

    assert att.cassette_hash == "sha256:" + hashlib.sha256(cassette.read_bytes()).hexdigest()


def test_a_tampered_cassette_does_not_promote_but_a_faithful_replay_does(ws):
    reg = PromptRegistry(ws / "reg")
    attest(run(ws, "record", answer=lambda b: "wrong"), ws / "reg")  # the signed live run failed
    (cassette,) = (ws / "suites" / "cassettes" / "up").glob("*.json")
    faithful = cassette.read_bytes()
    assert b"wrong" in faithful
    cassette.write_bytes(faithful.replace(b"wrong", b"A"))  # rewrite the recorded answers
    tampered = attest(run(ws, "replay"), ws / "reg")
    assert tampered.passed  # the replay itself is green...
    with pytest.raises(PromotionRefused, match="not written by a signed recording run"):
        promote(reg, "up", 1, "production", actor="ci", fingerprint=fingerprint)  # ...and does not count
    attest(run(ws, "record"), ws / "reg")
    assert attest(run(ws, "replay"), ws / "reg").passed
    assert promote(reg, "up", 1, "production", actor="ci", fingerprint=fingerprint).kind == "promote"
    assert len(attestations_for(reg, "up")) == 4  # every run is kept


def test_another_suite_with_the_same_file_name_does_not_count(ws, tmp_path):
    other = tmp_path / "elsewhere"
    (other / "data").mkdir(parents=True)
    (other / "data" / "up.jsonl").write_text('{"id": "z", "vars": {"question": "z"}, "expected": "Z"}\n')
    (other / "up.yaml").write_text(yaml.safe_dump({
        "name": "up", "registry": "../reg", "target": {"prompt": "up@1"}, "dataset": "data/up.jsonl",
        "assert": [{"type": "equals"}], "thresholds": {"pass_rate": 0.0}}))
    fake = FakeOpenAI(lambda b: "nonsense")
    result = asyncio.run(run_suite_file(other / "up.yaml", RunOptions(base_url="http://f/v1", transport=fake.transport)))
    attest(result, ws / "reg")
    with pytest.raises(PromotionRefused, match="another suite file"):
        promote(PromptRegistry(ws / "reg"), "up", 1, "production", actor="ci", fingerprint=fingerprint)


def test_a_changed_dataset_voids_earlier_runs(ws):
    attest(run(ws, "live"), ws / "reg")
    (ws / "suites" / "data" / "up.jsonl").write_text('{"id": "a", "vars": {"question": "b"}, "expected": "B"}\n')
    with pytest.raises(PromotionRefused, match="earlier version of its suite or dataset"):
        promote(PromptRegistry(ws / "reg"), "up", 1, "production", actor="ci", fingerprint=fingerprint)


def test_promote_run_prints_the_attestation_id_and_marks_the_actor_claimed(ws):
    reg = PromptRegistry(ws / "reg")
    attest(run(ws, "live"), ws / "reg")
    res = runner.invoke(prompts_app, ["--registry", str(ws / "reg"), "promote", "up", "1", "--actor", "[bold]eve[/bold]"])
    assert res.exit_code == 0, res.output
    (move,) = reg.label_moves("up")
    assert f"[attestation {move.attestation_id}]" in res.output
    assert move.actor == "[bold]eve[/bold]" and move.actor_claimed
    hist = runner.invoke(prompts_app, ["--registry", str(ws / "reg"), "history", "up"], env={"COLUMNS": "250"})
    assert "[bold]eve[/bold] (claimed)" in hist.output


def test_a_refusal_prints_thresholds_readably_and_says_how_to_fix(ws):
    attest(run(ws, "live", answer=lambda b: "wrong"), ws / "reg")
    res = runner.invoke(prompts_app, ["--registry", str(ws / "reg"), "promote", "up", "1"])
    assert res.exit_code == 1
    assert "pass_rate = 0  (needs >= 1)" in res.output and "{'min'" not in res.output
    assert "To fix" in res.output


def test_a_dataset_outside_the_suite_folder_is_refused(tmp_path):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.csv").write_text("id,input\nroot,hunter2\n")
    (tmp_path / "suite").mkdir()
    suite = tmp_path / "suite" / "s.yaml"
    suite.write_text(yaml.safe_dump({"name": "s", "target": {"model": "m"}, "dataset": "../outside/secret.csv"}))
    with pytest.raises(SuiteError, match="outside the suite's folder") as e:
        load_suite(suite)
    assert "hunter2" not in str(e.value) and str(tmp_path) not in str(e.value)
    assert load_suite(suite, allow_outside_dataset=True).cases[0].input == "hunter2"


def test_an_absolute_dataset_path_is_refused_too(tmp_path):
    (tmp_path / "secret.csv").write_text("id,input\nroot,hunter2\n")
    (tmp_path / "suite").mkdir()
    with pytest.raises(SuiteError, match="outside the suite's folder"):
        suite_from_dict({"name": "s", "target": {"model": "m"}, "dataset": str(tmp_path / "secret.csv")},
                        path=tmp_path / "suite" / "s.yaml")


def _report(**over):
    base = {"suite_hash": "sha256:" + "1" * 64, "dataset_hash": "sha256:" + "2" * 64, "mode": "replay",
            "cases": [{"id": "a", "trials": 1, "passes": 1}], "scores": {"pass_rate": 1.0, "latency": 100.0}}
    return {**base, **over}


def test_baseline_ignores_replayed_latency_and_warns_when_the_suite_or_dataset_changed():
    same = compare(_report(scores={"pass_rate": 1.0, "latency": 900.0}), _report())
    assert same.regressions == [] and same.warnings == []
    live = compare(_report(mode="live", scores={"pass_rate": 1.0, "latency": 900.0}), _report(mode="live"))
    assert [c.name for c in live.regressions] == ["latency"]  # a live latency change still counts
    changed = compare(_report(dataset_hash="sha256:" + "3" * 64), _report())
    assert len(changed.warnings) == 1 and "dataset changed" in changed.warnings[0]


async def test_llm_judge_requests_carry_max_tokens():
    from evals.assertions import CheckContext, evaluate
    from evals.client import EvalClient, Reply
    from evals.dataset import AssertionSpec, Case
    from evals.suite import SuiteSpec

    fake = FakeOpenAI(lambda b: '{"pass": true, "score": 1, "reason": "ok"}')
    client = EvalClient(base_url="http://fake/v1", suite="t", transport=fake.transport)
    suite = SuiteSpec.model_validate({"name": "t", "target": {"model": "m"}, "dataset": [{"input": "q"}]})
    ctx = CheckContext(case=Case(id="c", input="q"), output="out", reply=Reply(text="out", latency_ms=1.0),
                       client=client, suite=suite, user_input="q", vars={})
    try:
        await evaluate(AssertionSpec.model_validate({"type": "llm-rubric", "value": "ok?", "model": "judge"}), ctx)
    finally:
        await client.aclose()
    assert json.loads(fake.requests[0].content)["max_tokens"] == 256


def test_the_example_ci_workflow_marks_only_the_failing_suite(tmp_path):
    wf = yaml.safe_load((EXAMPLES / "ci" / "github-actions-evals.yml").read_text())
    (step,) = [s for s in wf["jobs"]["evals"]["steps"] if s.get("id") == "run"]
    fake = tmp_path / ".venv" / "bin" / "sluice"
    fake.parent.mkdir(parents=True)
    # the first suite fails (exit 1), the second passes
    fake.write_text('#!/bin/sh\ncase "$3" in first.yaml) exit 1;; *) exit 0;; esac\n')
    fake.chmod(0o755)
    (tmp_path / "changed.txt").write_text("first.yaml 1\nsecond.yaml 1\n")
    out = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, capture_output=True, text=True,
                         env=dict(os.environ), timeout=30, check=False)
    errors = [line for line in out.stdout.splitlines() if line.startswith("::error::")]
    assert errors == ["::error::first-v1 failed (exit 1)"], out.stdout + out.stderr
    assert out.returncode == 1  # the job still fails as a whole


def test_the_json_report_stats_carry_the_cassette_hash(ws):
    result = run(ws, "record")
    assert result.stats["cassette_hash"].startswith("sha256:")
    assert orjson.loads(orjson.dumps(result.to_dict()))["stats"]["cassette_hash"] == result.stats["cassette_hash"]
