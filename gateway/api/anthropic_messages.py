"""Anthropic's Messages API: `POST /v1/messages` (streamed or not) and `/v1/messages/count_tokens`.

`/v1/messages` runs the one pipeline (every stage applies, as for chat completions) through
`MessagesWire`: the request becomes a chat body (gateway/formats/anthropic.py), and the client's
own request rides along in `ctx.native` for Anthropic upstreams. Keys come as `x-api-key` or
`Authorization: Bearer`. `anthropic-version` and `anthropic-beta` are accepted whatever their
value (an unknown beta is never an error here) and passed on to Anthropic upstreams.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gateway.api.openai_fast import Wire
from gateway.api.schemas_agents import CountTokensRequest, MessagesRequest
from gateway.context import NativeRequest, RequestContext
from gateway.engine.router import answer_digest
from gateway.engine.streaming import StreamEncoder
from gateway.errors import NotFound, PermissionDenied, SluiceError
from gateway.formats import anthropic as A

# Headers of Anthropic's API a client sends that an Anthropic upstream should see too.
PASSED_HEADERS = ("anthropic-version", "anthropic-beta")


def native_request(ctx: RequestContext, body: dict[str, Any]) -> NativeRequest:
    headers = {h: ctx.headers[h] for h in PASSED_HEADERS if h in ctx.headers}
    return NativeRequest(wire="anthropic", body=body, headers=headers, chat_digest=orjson.dumps(ctx.body))


class MessagesWire(Wire):
    def error_bytes(self, err: SluiceError) -> bytes:
        return orjson.dumps(A.error_body(err))

    async def prepare(self, ctx: RequestContext, body: Any) -> None:
        A.validate(body)
        ctx.body = A.to_chat(body)
        ctx.requested_model = body["model"]
        ctx.stream = bool(body.get("stream"))
        ctx.client_wants_usage = True  # the encoder needs the usage for message_delta
        if ctx.stream:
            ctx.body["stream_options"] = {"include_usage": True}
        ctx.native = native_request(ctx, body)

    async def respond(self, ctx: RequestContext, completion: dict[str, Any]) -> bytes:
        native = ctx.scratch.get("native_response")
        # An Anthropic upstream answered the client's own request: send its answer as it came,
        # unless a stage changed it (an output guardrail's redaction) or it came from the cache.
        if native is not None and native[1] == answer_digest(completion):
            return orjson.dumps({**native[0], "model": ctx.requested_model})
        return orjson.dumps(A.from_completion(completion, model=ctx.requested_model, request_id=ctx.request_id))

    def encoder(self, ctx: RequestContext) -> StreamEncoder:
        return A.StreamEncoder(model=ctx.requested_model, request_id=ctx.request_id)


def _error(err: SluiceError) -> JSONResponse:
    return JSONResponse(A.error_body(err), status_code=err.status, headers=err.headers)


def build_messages_router(gateway: Any) -> APIRouter:
    router = APIRouter(tags=["anthropic"])

    @router.post("/v1/messages", summary="Create a message (Anthropic Messages API; streaming with stream=true)",
                 responses={200: {"description": "an Anthropic `message`, or its event stream"}})
    async def _messages_doc(body: MessagesRequest) -> dict[str, Any]:  # pragma: no cover - documentation only
        raise NotImplementedError  # served by the fast endpoint (gateway/app.py)

    @router.post("/v1/messages/count_tokens", summary="Count the input tokens of a Messages request")
    async def count_tokens(_body: CountTokensRequest, request: Request) -> JSONResponse:
        # FastAPI checked the shape (its errors are Anthropic-shaped on these paths, gateway/app.py);
        # the gateway's own parse of the raw body is what counts
        try:
            return JSONResponse(await _count(gateway, request, await request.json()))
        except SluiceError as err:
            return _error(err)

    return router


async def _count(gateway: Any, request: Request, body: Any) -> dict[str, int]:
    """Tokens by the gateway's tokenizer for the model (tiktoken; an estimate for Claude models,
    whose tokenizer is not public): the same count the spend limits reserve against."""
    cfg = gateway.config
    rec = None
    if cfg.auth.enabled:  # first: without a key, nothing about the request or the models
        from gateway.spend.service import spend_service

        _principal, rec = await spend_service(gateway).authenticator.authenticate(
            {k.lower(): v for k, v in request.headers.items()})
    if isinstance(body, dict):
        body = {"max_tokens": 1, **body}  # count_tokens takes no max_tokens
    A.validate(body)
    model = body["model"]
    if rec is not None:
        from gateway.spend.hook import model_allowed

        if not model_allowed(model, rec.allowed_models):
            raise PermissionDenied(f"this key may not use model {model!r}", param="model", code="model_not_allowed")
    group = cfg.group(model)
    if group is None and model not in gateway.virtual_model_names():
        raise NotFound(f"model {model!r} is not configured on this gateway", param="model", code="model_not_found")
    from gateway.spend.tokens import count_messages, count_text

    chat = A.to_chat(body)
    tokenizer_model = group.deployments[0].model if group and group.deployments else model
    n = count_messages(chat["messages"], tokenizer_model)
    if chat.get("tools"):
        n += count_text(orjson.dumps(chat["tools"]).decode(), tokenizer_model)
    return {"input_tokens": n}
