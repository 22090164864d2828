"""FastAPI routes for /v1/models, health, and the documentation of the fast endpoints.

The two `post` handlers below are never called: the outer dispatcher (gateway/app.py) sends those
paths to the bare ASGI endpoints first. They exist so the OpenAPI document describes every route.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gateway.api.schemas import (
    ChatCompletion,
    ChatCompletionRequest,
    EmbeddingList,
    EmbeddingRequest,
    ModelCard,
    ModelList,
    error_responses,
)

router = APIRouter()

_STREAM_DOC = {"text/event-stream": {"schema": {"type": "string", "description":
                                                "SSE frames `data: <chat.completion.chunk>` then `data: [DONE]`"}}}


@router.post("/v1/chat/completions", response_model=ChatCompletion, tags=["openai"],
             responses={200: {"content": _STREAM_DOC}, **error_responses(400, 401, 403, 404, 413, 429, 502, 503, 504)},
             summary="Create a chat completion (streaming with stream=true)")
async def _chat_doc(body: ChatCompletionRequest) -> ChatCompletion:  # pragma: no cover - documentation only
    raise NotImplementedError


@router.post("/v1/embeddings", response_model=EmbeddingList, tags=["openai"],
             responses=error_responses(400, 401, 403, 404, 413, 429, 502, 503, 504), summary="Create embeddings")
async def _embeddings_doc(body: EmbeddingRequest) -> EmbeddingList:  # pragma: no cover - documentation only
    raise NotImplementedError


async def _visible(request: Request) -> Callable[[str], bool]:
    """With auth on, listing models needs a key (as OpenAI's does), and a key sees the models its
    allow-list lets it call; the master key sees all."""
    gw = request.app.state.gateway
    if not gw.config.auth.enabled:
        return lambda _name: True
    from gateway.spend.hook import model_allowed
    from gateway.spend.service import spend_service

    _principal, rec = await spend_service(gw).authenticator.authenticate(
        {k.lower(): v for k, v in request.headers.items()})
    if rec is None:
        return lambda _name: True
    return lambda name: model_allowed(name, rec.allowed_models)


@router.get("/v1/models", response_model=ModelList, tags=["openai"], summary="List the models this gateway serves",
            responses=error_responses(401))
async def list_models(request: Request) -> ModelList:
    gw = request.app.state.gateway
    visible = await _visible(request)
    created = int(gw.started_wall)
    names = [g.name for g in gw.config.models] + list(gw.virtual_model_names())
    return ModelList(data=[ModelCard(id=n, created=created, owned_by="sluicegate") for n in names if visible(n)])


@router.get("/v1/models/{model_id:path}", response_model=ModelCard, tags=["openai"],
            responses=error_responses(401, 404), summary="Describe one model")
async def get_model(model_id: str, request: Request) -> ModelCard | JSONResponse:
    gw = request.app.state.gateway
    visible = await _visible(request)
    names = {g.name for g in gw.config.models} | set(gw.virtual_model_names())
    if model_id not in names or not visible(model_id):
        from gateway.errors import NotFound

        raise NotFound(f"model {model_id!r} is not configured on this gateway", param="model",
                       code="model_not_found")
    return ModelCard(id=model_id, created=int(gw.started_wall), owned_by="sluicegate")


@router.get("/healthz", tags=["ops"], summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", tags=["ops"], summary="Readiness: serving a config, warmed up and not draining",
            responses={503: {"description": "starting, warming (scanner models, indexes) or draining"}})
async def readyz(request: Request) -> JSONResponse:
    gw = request.app.state.gateway
    if gw.generation is None or gw.draining:
        return JSONResponse({"status": "draining" if gw.draining else "starting"}, status_code=503)
    if warming := gw.warmups.pending():
        return JSONResponse({"status": "warming", "warming": warming}, status_code=503)
    return JSONResponse({"status": "ready", "models": len(gw.config.models)})
