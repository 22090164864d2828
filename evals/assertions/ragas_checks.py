"""ragas metrics (0.4 `ragas.metrics.collections`), imported lazily: ragas costs ~7 s to import.

Non-LLM metrics (bleu_score, rouge_score, chrf_score, exact_match, string_presence,
non_llm_string_similarity) run offline. LLM metrics (faithfulness, answer_relevancy,
factual_correctness, ...) are given `llm_factory(model, client=AsyncOpenAI(...))` over the harness's
own HTTP client, so their calls go through the same endpoint, tags, cassettes and replay.
"""

from __future__ import annotations

import inspect
from typing import Any

from evals.assertions.base import AssertionResult, CheckContext, register
from evals.dataset import AssertionSpec
from evals.errors import CassetteMiss, SuiteError

NON_LLM = {
    "bleu_score": "BleuScore", "rouge_score": "RougeScore", "chrf_score": "CHRFScore",
    "exact_match": "ExactMatch", "string_presence": "StringPresence",
    "non_llm_string_similarity": "NonLLMStringSimilarity",
}
LLM = {
    "faithfulness": "Faithfulness", "answer_relevancy": "AnswerRelevancy", "answer_accuracy": "AnswerAccuracy",
    "factual_correctness": "FactualCorrectness", "context_precision": "ContextPrecision",
    "context_recall": "ContextRecall", "response_groundedness": "ResponseGroundedness",
}
_STATELESS: dict[tuple[str, str | None, str], Any] = {}


def _metric(name: str, ctx: CheckContext, model: str | None, options: dict[str, Any]) -> Any:
    if name not in NON_LLM and name not in LLM:
        raise SuiteError(f"unknown ragas metric {name!r}; known: {', '.join(sorted(NON_LLM | LLM))}")
    # LLM metrics hold the client's SDK handle: one instance per client; non-LLM ones are stateless
    instances = _STATELESS if name in NON_LLM else ctx.client.extensions.setdefault("ragas_metrics", {})
    key = (name, model, repr(sorted(options.items())))
    if key in instances:
        return instances[key]
    from ragas.metrics import collections as rc  # lazy: heavy import

    if name in NON_LLM:
        metric = getattr(rc, NON_LLM[name])(**options)
    elif name in LLM:
        if not model:
            raise SuiteError(f"ragas metric {name} needs model: (or the suite's judge_model:)")
        from ragas.llms import llm_factory

        llm = llm_factory(model, client=ctx.client.sdk)
        kwargs: dict[str, Any] = {"llm": llm, **options}
        if "embeddings" in inspect.signature(getattr(rc, LLM[name]).__init__).parameters:
            emb_model = ctx.suite.embedding_model
            if not emb_model:
                raise SuiteError(f"ragas metric {name} needs the suite's embedding_model:")
            from ragas.embeddings import embedding_factory

            kwargs["embeddings"] = embedding_factory("openai", model=emb_model, client=ctx.client.sdk)
        metric = getattr(rc, LLM[name])(**kwargs)
    else:
        raise SuiteError(f"unknown ragas metric {name!r}; known: {', '.join(sorted(NON_LLM | LLM))}")
    instances[key] = metric
    return metric


@register("ragas")
async def ragas_metric(spec: AssertionSpec, ctx: CheckContext) -> AssertionResult:
    if not spec.metric:
        raise SuiteError("assertion ragas needs metric: (e.g. rouge_score, faithfulness)")
    metric = _metric(spec.metric, ctx, spec.model or ctx.suite.judge_model, spec.options)
    available: dict[str, Any] = {
        "response": ctx.output,
        "reference": None if ctx.case.expected is None else str(ctx.case.expected),
        "user_input": ctx.user_input,
        "retrieved_contexts": ctx.vars.get("contexts") or ctx.case.metadata.get("contexts"),
        "reference_contexts": ctx.case.metadata.get("reference_contexts"),
    }
    wanted = [p for p in inspect.signature(metric.ascore).parameters if p not in ("self", "kwargs")]
    missing = [p for p in wanted if available.get(p) is None]
    if missing:
        raise SuiteError(f"case {ctx.case.id}: ragas {spec.metric} needs {', '.join(missing)} "
                         f"(expected -> reference, vars.contexts -> retrieved_contexts)")
    try:
        result = await metric.ascore(**{p: available[p] for p in wanted})
    except Exception as e:  # ragas/instructor raise many types (retries exhausted, parse errors): record it
        if _cassette_miss(e):
            raise CassetteMiss(f"ragas {spec.metric}: a judge call is not in the cassette; re-record it with --record") from e
        first = (str(e).strip().splitlines() or [""])[0][:160]
        return AssertionResult(spec.metric, "ragas", False, 0.0, f"ragas {spec.metric} failed: {type(e).__name__}: {first}",
                               spec.threshold)
    score = float(result.value)
    threshold = spec.threshold if spec.threshold is not None else 0.5
    return AssertionResult(spec.metric, "ragas", score >= threshold, score,
                           f"{spec.metric} {score:.3f} {'>=' if score >= threshold else '<'} {threshold}", threshold)


def _cassette_miss(e: BaseException) -> bool:
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if "cassette_miss" in str(cur):
            return True
        cur = cur.__cause__ or cur.__context__
    return False
