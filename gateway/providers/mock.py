"""`provider: mock`: the built-in deterministic model, in-process (no HTTP, no key).

The same content as `sluice mock-upstream` (gateway/mock_upstream): answers derived from the
request, realistic usage, tool calls, streaming. For demos, tests and evals that need a stable model.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from itertools import count
from typing import Any

from gateway.mock_upstream import openai_format
from gateway.providers.base import Provider


class MockProvider(Provider):
    kind = "mock"
    supports_embeddings = True

    def __init__(self, deployment, *, shared=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(deployment, shared=shared)
        opts = deployment.options
        self.reply_words = int(opts.get("reply_words", 16))
        self.dims = int(opts.get("embedding_dims", 384))
        self.tokens_per_s = float(opts.get("tokens_per_s", 0) or 0)
        self._counter = count()

    def _plan(self, body: dict[str, Any]) -> openai_format.ChatPlan:
        return openai_format.ChatPlan({**body, "model": self.deployment.model}, self.reply_words, next(self._counter))

    async def chat(self, body: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        return openai_format.completion(self._plan(body))

    async def stream_chat(self, body: dict[str, Any], *, timeout: float) -> AsyncIterator[dict[str, Any]]:
        plan = self._plan(body)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        for chunk in openai_format.chunks(plan):
            if not chunk.get("choices") and not include_usage:
                continue
            if self.tokens_per_s:
                await asyncio.sleep(1.0 / self.tokens_per_s)
            yield chunk

    async def embed(self, body: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        return openai_format.embeddings({**body, "model": self.deployment.model}, self.dims, 0)
