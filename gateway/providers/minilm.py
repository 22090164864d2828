"""`provider: minilm`: the local embedding model (the `minilm` package) behind /v1/embeddings.

The model itself is loaded by `minilm.MiniLMEmbedder`. `get_embedder()` holds the gateway's
process-wide instance, loaded on first use: /v1/embeddings, the semantic cache, RAG and the
guardrails' injection model (handed it by gateway/composition.py) all share it.

Token-id input (`"input": [[15339, 1917]]` or `[15339, 1917]`), which LangChain's
`OpenAIEmbeddings` sends by default, is decoded back to text with the tiktoken encoding the client
tokenized with, then embedded: `cl100k_base` (what `OpenAIEmbeddings` uses for the
text-embedding-ada-002 / -3 models), or the deployment's `options: {token_encoding: o200k_base}`.
An id outside the encoding is a 400 with `param: input`.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from typing import TYPE_CHECKING, Any, ClassVar

from gateway.errors import InvalidRequest, UpstreamTimeout
from gateway.providers.base import Provider
from gateway.spend.tokens import _encoding as encoding_for  # the offline loader (bundled files)
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


TOKEN_ENCODINGS = ("cl100k_base", "o200k_base")
DEFAULT_TOKEN_ENCODING = "cl100k_base"


def _is_ids(x: Any) -> bool:
    return isinstance(x, list) and bool(x) and all(isinstance(t, int) and not isinstance(t, bool) for t in x)


def _decode(ids: list[int], encoding: str, where: str) -> str:
    enc = encoding_for(encoding)
    bad = next((t for t in ids if not 0 <= t <= enc.max_token_value), None)
    try:
        if bad is None:
            return str(enc.decode(ids))
    except KeyError:  # an id inside the range that the encoding does not assign
        bad = next(t for t in ids if not _decodes(enc, t))
    raise EmbeddingInputError(f"{where} holds token id {bad}, which is not a {encoding} token (ids run 0.."
                              f"{enc.max_token_value}); send text, or ids from the {encoding} tokenizer",
                              param="input")


def _decodes(enc: Any, token: int) -> bool:
    try:
        enc.decode_single_token_bytes(token)
    except KeyError:
        return False
    return True


def _inputs(body: dict[str, Any], encoding: str = DEFAULT_TOKEN_ENCODING) -> list[str]:
    """The texts to embed: strings as they are, token-id arrays decoded with `encoding`."""
    inp = body.get("input")
    if isinstance(inp, str) or _is_ids(inp):
        inp = [inp]
    if not isinstance(inp, list) or not inp or not all(isinstance(x, str) or _is_ids(x) for x in inp):
        raise EmbeddingInputError("'input' must be a string, a non-empty array of strings, or token-id arrays "
                                  f"({encoding}) for the local MiniLM model", param="input")
    return [x if isinstance(x, str) else _decode(x, encoding, f"input[{i}]") for i, x in enumerate(inp)]


class MiniLMEmbeddingProvider(Provider):
    """`provider: minilm`: the local embedding model behind /v1/embeddings."""

    kind: ClassVar[str] = "minilm"
    supports_chat: ClassVar[bool] = False
    supports_stream: ClassVar[bool] = False
    supports_embeddings: ClassVar[bool] = True

    def __init__(self, deployment: Deployment, *, shared: dict[str, Any] | None = None) -> None:
        super().__init__(deployment, shared=shared)
        self._embedder: MiniLMEmbedder | None = None
        enc = deployment.options.get("token_encoding", DEFAULT_TOKEN_ENCODING)
        if enc not in TOKEN_ENCODINGS:
            raise ValueError(f"options.token_encoding of a minilm deployment must be one of "
                             f"{', '.join(TOKEN_ENCODINGS)}, not {enc!r}")
        self.token_encoding: str = enc

    async def start(self) -> None:
        self._embedder = await asyncio.to_thread(get_embedder)

    async def embed(self, body: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        texts = await asyncio.to_thread(_inputs, body, self.token_encoding)  # loading an encoding reads a file
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
