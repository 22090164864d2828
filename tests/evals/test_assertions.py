import json

import pytest

from evals.assertions import CheckContext, evaluate
from evals.client import EvalClient, Reply
from evals.dataset import AssertionSpec, Case
from evals.errors import SuiteError
from evals.suite import SuiteSpec
from tests.evals.fake_openai import FakeOpenAI, last_user


def ctx_for(output, *, expected=None, vars=None, client=None, latency=100.0, cost=0.001, **suite):
    case = Case(id="c", vars=vars or {}, expected=expected)
    spec = SuiteSpec.model_validate({"name": "t", "target": {"model": "m"}, "dataset": [{}], **suite})
    reply = Reply(text=output, latency_ms=latency, cost_usd=cost)
    return CheckContext(case=case, output=output, reply=reply, client=client, suite=spec,
                        user_input="the question", vars=case.template_vars())


async def check(spec, ctx):
    return await evaluate(AssertionSpec.model_validate(spec), ctx)


@pytest.mark.parametrize("spec, output, passed", [
    ({"type": "equals", "value": "Paris"}, " Paris\n", True),
    ({"type": "equals", "value": "Paris"}, "paris", False),
    ({"type": "equals", "value": {"a": 1}}, '```json\n{"a": 1}\n```', True),
    ({"type": "equals", "value": {"a": 1}}, "not json", False),
    ({"type": "contains", "value": ["30", "days"]}, "within 30 days", True),
    ({"type": "contains", "value": "Days"}, "within 30 days", False),
    ({"type": "icontains", "value": "DAYS"}, "within 30 days", True),
    ({"type": "contains-any", "value": ["x", "30"]}, "within 30 days", True),
    ({"type": "icontains-any", "value": ["Q", "Z"]}, "within 30 days", False),
    ({"type": "not-icontains", "value": "as an ai"}, "As an AI model I cannot", False),
    ({"type": "regex", "value": r"^\w-\d{5}$"}, "A-12345", True),
    ({"type": "regex", "value": "abc", "options": {"ignore_case": True}}, "xABCx", True),
    ({"type": "is-json"}, '{"a": [1, 2]}', True),
    ({"type": "is-json"}, "{'a': 1}", False),
    ({"type": "json-schema", "value": {"type": "object", "required": ["id"],
                                       "properties": {"id": {"type": "integer"}}}}, '{"id": 3}', True),
    ({"type": "json-schema", "value": {"type": "object", "required": ["id"]}}, '{"x": 3}', False),
    ({"type": "latency", "threshold": 150}, "x", True),
    ({"type": "latency", "threshold": 50}, "x", False),
    ({"type": "cost", "threshold": 0.01}, "x", True),
    ({"type": "cost", "threshold": 0.0001}, "x", False),
    ({"type": "python", "value": "tests.evals.checks_for_tests:has_greeting"}, "Hello there", True),
    ({"type": "python", "value": "tests.evals.checks_for_tests:length_score", "threshold": 0.9}, "short", False),
    ({"type": "python", "value": "tests.evals.checks_for_tests:verdict"}, "all ok", True),
])
async def test_offline_checks(spec, output, passed):
    result = await check(spec, ctx_for(output))
    assert result.passed is passed, result.reason


async def test_values_are_templates_over_case_vars():
    ctx = ctx_for("Order A-1 is late", expected="A-1", vars={"city": "Lyon"})
    assert (await check({"type": "contains", "value": "{{ expected }}"}, ctx)).passed
    assert not (await check({"type": "contains", "value": "{{ city }}"}, ctx)).passed
    with pytest.raises(SuiteError, match="missing"):
        await check({"type": "contains", "value": "{{ nope }}"}, ctx)


async def test_json_schema_reason_names_the_path():
    schema = {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "integer"}}}}
    r = await check({"type": "json-schema", "value": schema}, ctx_for('{"items": [1, "two"]}'))
    assert not r.passed and r.reason.startswith("items/1:")


async def test_cost_ceiling_fails_when_endpoint_reports_no_cost():
    r = await check({"type": "cost", "threshold": 1.0}, ctx_for("x", cost=None))
    assert not r.passed and "reported no cost" in r.reason


@pytest.mark.parametrize("spec, message", [
    ({"type": "python", "value": "no_colon"}, "package.module:function"),
    ({"type": "python", "value": "tests.evals.nope:f"}, "cannot import"),
    ({"type": "python", "value": "tests.evals.checks_for_tests:missing"}, "not a function"),
    ({"type": "python", "value": "tests.evals.checks_for_tests:wrong_type"}, "return a bool"),
    ({"type": "regex", "value": "("}, "invalid"),
    ({"type": "json-schema", "value": "x"}, "JSON Schema object"),
    ({"type": "latency"}, "max milliseconds"),
    ({"type": "similar", "value": "x"}, "needs model"),
    ({"type": "llm-rubric", "value": "x"}, "needs model"),
    ({"type": "ragas"}, "needs metric"),
])
async def test_misconfigured_checks_are_suite_errors(spec, message):
    with pytest.raises(SuiteError, match=message):
        await check(spec, ctx_for("x"))


def scripted_judge(verdicts):
    """The judge model's verdict depends on the output under judgement, as scripted here."""
    def answer(body):
        if body["model"] == "judge":
            text = last_user(body)
            for needle, verdict in verdicts.items():
                if needle in text.split("Assistant output:")[-1]:
                    return verdict
            return "I cannot decide."
        return "unused"
    return FakeOpenAI(answer)


