"""Checks that call a model through the same endpoint: embedding similarity and an LLM-as-judge rubric."""

from __future__ import annotations

import json
import math

from pydantic import BaseModel, Field, ValidationError

from evals.assertions.base import AssertionResult, CheckContext, register
from evals.assertions.text import expected_value, strip_fences
from evals.dataset import AssertionSpec
from evals.errors import SuiteError


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


@register("similar", negatable=True)
async def similar(spec: AssertionSpec, ctx: CheckContext) -> AssertionResult:
    model = spec.model or ctx.suite.embedding_model
    if not model:
        raise SuiteError("assertion similar needs model: (or the suite's embedding_model:)")
    want = expected_value(spec, ctx)
    if want is None:
        raise SuiteError(f"case {ctx.case.id}: assertion similar needs value: or the case's expected")
    threshold = spec.threshold if spec.threshold is not None else 0.8
    a, b = await ctx.client.embed(model, [ctx.output, str(want)])
    score = cosine(a, b)
    return AssertionResult("similar", "similar", score >= threshold, score,
                           f"cosine {score:.3f} {'>=' if score >= threshold else '<'} {threshold}", threshold)


JUDGE_SYSTEM = (
    "You grade an AI assistant's output against a rubric. Reply with only a JSON object: "
    '{"pass": true or false, "score": a number from 0 to 1, "reason": "one sentence"}.'
)


# A verdict is one short JSON object; the bound keeps a rambling judge from holding the model for a
# long answer. The suite's `judge_max_tokens` (default this) sets it, an assertion's
# `options.max_tokens` overrides it. LLM ragas metrics keep ragas' own bound (1024: their structured
# answers are longer).
JUDGE_MAX_TOKENS = 256


def judge_max_tokens(spec: AssertionSpec, ctx: CheckContext) -> int:
    value = spec.options.get("max_tokens", ctx.suite.judge_max_tokens)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 32768:
        raise SuiteError(f"llm-rubric options.max_tokens must be an integer from 1 to 32768, not {value!r}")
    return value


class Verdict(BaseModel):
    pass_: bool = Field(alias="pass")
    score: float | None = Field(default=None, ge=0, le=1)
    reason: str = ""


def parse_verdict(text: str) -> Verdict:
    raw = strip_fences(text)
    start, end = raw.find("{"), raw.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the judge's reply")
    return Verdict.model_validate(json.loads(raw[start : end + 1]))


@register("llm-rubric")
async def llm_rubric(spec: AssertionSpec, ctx: CheckContext) -> AssertionResult:
    model = spec.model or ctx.suite.judge_model
    if not model:
        raise SuiteError("assertion llm-rubric needs model: (or the suite's judge_model:)")
    rubric = expected_value(spec, ctx)
    threshold = spec.threshold if spec.threshold is not None else 0.5
    user = f"Rubric:\n{rubric}\n\n"
    if ctx.user_input:
        user += f"Question the assistant was given:\n{ctx.user_input}\n\n"
    user += f"Assistant output:\n{ctx.output}"
    max_tokens = judge_max_tokens(spec, ctx)
    reply = await ctx.client.chat({"model": model, "temperature": 0, "max_tokens": max_tokens, "messages": [
        {"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]})
    try:
        verdict = parse_verdict(reply.text)
    except (ValueError, ValidationError) as e:
        return AssertionResult("llm-rubric", "llm-rubric", False, 0.0,
                               f"judge reply not usable ({str(e).splitlines()[0]}): {reply.text[:80]!r}", threshold)
    score = verdict.score if verdict.score is not None else float(verdict.pass_)
    ok = verdict.pass_ and score >= threshold
    return AssertionResult("llm-rubric", "llm-rubric", ok, score, verdict.reason or ("pass" if ok else "fail"), threshold)
