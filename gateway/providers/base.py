"""One provider interface: `chat`, `stream_chat`, `embed`, plus capability flags.

A provider instance serves one configured Deployment. Providers are registered by kind
(`register_provider("openai", "gateway.providers.openai_compat:OpenAICompatProvider")`);
built-ins register the same way a plugin would, by import path, so heavy libraries (litellm,
onnxruntime, xllamacpp) are imported only when a config names a provider that needs them.

Bodies and chunks are plain dicts in OpenAI's shape (parsed once with orjson): no pydantic
round-trip on the hot path. Failures raise gateway.errors.UpstreamError (or UpstreamTimeout)
with `retryable` set, which is what the router's retry policy reads.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from gateway.config import Deployment
    from gateway.context import NativeRequest


class Provider:
    """Capability flags are read when a config generation is built and on every request:

    - `supports_chat` / `supports_embeddings`: a model group of that mode may use the provider
      (gateway/runtime.py `build_providers` refuses the config otherwise).
    - `supports_stream`: `stream_chat` works. A chat group streams only if all its deployments do;
      `stream: true` to one that cannot is answered 400 stream_not_supported (gateway/engine/router.py).
    - `supports_stream_usage`: the stream ends with a usage chunk when asked with
      `stream_options.include_usage`. If not, the router sends no `stream_options` and closes the
      stream with a usage chunk counted by the gateway (gateway/engine/streaming.py `with_counted_usage`).
    """

    kind: ClassVar[str] = "base"
    supports_chat: ClassVar[bool] = True
    supports_stream: ClassVar[bool] = True
    supports_embeddings: ClassVar[bool] = False
    supports_stream_usage: ClassVar[bool] = True  # honours stream_options.include_usage
    # Inbound APIs (ctx.native.wire) this provider can be sent in their own format, unchanged:
    # `native_chat` / `native_stream` then serve them (gateway/providers/anthropic_native.py).
    native_wires: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, deployment: Deployment, *, shared: dict[str, Any] | None = None) -> None:
        self.deployment = deployment
        self.shared = shared if shared is not None else {}  # process-wide resources (HTTP pool)

    async def start(self) -> None:
        """Acquire resources (load a model, open a pool). Called once before first use."""

    async def chat(self, body: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        raise NotImplementedError(f"{self.kind} does not serve chat")

    def stream_chat(self, body: dict[str, Any], *, timeout: float) -> AsyncIterator[dict[str, Any]]:
        raise NotImplementedError(f"{self.kind} does not stream")

    async def embed(self, body: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        raise NotImplementedError(f"{self.kind} does not serve embeddings")

    async def native_chat(self, native: NativeRequest, *, timeout: float) -> tuple[dict[str, Any], dict[str, Any]]:
        """The client's own request: (the answer as a chat completion, the answer as the upstream gave it)."""
        raise NotImplementedError(f"{self.kind} takes no native requests")

    def native_stream(self, native: NativeRequest, *, timeout: float) -> AsyncIterator[dict[str, Any]]:
        """Chat chunks, each carrying the upstream's own events under `_native_events`."""
        raise NotImplementedError(f"{self.kind} takes no native requests")

    async def aclose(self) -> None:
        """Release resources."""


_REGISTRY: dict[str, str | type[Provider]] = {}


def register_provider(kind: str, target: str | type[Provider]) -> None:
    """Register a provider class, or a "module:Class" path imported on first use."""
    _REGISTRY[kind] = target


def provider_kinds() -> list[str]:
    return sorted(_REGISTRY)


def provider_class(kind: str) -> type[Provider]:
    target = _REGISTRY.get(kind)
    if target is None:
        raise KeyError(kind)
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        cls = getattr(importlib.import_module(module), attr)
        _REGISTRY[kind] = cls
        return cls  # type: ignore[no-any-return]
    return target


# Built-ins. OpenAI-compatible upstreams (OpenAI, vLLM, llama.cpp server, Ollama, ...) share one
# implementation; Azure is the same wire format with a different URL and auth header.
register_provider("openai", "gateway.providers.openai_compat:OpenAICompatProvider")
register_provider("azure", "gateway.providers.openai_compat:AzureOpenAIProvider")
register_provider("anthropic", "gateway.providers.anthropic_native:AnthropicProvider")
register_provider("litellm", "gateway.providers.litellm_adapter:LiteLLMProvider")
register_provider("llamacpp", "gateway.providers.llamacpp:LlamaCppProvider")
register_provider("minilm", "gateway.providers.minilm:MiniLMEmbeddingProvider")
register_provider("mock", "gateway.providers.mock:MockProvider")
