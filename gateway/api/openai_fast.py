"""/v1/chat/completions and /v1/embeddings as bare ASGI endpoints: the hot path.

FastAPI hosts everything else; these two skip its request/response machinery (measured: a
FastAPI route costs ~0.24 ms more CPU per request here). Their OpenAPI description lives in
gateway/api/schemas.py. A watcher on `receive` cancels the work when the client disconnects, so
the upstream call is cancelled too; the context records it for billing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from gateway.context import RequestContext, request_id_from
from gateway.engine.pipeline import run_embeddings, run_finished
from gateway.engine.streaming import StreamEncoder
from gateway.engine.validation import validate_chat, validate_embeddings
from gateway.errors import InvalidRequest, MethodNotAllowed, PayloadTooLarge, SluiceError
from gateway.telemetry.logs import bind_request

if TYPE_CHECKING:
    from gateway.runtime import Gateway

log = logging.getLogger("sluice.api")
access_log = logging.getLogger("sluice.access")

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_JSON = (b"content-type", b"application/json")
_SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"),
                (b"x-accel-buffering", b"no")]


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            raise asyncio.CancelledError()
        part = msg.get("body", b"")
        if part:
            size += len(part)
            if size > limit:
                raise PayloadTooLarge(f"request body exceeds the gateway's limit of {limit} bytes; "
                                      "send a smaller request", code="body_too_large")
            chunks.append(part)
        if not msg.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


def _extra_headers(ctx: RequestContext) -> list[tuple[bytes, bytes]]:
    out = [(b"x-request-id", ctx.request_id.encode())]
    for k, v in ctx.response_headers.items():
        out.append((k.encode("latin-1"), str(v).encode("latin-1")))
    return out


async def send_json(send: Send, status: int, payload: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [_JSON, (b"content-length", str(len(payload)).encode()), *extra]})
    await send({"type": "http.response.body", "body": payload})


async def send_error(send: Send, err: SluiceError, ctx: RequestContext | None, wire: Wire | None = None) -> None:
    extra = [(k.encode(), v.encode()) for k, v in err.headers.items()]
    if ctx is not None:
        ctx.status_code, ctx.error_code = err.status, err.code
        extra += _extra_headers(ctx)
    await send_json(send, err.status, err.body_bytes() if wire is None else wire.error_bytes(err), extra)


class Wire:
    """Another API served on the one pipeline (Anthropic's Messages, OpenAI's Responses): it reads
    its request into the context as a chat-completions body, and writes the pipeline's completion,
    stream and errors back in its own shape. The stages never know which API the client spoke."""

    def error_bytes(self, err: SluiceError) -> bytes:
        return err.body_bytes()

    async def prepare(self, ctx: RequestContext, body: Any) -> None:
        """Validate `body`; set ctx.body (the chat body), requested_model, stream."""
        raise NotImplementedError

    async def respond(self, ctx: RequestContext, completion: dict[str, Any]) -> bytes:
        raise NotImplementedError

    def encoder(self, ctx: RequestContext) -> StreamEncoder:
        raise NotImplementedError

    def frames(self, ctx: RequestContext, frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """A hook on the outgoing stream (the Responses API stores a response before its last event)."""
        return frames


class FastEndpoint:
    def __init__(self, gateway: Gateway, kind: str, wire: Wire | None = None) -> None:
        self.gateway = gateway
        self.kind = kind  # a key of gateway.context.ROUTE_KINDS
        self.wire = wire

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await send_error(send, MethodNotAllowed(f"{scope['path']} accepts POST only"), None)
            return
        gw = self.gateway
        gen = gw.generation
        assert gen is not None
        clock = gw.clock
        headers = _headers(scope)
        ctx = RequestContext(request_id=request_id_from(headers), route=self.kind,
                             body={}, headers=headers, started_mono=clock.monotonic(), started_wall=clock.time())
        task = asyncio.current_task()
        state = {"done": False, "disconnected": False, "response_started": False}

        def on_receive(fut: asyncio.Future[dict[str, Any]]) -> None:
            if fut.cancelled() or fut.exception() is not None or state["done"]:
                return
            if fut.result().get("type") == "http.disconnect":
                state["disconnected"] = True
                if task is not None:
                    task.cancel()

        watcher: asyncio.Future[dict[str, Any]] | None = None

        async def tracked_send(message: dict[str, Any]) -> None:  # knows whether headers went out
            if message["type"] == "http.response.start":
                state["response_started"] = True
            await send(message)

        bind_request(ctx.request_id)
        try:
            raw = await read_body(receive, gen.config.server.max_body_bytes)
            watcher = asyncio.ensure_future(receive())
            watcher.add_done_callback(on_receive)
            await self._handle(gen, ctx, raw, tracked_send)
        except asyncio.CancelledError:
            if not state["disconnected"]:
                raise
            if task is not None:
                task.uncancel()
            ctx.client_disconnected = True
            ctx.status_code, ctx.error_code = 499, "client_disconnected"
            log.info("client disconnected from %s; upstream call cancelled", ctx.request_id)
        except SluiceError as err:
            if not state["response_started"]:
                await send_error(tracked_send, err, ctx, self.wire)
        except Exception:
            # A bug, not the client's fault: log it with the request id, answer in the route's shape, no traceback.
            log.exception("unexpected error serving %s", ctx.request_id)
            if not state["response_started"]:
                await send_error(send, SluiceError("the gateway failed to handle this request; it is logged "
                                                   f"under request id {ctx.request_id}"), ctx, self.wire)
        finally:
            state["done"] = True
            if watcher is not None and not watcher.done():
                watcher.cancel()
        ctx.ended_mono = clock.monotonic()
        await run_finished(gen.pipeline, ctx)
        if ctx.status_code >= 400 or ctx.attempts > 1 or gen.config.telemetry.access_log:
            access_log.info("%s %s -> %s", self.kind, ctx.requested_model, ctx.status_code, extra={
                "model": ctx.requested_model, "deployment": ctx.served_deployment, "attempts": ctx.attempts,
                "status": ctx.status_code, "code": ctx.error_code, "latency_ms": round(ctx.latency_ms or 0.0, 2),
                "stream": ctx.stream, "cache": ctx.cache_status})

    async def _handle(self, gen: Any, ctx: RequestContext, raw: bytes, send: Send) -> None:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"the request body is not valid JSON ({exc.msg} at position {exc.pos})",
                                 code="invalid_json") from None
        if self.wire is not None:
            await self._handle_wire(gen, ctx, body, send)
            return
        if self.kind == "embeddings":
            validate_embeddings(body, raw)
            ctx.body, ctx.requested_model = body, body["model"]
            result = await run_embeddings(gen.pipeline, ctx)
            await send_json(send, 200, orjson.dumps(result), _extra_headers(ctx))
            return
        validate_chat(body, raw)
        ctx.body = body
        ctx.requested_model = body.get("model") or ""
        ctx.stream = bool(body.get("stream"))
        so = body.get("stream_options")
        ctx.client_wants_usage = bool(so and so.get("include_usage"))
        result = await gen.pipeline.chat(ctx)
        if isinstance(result, dict):
            await send_json(send, 200, orjson.dumps(result), _extra_headers(ctx))
            return
        await self._send_stream(ctx, result, send)

    async def _handle_wire(self, gen: Any, ctx: RequestContext, body: Any, send: Send) -> None:
        wire = self.wire
        assert wire is not None
        await wire.prepare(ctx, body)
        result = await gen.pipeline.chat(ctx, wire.encoder(ctx) if ctx.stream else None)
        if isinstance(result, dict):
            await send_json(send, 200, await wire.respond(ctx, result), _extra_headers(ctx))
            return
        await self._send_stream(ctx, wire.frames(ctx, result), send)

    async def _send_stream(self, ctx: RequestContext, frames: AsyncIterator[bytes], send: Send) -> None:
        # The router has already committed to a deployment (first chunk received), so the
        # headers can say which one served it; errors from here on travel inside the stream.
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*_SSE_HEADERS, *_extra_headers(ctx)]})
        try:
            async for frame in frames:
                if ctx.first_byte_mono is None:
                    ctx.first_byte_mono = self.gateway.clock.monotonic()
                await send({"type": "http.response.body", "body": frame, "more_body": True})
        finally:
            aclose = getattr(frames, "aclose", None)
            if aclose is not None:
                await aclose()
        await send({"type": "http.response.body", "body": b""})
