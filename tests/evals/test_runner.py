import asyncio
import json

import httpx

from evals import RunOptions, run_suite_file, suite_from_dict
from evals.cassette import Cassette
from tests.evals.fake_openai import FakeOpenAI, last_user

CAPITALS = {"France": "Paris", "Peru": "Lima", "Japan": "Tokyo", "Chile": "Santiago"}


def geo_answer(body):
    q = last_user(body)
    return next((city for country, city in CAPITALS.items() if country in q), "I don't know")


def geo_suite(**kw):
    d = {"name": "geo", "target": {"model": "m", "input": "Capital of {{ country }}?", "params": {"temperature": 0}},
         "dataset": [{"id": c.lower(), "vars": {"country": c}, "expected": city} for c, city in CAPITALS.items()],
         "assert": [{"type": "equals"}], "thresholds": {"pass_rate": 1.0}}
    d.update(kw)
    return suite_from_dict(d)


def opts(fake, **kw):
    return RunOptions(base_url="http://fake/v1", transport=fake.transport, **kw)


async def test_pass_and_tags_and_cost():
    fake = FakeOpenAI(geo_answer, cost_usd=0.002)
    r = await run_suite_file(geo_suite(), opts(fake))
    assert r.status == "passed" and r.exit_code == 0 and r.scores["pass_rate"] == 1.0
    assert r.stats["model_calls"] == 4 and abs(r.stats["cost_usd"] - 0.008) < 1e-9
    assert {req.headers["x-sluice-tags"] for req in fake.requests} == {"eval,suite=geo"}
    assert json.loads(fake.requests[0].content)["temperature"] == 0


async def test_thresholds_fail_gives_exit_1_and_failing_cases():
    fake = FakeOpenAI(lambda b: "Paris")
    r = await run_suite_file(geo_suite(thresholds={"pass_rate": 0.5, "equals": {"min": 0.2, "max": 0.9}}), opts(fake))
    assert r.status == "failed" and r.exit_code == 1
    assert [(t.metric, t.passed) for t in r.thresholds] == [("pass_rate", False), ("equals", True)]
    assert {f["case"] for f in r.failing_cases()} == {"peru", "japan", "chile"}
    lo, hi = r.pass_rate_ci
    assert lo < 0.25 < hi


async def test_concurrency_is_bounded():
    in_flight, peak = 0, 0

    async def handler(request):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return FakeOpenAI(geo_answer).handle(request)

    suite = geo_suite(concurrency=3, repeats=5)
    r = await run_suite_file(suite, RunOptions(base_url="http://fake/v1", transport=httpx.MockTransport(handler)))
    assert r.status == "passed" and len(r.trials) == 20
    assert peak == 3


async def test_transient_errors_are_retried():
    fake = FakeOpenAI(geo_answer, fail_first=2, fail_status=503)
    r = await run_suite_file(geo_suite(retries=2, dataset=[{"vars": {"country": "Peru"}, "expected": "Lima"}]),
                             opts(fake))
    assert r.status == "passed" and len(fake.requests) == 3


async def test_client_errors_fail_the_trial_and_all_failing_is_exit_2():
    fake = FakeOpenAI(geo_answer, fail_first=100, fail_status=400)
    r = await run_suite_file(geo_suite(retries=3), opts(fake))
    assert len(fake.requests) == 4  # 4xx is not retried
    assert r.status == "error" and r.exit_code == 2 and "every model call failed" in r.error
    assert all(t.error and "400" in t.error for t in r.trials)


async def test_unreachable_endpoint_is_exit_2():
    def boom(request):
        raise httpx.ConnectError("connection refused")
    r = await run_suite_file(geo_suite(retries=0), RunOptions(base_url="http://fake/v1", transport=httpx.MockTransport(boom)))
    assert r.exit_code == 2 and "could not reach" in r.trials[0].error


async def test_repeats_pass_at_k_and_pass_hat_k():
    calls = {}

    def flaky(body):  # france always right, peru right on every other call, the rest never
        q = last_user(body)
        calls[q] = calls.get(q, 0) + 1
        if "France" in q or ("Peru" in q and calls[q] % 2 == 0):
            return geo_answer(body)
        return "?"

    r = await run_suite_file(geo_suite(repeats=4, thresholds={"pass_at_k": 0.5, "pass_hat_k": 0.5}), opts(FakeOpenAI(flaky)))
    by_case = {c["id"]: c for c in r.cases}
    assert by_case["france"]["passes"] == 4 and by_case["peru"]["passes"] == 2
    assert r.scores["pass_at_k"] == 0.5 and r.scores["pass_hat_k"] == 0.25
    assert r.scores["pass_rate"] == 6 / 16 and r.status == "failed"


async def test_cache_rerun_makes_no_model_calls(tmp_path):
    cache = tmp_path / "cache.sqlite"
    fake = FakeOpenAI(geo_answer)
    first = await run_suite_file(geo_suite(repeats=2), opts(fake, cache_path=cache))
    assert first.stats["model_calls"] == 8
    fake2 = FakeOpenAI(geo_answer)
    again = await run_suite_file(geo_suite(repeats=2), opts(fake2, cache_path=cache))
    assert fake2.requests == [] and again.stats["cache_hits"] == 8 and again.status == "passed"
    assert [t.output for t in again.trials] == [t.output for t in first.trials]
    changed = geo_suite(repeats=2, target={"model": "m", "input": "What is the capital of {{ country }}?"})
    fake3 = FakeOpenAI(geo_answer)
    await run_suite_file(changed, opts(fake3, cache_path=cache))
    assert len(fake3.requests) == 8  # a changed target misses the cache


