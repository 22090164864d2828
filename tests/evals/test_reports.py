import xml.etree.ElementTree as ET

import orjson

from evals import RunOptions, run_suite_file, suite_from_dict
from evals.reports import compare, to_html, to_junit, to_markdown
from tests.evals.fake_openai import FakeOpenAI, last_user


def suite():
    return suite_from_dict({
        "name": "rep", "target": {"model": "m"},
        "dataset": [{"id": "good", "input": "say hi", "expected": "hi"},
                    {"id": "bad", "input": "say <script>", "expected": "ok"}],
        "assert": [{"type": "equals"}], "thresholds": {"pass_rate": 0.9}})


async def run(answer):
    return await run_suite_file(suite(), RunOptions(base_url="http://f/v1", transport=FakeOpenAI(answer).transport))


def echo(body):
    return last_user(body).removeprefix("say ")


async def test_json_junit_markdown_html():
    r = await run(echo)
    data = orjson.loads(orjson.dumps(r.to_dict()))
    assert data["format"] == "sluice-eval-run/1" and data["status"] == "failed"
    assert [t["case_id"] for t in data["trials"]] == ["good", "bad"]

    root = ET.fromstring(to_junit(r))
    ts = root.find("testsuite")
    assert ts.get("tests") == "3" and ts.get("failures") == "2"  # one case + the pass_rate threshold
    failed = [tc.get("name") for tc in ts.iter("testcase") if tc.find("failure") is not None]
    assert failed == ["bad", "pass_rate"]

    md = to_markdown(r)
    assert "❌" in md and "`bad`" in md and "pass_rate" in md and "50.0%" in md

    html = to_html(r)
    assert "<script>" not in html and "&lt;script&gt;" in html  # model output is escaped


async def test_baseline_comparison_lists_regressions_and_improvements():
    before = (await run(lambda b: "hi")).to_dict()  # good passes, bad fails
    after = (await run(lambda b: "ok")).to_dict()   # good fails, bad passes
    cmp = compare(after, before, "main")
    assert [(c.kind, c.name) for c in cmp.regressions] == [("case", "good")]
    assert [(c.kind, c.name) for c in cmp.improvements] == [("case", "bad")]
    worse = (await run(lambda b: "nope")).to_dict()
    cmp2 = compare(worse, before)
    assert ("metric", "pass_rate") in [(c.kind, c.name) for c in cmp2.regressions]
    r = await run(lambda b: "nope")
    assert "Regressions" in to_markdown(r, cmp2) and "regression" in to_html(r, cmp2)
