"""OpenAI's Responses API: `POST /v1/responses` (streamed or not), `GET` and `DELETE /v1/responses/{id}`.

`POST` runs the one pipeline through `ResponsesWire` (every stage applies, as for chat
completions): the request, and with `previous_response_id` the stored conversation before it,
becomes a chat body (gateway/formats/responses.py). With `store` (the default, as OpenAI's) the
response and its conversation are kept for `responses.ttl_s`, for the key that made them only
(gateway/api/responses_store.py). A streamed response is stored before its last event goes out,
so a client that continues the moment it sees `response.completed` finds it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gateway.api.openai_fast import Wire
from gateway.api.responses_store import owner_of, response_store
from gateway.api.schemas_agents import ResponsesRequest
from gateway.context import Principal, RequestContext
from gateway.engine.streaming import StreamEncoder
from gateway.errors import InvalidRequest, NotFound, SluiceError
from gateway.formats import responses as R

log = logging.getLogger("sluice.responses")

_SCRATCH = "responses"  # ctx.scratch key: this request's id, body and conversation


class ResponsesWire(Wire):
    def __init__(self, gateway: Any) -> None:
        self.gateway = gateway

    async def prepare(self, ctx: RequestContext, body: Any) -> None:
        R.validate(body)
        history: list[dict[str, Any]] = []
        prev = body.get("previous_response_id")
        if prev:
            # The key is checked by the pipeline's auth stage; here only whose conversation it is.
            principal = await _principal(self.gateway, ctx.headers)
            stored = await response_store(self.gateway).get(owner_of(principal), prev)
            if stored is None:
                raise NotFound(f"previous_response_id {prev[:80]!r} is not a stored response of this key "
                               "(it expired, was deleted, was made with store: false, or by another key)",
                               param="previous_response_id", code="previous_response_not_found")
            history = stored.turns
        turns = history + R.input_messages(body)
        ctx.body = R.to_chat(body, turns)
        if dropped := R.dropped_tools(body):
            ctx.response_headers["x-sluice-tools-dropped"] = ",".join(dropped)[:256]
        ctx.requested_model = body["model"]
        ctx.stream = bool(body.get("stream"))
        ctx.client_wants_usage = True  # response.completed carries the usage
        if ctx.stream:
            ctx.body["stream_options"] = {"include_usage": True}
        ctx.scratch[_SCRATCH] = {"id": R.new_id("resp"), "body": body, "turns": turns}

    async def respond(self, ctx: RequestContext, completion: dict[str, Any]) -> bytes:
        st = ctx.scratch[_SCRATCH]
        response = R.from_completion(completion, st["body"], resp_id=st["id"], model=ctx.requested_model,
                                     created=int(ctx.started_wall))
        await self._store(ctx, response)
        return orjson.dumps(response)

    def encoder(self, ctx: RequestContext) -> StreamEncoder:
        st = ctx.scratch[_SCRATCH]
        enc = R.StreamEncoder(st["body"], resp_id=st["id"], model=ctx.requested_model, created=int(ctx.started_wall))
        st["encoder"] = enc
        return enc

    async def frames(self, ctx: RequestContext, frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        enc: R.StreamEncoder = ctx.scratch[_SCRATCH]["encoder"]
        stored = False
        async for frame in frames:
            if enc.final is not None and not stored:
                stored = True
                await self._store(ctx, enc.final)
            yield frame

    async def _store(self, ctx: RequestContext, response: dict[str, Any]) -> None:
        st = ctx.scratch[_SCRATCH]
        if st["body"].get("store") is False or ctx.status_code >= 400:
            return
        try:
            kept = await response_store(self.gateway).put(owner_of(ctx.principal), response,
                                                          R.history_after(st["turns"], response))
        except Exception:  # the answer stands; only its continuation is lost, and that is logged
            log.exception("storing response %s failed", response["id"])
            return
        if not kept:
            log.warning("response %s not stored: its conversation exceeds responses.max_stored_bytes", response["id"])


async def _principal(gateway: Any, headers: dict[str, str]) -> Principal | None:
    if not gateway.config.auth.enabled:
        return None
    from gateway.spend.service import spend_service

    principal, _rec = await spend_service(gateway).authenticator.authenticate(headers)
    return principal


def _error(err: SluiceError) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


def build_responses_router(gateway: Any) -> APIRouter:
    router = APIRouter(tags=["openai"])

    @router.post("/v1/responses", summary="Create a model response (OpenAI Responses API; streaming with stream=true)")
    async def _create_doc(body: ResponsesRequest) -> dict[str, Any]:  # pragma: no cover - documentation only
        raise NotImplementedError  # served by the fast endpoint (gateway/app.py)

    async def _lookup(request: Request, response_id: str) -> tuple[str, Any]:
        principal = await _principal(gateway, {k.lower(): v for k, v in request.headers.items()})
        if len(response_id) > 64:
            raise InvalidRequest("a response id has at most 64 characters", param="response_id")
        return owner_of(principal), response_store(gateway)

    @router.get("/v1/responses/{response_id}", summary="Retrieve a stored response")
    async def get_response(response_id: str, request: Request) -> JSONResponse:
        try:
            owner, store = await _lookup(request, response_id)
            stored = await store.get(owner, response_id)
            if stored is None:
                raise NotFound(f"no stored response {response_id[:64]!r} for this key", param="response_id",
                               code="response_not_found")
            return JSONResponse(stored.response)
        except SluiceError as err:
            return _error(err)

    @router.delete("/v1/responses/{response_id}", summary="Delete a stored response")
    async def delete_response(response_id: str, request: Request) -> JSONResponse:
        try:
            owner, store = await _lookup(request, response_id)
            if not await store.delete(owner, response_id):
                raise NotFound(f"no stored response {response_id[:64]!r} for this key", param="response_id",
                               code="response_not_found")
            return JSONResponse({"id": response_id, "object": "response.deleted", "deleted": True})
        except SluiceError as err:
            return _error(err)

    return router
