"""`sluice eval run` end to end through its Typer app: reports written, exit codes 0 / 1 / 2."""

import asyncio
import xml.etree.ElementTree as ET

import orjson
import yaml
from typer.testing import CliRunner

from evals import RunOptions, load_suite, run_suite_file
from evals.cli import app
from tests.evals.fake_openai import FakeOpenAI, last_user

runner = CliRunner()


def make_suite(tmp_path, threshold=1.0):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({
        "name": "cli", "target": {"model": "m"}, "thresholds": {"pass_rate": threshold},
        "dataset": [{"id": "a", "input": "x", "expected": "X"}, {"id": "b", "input": "y", "expected": "Z"}],
        "assert": [{"type": "equals"}]}))
    fake = FakeOpenAI(lambda b: last_user(b).upper())
    asyncio.run(run_suite_file(load_suite(path), RunOptions(base_url="http://f/v1", transport=fake.transport,
                                                            mode="record")))
    return path


def test_replay_reports_and_exit_codes(tmp_path):
    suite = make_suite(tmp_path, threshold=0.5)
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(suite), "--replay", "--json", str(out / "r.json"), "--junit", str(out / "r.xml"),
                              "--markdown", str(out / "r.md"), "--html", str(out / "r.html")])
    assert res.exit_code == 0, res.output
    assert orjson.loads((out / "r.json").read_bytes())["scores"]["pass_rate"] == 0.5
    junit = ET.parse(out / "r.xml").getroot().find("testsuite")
    # the suite passed: the trial its threshold tolerates is no <failure> (CI would show the gate red)
    assert junit.get("failures") == "0" and junit.find("testcase/failure") is None
    assert "tolerated by the suite's thresholds" in junit.find("testcase[@name='b']/system-out").text
    assert "`b`" in (out / "r.md").read_text() and (out / "r.html").read_text().startswith("<!doctype html>")

    strict = tmp_path / "strict.yaml"
    strict.write_text(suite.read_text().replace("pass_rate: 0.5", "pass_rate: 1.0"))
    (tmp_path / "cassettes" / "cli").rename(tmp_path / "cassettes" / "cli-keep")
    res = runner.invoke(app, ["run", str(strict), "--replay"])
    assert res.exit_code == 2 and "no cassette at" in res.output  # moved away: could not run
    (tmp_path / "cassettes" / "cli-keep").rename(tmp_path / "cassettes" / "cli")
    res = runner.invoke(app, ["run", str(strict), "--replay", "--baseline", str(out / "r.json")])
    assert res.exit_code == 1, res.output  # thresholds failed


def test_could_not_run_is_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntarget: {model: m}\ndataset: nowhere.jsonl\n")
    res = runner.invoke(app, ["run", str(bad), "--replay"])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(app, ["run", str(make_suite(tmp_path)), "--record", "--replay"])
    assert res.exit_code == 2


def test_attest_records_for_the_prompt_gate(tmp_path):
    from prompts import PromptRegistry, latest_attestation
    from tests.prompts.helpers import write_prompt

    write_prompt(tmp_path / "reg", "up", 1, user="{{ question }}")
    suite = tmp_path / "up.yaml"
    suite.write_text(yaml.safe_dump({"name": "up", "registry": "reg", "target": {"prompt": "up"},
                                     "dataset": [{"vars": {"question": "a"}, "expected": "A"}],
                                     "assert": [{"type": "equals"}]}))
    fake = FakeOpenAI(lambda b: last_user(b).upper())
    asyncio.run(run_suite_file(load_suite(suite), RunOptions(base_url="http://f/v1", transport=fake.transport,
                                                             mode="record")))
    res = runner.invoke(app, ["run", str(suite), "--replay", "--attest"])
    assert res.exit_code == 0, res.output
    reg = PromptRegistry(tmp_path / "reg")
    att = latest_attestation(reg, "up", reg.get("up", 1).content_hash())
    assert att is not None and att.passed and att.suite == "up" and att.mode == "replay"
    model_suite = make_suite(tmp_path)
    res = runner.invoke(app, ["run", str(model_suite), "--replay", "--attest"])
    assert res.exit_code == 2 and "nothing to attest" in res.output


def test_public_names():
    import evals
    import prompts

    assert "run_suite_file" in evals.__all__ and "SuiteError" in evals.__all__
    assert {"PromptRegistry", "promote", "rollback", "render"} <= set(prompts.__all__)
    assert all(hasattr(evals, n) for n in evals.__all__) and all(hasattr(prompts, n) for n in prompts.__all__)


def test_every_public_name_is_listed():
    import evals

    assert set(evals.__all__) == set(evals._WHERE)
