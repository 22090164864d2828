"""`provider: minilm`: the local embedding model (the `minilm` package) behind /v1/embeddings.

The model itself is loaded by `minilm.MiniLMEmbedder`. `get_embedder()` holds the gateway's
process-wide instance, loaded on first use: /v1/embeddings, the semantic cache, RAG and the
guardrails' injection model (handed it by gateway/composition.py) all share it.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from typing import TYPE_CHECKING, Any, ClassVar

from gateway.errors import InvalidRequest, UpstreamTimeout
from gateway.providers.base import Provider
from minilm import DIMS, MiniLMEmbedder

if TYPE_CHECKING:
    from gateway.config import Deployment

__all__ = ["DIMS", "EmbeddingInputError", "MiniLMEmbedder", "MiniLMEmbeddingProvider", "get_embedder"]


class EmbeddingInputError(InvalidRequest, ValueError):
    """A request the local embedder cannot serve (a 400 for the gateway, a ValueError for callers)."""


_shared: MiniLMEmbedder | None = None
_shared_lock = threading.Lock()


def get_embedder() -> MiniLMEmbedder:
    """The process-wide embedder, loaded on first use (~0.3 s); the gateway, cache and RAG share it."""
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                _shared = MiniLMEmbedder()
    return _shared


def _inputs(body: dict[str, Any]) -> list[str]:
    inp = body.get("input")
    if isinstance(inp, str):
        inp = [inp]
    if not isinstance(inp, list) or not inp or not all(isinstance(x, str) for x in inp):
        raise EmbeddingInputError("'input' must be a string or a non-empty array of strings for the local "
                                  "MiniLM model (token arrays are not supported)", param="input")
    return inp


class MiniLMEmbeddingProvider(Provider):
    """`provider: minilm`: the local embedding model behind /v1/embeddings."""

    kind: ClassVar[str] = "minilm"
    supports_chat: ClassVar[bool] = False
    supports_stream: ClassVar[bool] = False
    supports_embeddings: ClassVar[bool] = True

    def __init__(self, deployment: Deployment, *, shared: dict[str, Any] | None = None) -> None:
        super().__init__(deployment, shared=shared)
        self._embedder: MiniLMEmbedder | None = None

    async def start(self) -> None:
        self._embedder = await asyncio.to_thread(get_embedder)

    async def embed(self, body: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        texts = _inputs(body)
        dims = body.get("dimensions")
        if dims is not None and dims != DIMS:
            raise EmbeddingInputError(f"'dimensions' must be {DIMS} (or left out) for {self.deployment.model}: "
                                      "the local MiniLM model has a fixed size", param="dimensions")
        fmt = body.get("encoding_format") or "float"
        if fmt not in ("float", "base64"):
            raise EmbeddingInputError("'encoding_format' must be 'float' or 'base64'", param="encoding_format")
        if self._embedder is None:
            await self.start()
        assert self._embedder is not None
        try:
            vecs, tokens = await asyncio.wait_for(asyncio.to_thread(self._embedder.embed_with_counts, texts), timeout)
        except TimeoutError:
            raise UpstreamTimeout(f"local embedding of {len(texts)} inputs took longer than {timeout:g} s; "
                                  "send fewer or shorter inputs, or raise the deployment's timeout_s") from None
        if fmt == "base64":
            data = [base64.b64encode(v.astype("<f4").tobytes()).decode() for v in vecs]
        else:
            data = vecs.tolist()
        return {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": e} for i, e in enumerate(data)],
            "model": self.deployment.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
