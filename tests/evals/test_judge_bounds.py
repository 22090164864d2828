"""Issue #19 item 6: the LLM judge's requests are bounded (a judge that rambles holds the local model).

`llm-rubric` sends `max_tokens`: the suite's `judge_max_tokens` (default 256), or the assertion's
`options.max_tokens`; LLM ragas metrics keep ragas' own bound.
"""

from __future__ import annotations

from typing import Any

import pytest

from evals import RunOptions, SuiteError, run_suite_file, suite_from_dict
from evals.assertions import CheckContext
from evals.assertions.model_checks import JUDGE_MAX_TOKENS
from evals.client import EvalClient, Reply
from evals.dataset import Case
from evals.suite import SuiteSpec
from tests.evals.fake_openai import FakeOpenAI

VERDICT = '{"pass": true, "score": 1, "reason": "ok"}'


def _answer(body: dict[str, Any]) -> str:
    return VERDICT if body["model"] == "judge" else "Paris is the capital of France."


def _suite(**kw: Any) -> Any:
    rubric: dict[str, Any] = {"type": "llm-rubric", "value": "Names the capital correctly", "model": "judge"}
    rubric.update(kw.pop("rubric", {}))
    return suite_from_dict({"name": "bounds", "target": {"model": "m", "input": "{{ q }}"},
                            "dataset": [{"vars": {"q": "Capital of France?"}}], "assert": [rubric], **kw})


async def _judge_bodies(suite: Any) -> list[dict[str, Any]]:
    fake = FakeOpenAI(_answer)
    r = await run_suite_file(suite, RunOptions(base_url="http://fake/v1", transport=fake.transport))
    assert r.status != "error", r.error
    return [b for b in fake.chat_calls() if b["model"] == "judge"]


async def test_the_judge_is_bounded_by_default() -> None:
    bodies = await _judge_bodies(_suite())
    assert len(bodies) == 1 and bodies[0]["max_tokens"] == JUDGE_MAX_TOKENS == 256
    assert SuiteSpec.model_fields["judge_max_tokens"].default == JUDGE_MAX_TOKENS


async def test_the_suite_sets_the_bound_and_an_assertion_overrides_it() -> None:
    assert (await _judge_bodies(_suite(judge_max_tokens=64)))[0]["max_tokens"] == 64
    both = _suite(judge_max_tokens=64, rubric={"options": {"max_tokens": 32}})
    assert (await _judge_bodies(both))[0]["max_tokens"] == 32


@pytest.mark.parametrize("bad", [0, -5, 100_000, True])
def test_an_unbounded_suite_setting_is_refused(bad: Any) -> None:
    with pytest.raises((SuiteError, ValueError)):
        _suite(judge_max_tokens=bad)


@pytest.mark.parametrize("bad", [0, "lots", 10**6, None])
async def test_a_bad_assertion_bound_is_a_suite_error(bad: Any) -> None:
    from evals.assertions import evaluate
    from evals.dataset import AssertionSpec

    fake = FakeOpenAI(_answer)
    client = EvalClient(base_url="http://fake/v1", suite="t", transport=fake.transport)
    suite = SuiteSpec.model_validate({"name": "t", "target": {"model": "m"}, "dataset": [{"input": "q"}]})
    ctx = CheckContext(case=Case(id="c", input="q"), output="out", reply=Reply(text="out", latency_ms=1.0),
                       client=client, suite=suite, user_input="q", vars={})
    spec = AssertionSpec.model_validate({"type": "llm-rubric", "value": "ok?", "model": "judge",
                                         "options": {"max_tokens": bad}})
    try:
        with pytest.raises(SuiteError, match="max_tokens"):
            await evaluate(spec, ctx)
    finally:
        await client.aclose()
    assert fake.chat_calls() == []  # refused before any judge call


async def test_ragas_llm_judges_carry_a_bound() -> None:
    from evals.assertions.ragas_checks import _metric

    fake = FakeOpenAI(_answer)
    client = EvalClient(base_url="http://fake/v1", suite="t", transport=fake.transport)
    suite = SuiteSpec.model_validate({"name": "t", "target": {"model": "m"}, "dataset": [{"input": "q"}],
                                      "judge_model": "judge", "embedding_model": "emb"})
    ctx = CheckContext(case=Case(id="c", input="q"), output="out", reply=Reply(text="out", latency_ms=1.0),
                       client=client, suite=suite, user_input="q", vars={})
    try:
        metric = _metric("faithfulness", ctx, "judge", {})
    finally:
        await client.aclose()
    max_tokens = metric.llm.model_args.get("max_tokens")
    assert isinstance(max_tokens, int) and 0 < max_tokens <= 4096