async def test_llm_rubric_with_scripted_judge():
    fake = scripted_judge({
        "polite": '{"pass": true, "score": 0.9, "reason": "polite and correct"}',
        "rude": '```json\n{"pass": false, "score": 0.1, "reason": "rude"}\n```',
        "meh": '{"pass": true, "score": 0.3, "reason": "borderline"}',
    })
    client = EvalClient(base_url="http://fake/v1", suite="t", transport=fake.transport)
    try:
        spec = {"type": "llm-rubric", "value": "Is it polite?", "model": "judge", "threshold": 0.5}
        ok = await check(spec, ctx_for("a polite answer", client=client))
        bad = await check(spec, ctx_for("a rude answer", client=client))
        low = await check(spec, ctx_for("a meh answer", client=client))
        junk = await check(spec, ctx_for("something else", client=client))
    finally:
        await client.aclose()
    assert (ok.passed, ok.score, ok.reason) == (True, 0.9, "polite and correct")
    assert (bad.passed, bad.score) == (False, 0.1)
    assert not low.passed  # judge said pass, but its score is under the threshold
    assert not junk.passed and "not usable" in junk.reason
    judge_call = fake.chat_calls()[0]
    assert "Is it polite?" in last_user(judge_call) and "the question" in last_user(judge_call)
    assert fake.requests[0].headers["x-sluice-tags"] == "eval,suite=t"


async def test_embedding_similarity_through_endpoint():
    fake = FakeOpenAI(lambda b: "")
    client = EvalClient(base_url="http://fake/v1", suite="t", transport=fake.transport)
    try:
        same = await check({"type": "similar", "value": "refunds within thirty days", "model": "emb"},
                           ctx_for("Refunds within thirty days.", client=client))
        other = await check({"type": "similar", "value": "the weather is nice", "threshold": 0.5},
                            ctx_for("Refunds within thirty days.", client=client, embedding_model="emb"))
    finally:
        await client.aclose()
    assert same.passed and same.score > 0.99
    assert not other.passed and other.score < 0.5
    assert json.loads(fake.requests[0].content)["model"] == "emb"


async def test_ragas_non_llm_metric_offline():
    ctx = ctx_for("Refunds are accepted within 30 days of delivery.",
                  expected="Refunds are accepted within 30 days of delivery.")
    same = await check({"type": "ragas", "metric": "rouge_score", "threshold": 0.9}, ctx)
    assert same.passed and same.score > 0.99 and same.name == "rouge_score"
    ctx2 = ctx_for("Shipping is free.", expected="Refunds are accepted within 30 days of delivery.")
    diff = await check({"type": "ragas", "metric": "non_llm_string_similarity", "threshold": 0.6}, ctx2)
    assert not diff.passed
    with pytest.raises(SuiteError, match="needs reference"):
        await check({"type": "ragas", "metric": "bleu_score"}, ctx_for("x"))
    with pytest.raises(SuiteError, match="unknown ragas metric"):
        await check({"type": "ragas", "metric": "vibes"}, ctx_for("x"))


async def test_crashing_python_check_fails_that_check_only():
    r = await check({"type": "python", "value": "tests.evals.checks_for_tests:crashes"}, ctx_for("x"))
    assert not r.passed and "raised KeyError" in r.reason


def scripted_ragas_judge(body):
    """Answers ragas' faithfulness prompts: statement extraction, then NLI verdicts against the context."""
    prompt = body["messages"][-1]["content"]
    if "verdict" in prompt:
        return json.dumps({"statements": [
            {"statement": "Refunds are accepted within 30 days.", "reason": "in the context", "verdict": 1},
            {"statement": "Shipping is always free.", "reason": "not in the context", "verdict": 0},
        ]})
    return json.dumps({"statements": ["Refunds are accepted within 30 days.", "Shipping is always free."]})


async def test_ragas_llm_metric_with_scripted_judge_through_the_harness_client():
    fake = FakeOpenAI(scripted_ragas_judge)
    client = EvalClient(base_url="http://fake/v1", suite="t", transport=fake.transport)
    try:
        ctx = ctx_for("Refunds are accepted within 30 days, and shipping is always free.", client=client,
                      vars={"contexts": ["Refunds are accepted within 30 days of delivery."]}, judge_model="judge")
        r = await check({"type": "ragas", "metric": "faithfulness", "threshold": 0.8}, ctx)
    finally:
        await client.aclose()
    assert r.score == 0.5 and not r.passed  # one of two statements supported
    assert len(fake.chat_calls()) == 2 and {b["model"] for b in fake.chat_calls()} == {"judge"}
    assert {req.headers["x-sluice-tags"] for req in fake.requests} == {"eval,suite=t"}


async def test_ragas_llm_metric_unusable_judge_fails_the_check():
    fake = FakeOpenAI(lambda b: "I refuse to answer in JSON.")
    client = EvalClient(base_url="http://fake/v1", suite="t", transport=fake.transport, retries=0)
    try:
        ctx = ctx_for("x", client=client, vars={"contexts": ["c"]}, judge_model="judge2")
        r = await check({"type": "ragas", "metric": "faithfulness"}, ctx)
    finally:
        await client.aclose()
    assert not r.passed and "ragas faithfulness failed" in r.reason
