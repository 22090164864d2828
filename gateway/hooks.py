"""The pipeline's extension points. Auth, prompts, guardrails, cache, spend and telemetry are hooks.

Order is each stage's `Slot` (gateway/capability.py), contributed by the capabilities in
gateway/composition.py: auth -> prompt rendering -> input guardrails -> cache lookup ->
[router / upstream] -> output guardrails -> cache store -> spend.
Streaming and non-streaming requests go through the same hooks:

- `before(ctx)` runs before the upstream call. It may rewrite `ctx.body`, raise a SluiceError
  (the request fails with that status), or return a result that short-circuits the upstream
  (a cache hit): a completion dict, or an async iterator of chunk dicts. The pipeline converts
  between the two shapes when the client asked for the other one.
- `after(ctx, completion)` sees a non-streamed completion dict and returns it (possibly changed).
- `stream_filter(ctx)` returns a per-request StreamFilter (or None) that sees every parsed chunk.
- `finished(ctx)` runs after the response has been sent (ledger writes, cache stores, metrics);
  it must not block: enqueue and return.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from gateway.context import RequestContext

Completion = dict[str, Any]
Chunk = dict[str, Any]
HookResult = Completion | AsyncIterator[Chunk] | None


class StreamFilter:
    """Stateful per-request view of a stream. Return the chunks to emit (hold back, rewrite, add).

    Raising a SluiceError stops the stream with an OpenAI-shaped error event. A filter that only
    watches (never changes, holds back or adds a chunk) sets `rewrites = False`: an upstream's
    own stream events may then reach the client as they came (gateway/formats/anthropic.py).
    """

    rewrites: bool = True

    def on_chunk(self, chunk: Chunk) -> list[Chunk]:
        return [chunk]

    def on_end(self) -> list[Chunk]:
        """Called once after the upstream's last chunk; may flush held-back chunks."""
        return []


class Hook:
    name: str = "hook"

    async def before(self, ctx: RequestContext) -> HookResult:
        return None

    async def after(self, ctx: RequestContext, completion: Completion) -> Completion:
        return completion

    def stream_filter(self, ctx: RequestContext) -> StreamFilter | None:
        return None

    async def finished(self, ctx: RequestContext) -> None:
        return None

    async def aclose(self) -> None:
        return None
