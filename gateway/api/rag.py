"""POST /sluice/v1/rag/{pipeline}/query: the retrieved contexts (with sources) and the answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.schemas import error_responses
from gateway.context import RequestContext, request_id_from
from gateway.engine.pipeline import run_finished, run_retrieval
from gateway.errors import NotFound, SluiceError

router = APIRouter(prefix="/sluice/v1/rag", tags=["rag"])


class RagQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1)
    top_k: int | None = Field(default=None, ge=1, le=100)
    filters: dict[str, Any] | None = Field(default=None, description="Chroma-style metadata filter")
    generate: bool = Field(default=True, description="false: retrieval only, no answer")


class Context(BaseModel):
    chunk_id: str
    source: str
    title: str = ""
    heading: str = ""
    score: float
    similarity: float | None = None
    text: str


class RagQueryResponse(BaseModel):
    pipeline: str
    question: str
    answer: str | None
    contexts: list[Context]
    citations: list[dict[str, Any]]
    dropped: list[str] = Field(default_factory=list, description="chunk ids removed by the injection scanner")
    usage: dict[str, Any] | None = None


@router.post("/{pipeline}/query", response_model=RagQueryResponse, summary="Query a RAG pipeline",
             responses=error_responses(400, 404, 502, 503))
async def query(pipeline: str, body: RagQuery, request: Request) -> RagQueryResponse:
    gw = request.app.state.gateway
    # imported here: a gateway without pipelines never loads rag/ (chromadb, langchain, bm25s)
    from gateway.integrations.rag import map_error, service_of
    from rag.filters import FilterError
    from rag.pipeline import PipelineError, RagAnswer
    from rag.store import StoreError

    service = service_of(gw.router)
    if service is None:
        raise NotFound(f"RAG pipeline {pipeline!r} is not configured; no rag.pipelines in the config",
                       code="rag_pipeline_not_found")
    clock = gw.clock
    gen = gw.generation
    headers = {k.lower(): v for k, v in request.headers.items()}
    ctx = RequestContext(request_id=request_id_from(headers), route="rag.query", body=body.model_dump(), headers=headers,
                         started_mono=clock.monotonic(), started_wall=clock.time(), rag_pipeline=pipeline,
                         requested_model=f"rag:{pipeline}")
    # The same stages as /v1/chat/completions (keys, allow-lists, limits, budgets, guardrails on the
    # question and the answer), and every hook's after-response work (ledger, metrics, spans).

    async def answer(request: dict[str, Any]) -> RagAnswer:
        pipe = service.pipeline(pipeline, ctx)
        try:
            return await pipe.answer({"question": request["question"], "top_k": request["top_k"]},
                                     where=request["filters"], generate=request["generate"])
        except (PipelineError, FilterError, StoreError) as e:
            raise map_error(e, pipeline) from e

    try:
        res = await run_retrieval(gen.pipeline, ctx, answer, lambda r: r.completion)
    except SluiceError as err:
        ctx.status_code, ctx.error_code = err.status, err.code
        raise
    finally:
        ctx.ended_mono = clock.monotonic()
        await run_finished(gen.pipeline, ctx)
    if ctx.completion is not None:  # the answer as the output guardrails left it
        res.answer = ctx.completion["choices"][0]["message"].get("content") or ""
    contexts = [Context(chunk_id=h.id, source=str(h.metadata.get("source", "")), title=str(h.metadata.get("title", "")),
                        heading=str(h.metadata.get("heading", "")), score=h.score, similarity=h.similarity, text=h.text)
                for h in res.contexts]
    usage = res.completion.get("usage") if res.completion else None
    return RagQueryResponse(pipeline=pipeline, question=res.question, answer=res.answer, contexts=contexts,
                            citations=[c.as_dict() for c in res.citations], dropped=res.dropped, usage=usage)