async def test_record_then_replay_without_model(tmp_path):
    cassette = tmp_path / "geo.json"
    fake = FakeOpenAI(geo_answer, cost_usd=0.001)
    rec = await run_suite_file(geo_suite(repeats=2), opts(fake, mode="record", cassette=cassette))
    assert rec.status == "passed" and len(Cassette.load(cassette).entries) == 8

    def no_model(request):
        raise AssertionError("replay must not reach the model")

    rep = await run_suite_file(geo_suite(repeats=2), RunOptions(mode="replay", cassette=cassette,
                                                                transport=httpx.MockTransport(no_model)))
    assert rep.status == "passed" and rep.stats["replayed"] == 8 and rep.stats["model_calls"] == 0
    assert [t.output for t in rep.trials] == [t.output for t in rec.trials]
    assert abs(rep.stats["cost_usd"] - 0.008) < 1e-9  # the recorded cost header replays too
    edited = geo_suite(repeats=2, target={"model": "m", "input": "Capital city of {{ country }}?"})
    miss = await run_suite_file(edited, RunOptions(mode="replay", cassette=cassette))
    assert miss.status == "error" and miss.exit_code == 2 and "re-record it with --record" in miss.error


async def test_replay_without_cassette_is_a_suite_error(tmp_path):
    import pytest

    from evals import SuiteError
    with pytest.raises(SuiteError, match="no cassette at"):
        await run_suite_file(geo_suite(), RunOptions(mode="replay", cassette=tmp_path / "none.json"))
    with pytest.raises(SuiteError, match="--base-url"):
        await run_suite_file(geo_suite(), RunOptions())


async def test_prompt_target_renders_and_reports_content_hash(tmp_path):
    from tests.prompts.helpers import write_prompt
    write_prompt(tmp_path / "reg", "geo", 1, user="Capital of {{ question }}?", model="small")
    suite = suite_from_dict({"name": "geo", "registry": str(tmp_path / "reg"), "target": {"prompt": "geo"},
                             "dataset": [{"vars": {"question": "Japan"}, "expected": "Tokyo"}, {"vars": {}}],
                             "assert": [{"type": "equals"}]})
    fake = FakeOpenAI(geo_answer)
    r = await run_suite_file(suite, opts(fake))
    body = fake.chat_calls()[0]
    assert body["model"] == "small" and body["max_tokens"] == 64
    assert r.target["ref"] == "geo@1" and r.target["content_hash"].startswith("sha256:")
    assert r.trials[0].passed and "cannot render target" in r.trials[1].error and "question" in r.trials[1].error


async def test_rag_target_sends_pipeline_model_name():
    fake = FakeOpenAI(lambda b: "From the docs: Lima." if b["model"] == "rag:docs" else "?")
    suite = suite_from_dict({"name": "rag", "target": {"rag": "docs", "system": "cite sources"},
                             "dataset": [{"input": "Capital of Peru?", "expected": "Lima"}],
                             "assert": [{"type": "contains"}]})
    r = await run_suite_file(suite, opts(fake))
    body = fake.chat_calls()[0]
    assert r.status == "passed" and body["model"] == "rag:docs"
    assert body["messages"] == [{"role": "system", "content": "cite sources"},
                                {"role": "user", "content": "Capital of Peru?"}]
    assert r.target["kind"] == "rag" and r.target["ref"] == "rag:docs"


def test_git_commit_of_the_suite_folder(tmp_path):
    from pathlib import Path

    from evals.runner import git_commit
    here = git_commit(Path(__file__).parent)
    assert here is not None and len(here) == 40
    assert git_commit(tmp_path) is None  # not a repository


async def test_recording_gzipped_responses_is_transparent(tmp_path):
    import gzip

    def handler(request):
        resp = FakeOpenAI(geo_answer).handle(request)
        return httpx.Response(200, headers={"content-encoding": "gzip", "content-type": "application/json"},
                              content=gzip.compress(resp.content))

    r = await run_suite_file(geo_suite(), RunOptions(base_url="http://fake/v1", transport=httpx.MockTransport(handler),
                                                     mode="record", cassette=tmp_path / "c.json"))
    assert r.status == "passed", r.failing_cases()
    rep = await run_suite_file(geo_suite(), RunOptions(mode="replay", cassette=tmp_path / "c.json"))
    assert rep.status == "passed"


async def test_stale_cache_entries_are_misses(tmp_path):
    from evals.cache import ResultCache
    from evals.cassette import request_key

    cache = ResultCache(tmp_path / "c.sqlite")
    suite = geo_suite(dataset=[{"vars": {"country": "Peru"}, "expected": "Lima"}])
    body = {"temperature": 0, "model": "m", "messages": [{"role": "user", "content": "Capital of Peru?"}]}
    key = request_key("http://fake/v1 chat/completions", body, 0)
    cache.put(key, {"text": "Lima", "old_field": 1})
    cache.close()
    fake = FakeOpenAI(geo_answer)
    r = await run_suite_file(suite, opts(fake, cache_path=tmp_path / "c.sqlite"))
    assert r.status == "passed" and len(fake.requests) == 1 and r.stats["cache_hits"] == 0
    fresh = ResultCache(tmp_path / "c.sqlite").get(key)
    assert fresh is not None and "old_field" not in fresh and fresh["text"] == "Lima"  # same key, replaced
