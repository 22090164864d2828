"""The request pipeline: hooks around the router, the same for streamed and whole responses.

`Pipeline.chat(ctx)` returns either a completion dict or an async iterator of SSE byte frames;
`run_embeddings` returns a dict; `run_retrieval` serves the RAG query API; `run_finished` runs the
hooks' after-response work. One Pipeline is one config generation: a reload builds a new one and
swaps it atomically.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from gateway.context import RequestContext
from gateway.engine.router import Router
from gateway.engine.streaming import (
    ChatStreamEncoder,
    ChunkAggregator,
    StreamEncoder,
    completion_to_chunks,
    patch_chunk,
    patch_completion,
)
from gateway.errors import SluiceError, UpstreamError
from gateway.hooks import Hook, StreamFilter

log = logging.getLogger("sluice.pipeline")
R = TypeVar("R")


class Pipeline:
    def __init__(self, router: Router, hooks: list[Hook]) -> None:
        self.router = router
        self.hooks = hooks

    async def _before(self, ctx: RequestContext) -> Any:
        for hook in self.hooks:
            result = await hook.before(ctx)
            if result is not None:
                return result
        return None

    async def chat(self, ctx: RequestContext,
                   encoder: StreamEncoder | None = None) -> dict[str, Any] | AsyncIterator[bytes]:
        """`encoder` renders a stream in the route's own format (default: OpenAI's chunks)."""
        result = await self._before(ctx)
        body = ctx.body  # after the hooks: they may have replaced it (prompt rendering, redaction)
        if result is None:
            model = body.get("model") or ctx.requested_model
            virtual = self.router.virtual_handler(model)
            if virtual is not None:
                result = await virtual(ctx, body)
            elif ctx.stream:
                upstream_body = body
                if not ctx.client_wants_usage:  # we always want usage; the client gets it only if it asked
                    upstream_body = {**body, "stream_options": {**(body.get("stream_options") or {}),
                                                                 "include_usage": True}}
                ctx.model_group = model
                result = await self.router.stream_chat(ctx, upstream_body)
            else:
                ctx.model_group = model
                result = await self.router.chat(ctx, body)
        if isinstance(result, dict):
            patch_completion(result, model=ctx.requested_model, request_id=ctx.request_id)
            if ctx.stream:
                return self._stream(ctx, _aiter(completion_to_chunks(result, include_usage=True)), encoder)
            return await self._after(ctx, result)
        if ctx.stream:
            return self._stream(ctx, result, encoder)
        # a hook or virtual model produced chunks for a client that wants one document
        agg = ChunkAggregator()
        async for chunk in result:
            agg.add(chunk)
        completion = patch_completion(agg.completion(), model=ctx.requested_model, request_id=ctx.request_id)
        return await self._after(ctx, completion)

    async def _after(self, ctx: RequestContext, completion: dict[str, Any]) -> dict[str, Any]:
        if isinstance(completion.get("usage"), dict):
            ctx.usage = completion["usage"]
        ctx.completion = completion
        for hook in self.hooks:
            completion = await hook.after(ctx, completion)
        ctx.completion = completion
        return completion

    async def _stream(self, ctx: RequestContext, source: AsyncIterator[dict[str, Any]],
                      encoder: StreamEncoder | None = None) -> AsyncIterator[bytes]:
        filters: list[StreamFilter] = []
        for hook in self.hooks:
            f = hook.stream_filter(ctx)
            if f is not None:
                filters.append(f)
        enc = encoder or ChatStreamEncoder(ctx.client_wants_usage)
        enc.rewritten = any(f.rewrites for f in filters)  # then no upstream event may pass as it came
        agg = ChunkAggregator()
        model = ctx.requested_model  # the public name, as /v1/models lists it
        created = int(ctx.started_wall)
        failed: SluiceError | None = None
        try:
            async for chunk in source:
                patch_chunk(chunk, model=model, request_id=ctx.request_id, created=created)
                agg.add(chunk)
                if chunk.get("usage") is not None:
                    ctx.usage = chunk["usage"]
                for c in _through(filters, 0, [chunk]):
                    for frame in enc.chunk(c):
                        yield frame
            ctx.completion = agg.completion()  # filters' on_end may read it (e.g. to count tokens)
            for i, f in enumerate(filters):
                for c in _through(filters, i + 1, f.on_end()):
                    for frame in enc.chunk(c):
                        yield frame
        except SluiceError as err:
            ctx.status_code = err.status
            ctx.error_code = err.code
            if isinstance(err, UpstreamError):
                log.warning("stream %s failed midway: %s", ctx.request_id, err.message)
            failed = err
        except Exception:
            log.exception("stream %s broke on an unexpected error", ctx.request_id)
            ctx.status_code, ctx.error_code = 500, "internal_error"
            failed = SluiceError(f"the gateway failed mid-stream; logged under request id {ctx.request_id}")
        finally:
            if ctx.completion is None:  # failed or cancelled (client gone): what was produced stays billable
                ctx.completion = agg.completion()
        for frame in (enc.end() if failed is None else enc.error(failed)):
            yield frame


def _through(filters: list[StreamFilter], start: int, chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for f in filters[start:]:
        nxt: list[dict[str, Any]] = []
        for c in chunks:
            nxt.extend(f.on_chunk(c))
        chunks = nxt
    return chunks


async def _aiter(items: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for item in items:
        yield item


async def run_embeddings(pipeline: Pipeline, ctx: RequestContext) -> dict[str, Any]:
    result = await pipeline._before(ctx)
    if result is None:
        ctx.model_group = ctx.requested_model
        result = await pipeline.router.embed(ctx, ctx.body)
    if isinstance(result.get("usage"), dict):
        ctx.usage = result["usage"]
    result["model"] = ctx.requested_model  # the public name; the deployment is in x-sluice-model
    for hook in pipeline.hooks:
        result = await hook.after(ctx, result)
    return result  # type: ignore[no-any-return]


async def run_retrieval(pipeline: Pipeline, ctx: RequestContext,
                        answer: Callable[[dict[str, Any]], Awaitable[R]],
                        completion_of: Callable[[R], dict[str, Any] | None]) -> R:
    """A retrieval route (the RAG query API) through the same hooks as chat: every `before` (auth,
    allow-list, limits, budgets, input guardrails on the question), the retrieval and answer, then
    every `after` on the generated completion (output guardrails). No hook answers a retrieval from
    its `before` (the response cache serves chat only); one that did would be a bug, so it fails."""
    if await pipeline._before(ctx) is not None:
        raise SluiceError(f"a hook answered the {ctx.route} route from its before(); only chat may be answered early")
    result = await answer(ctx.body)
    completion = completion_of(result)
    if completion is not None:
        await pipeline._after(ctx, completion)  # leaves the final completion in ctx.completion
    return result


async def run_finished(pipeline: Pipeline, ctx: RequestContext) -> None:
    """After-response work. A failing hook is logged and must not affect the others."""
    for hook in pipeline.hooks:
        try:
            await hook.finished(ctx)
        except Exception:
            log.exception("hook %s failed after request %s", hook.name, ctx.request_id)
