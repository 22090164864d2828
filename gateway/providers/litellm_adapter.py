"""Non-OpenAI wire formats (Anthropic, Bedrock, Vertex, ...) through litellm's provider adapters.

litellm is imported only when a config names such a provider (it costs ~4.5 s and ~170 MB),
and only its adapters are used: routing, retries, spend and caching stay the gateway's.
`provider: anthropic` maps to litellm's `anthropic/<model>`; `provider: litellm` takes the model
name as litellm spells it (`bedrock/...`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import openai

from gateway.errors import UpstreamError, UpstreamRejected, UpstreamTimeout
from gateway.providers.base import Provider
from gateway.providers.openai_compat import RETRYABLE_STATUS

_PASSTHROUGH = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "tools", "tool_choice",
                "response_format", "n", "seed", "user", "metadata", "parallel_tool_calls", "stream_options",
                "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs")


class LiteLLMProvider(Provider):
    kind = "litellm"

    def __init__(self, deployment, *, shared=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(deployment, shared=shared)
        prefix = "anthropic/" if deployment.provider == "anthropic" else ""
        self.model = deployment.model if deployment.model.startswith(prefix) else prefix + deployment.model
        self._litellm: Any = None
        self._client: Any = None

    async def start(self) -> None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch the price map
        self._litellm = await asyncio.to_thread(_import_litellm)
        # litellm's shared httpx client follows redirects, and httpx drops only `Authorization` on
        # a cross-origin hop, so Anthropic's `x-api-key` and the body would reach the new origin.
        # Our own client never follows: a 3xx becomes an upstream error (see _map).
        from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

        self._client = AsyncHTTPHandler(timeout=self.deployment.timeout_s, follow_redirects=False)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _kwargs(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        kw: dict[str, Any] = {k: body[k] for k in _PASSTHROUGH if k in body}
        kw.update(model=self.model, messages=body["messages"], timeout=timeout, num_retries=0)
        if self._client is not None:
            kw["client"] = self._client
        if self.deployment.api_base:
            kw["api_base"] = self.deployment.api_base
        key = self.deployment.api_key()
        if key:
            kw["api_key"] = key
        if self.deployment.headers:
            kw["extra_headers"] = dict(self.deployment.headers)
        return kw

    def _map(self, exc: Exception) -> UpstreamError:
        status = _redirect_status(exc) or getattr(exc, "status_code", None)
        if isinstance(exc, self._litellm.Timeout):
            return UpstreamTimeout(f"upstream did not answer in time ({type(exc).__name__})")
        if isinstance(exc, self._litellm.APIConnectionError) and status in (None, 500):
            return UpstreamError(f"cannot reach upstream: {type(exc).__name__}")
        if isinstance(status, int) and 300 <= status < 400:
            return UpstreamError(f"deployment {self.deployment.id} answered with a redirect (HTTP {status}); "
                                 "redirects are not followed: set its api_base to the final URL",
                                 upstream_status=status, retryable=True, code="upstream_redirect")
        if status in (400, 404, 422):
            return UpstreamRejected(f"the upstream model rejected the request: {getattr(exc, 'message', '')[:300]}",
                                    upstream_status=status)
        retry_after = None
        response = getattr(exc, "response", None)
        if response is not None and getattr(response, "headers", None) is not None:
            try:
                retry_after = float(response.headers.get("retry-after"))
            except (TypeError, ValueError):
                retry_after = None
        return UpstreamError(f"upstream error ({type(exc).__name__}, HTTP {status})", upstream_status=status,
                             retryable=status is None or status in RETRYABLE_STATUS or status in (401, 403),
                             retry_after_s=retry_after)

    async def chat(self, body: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        try:
            resp = await self._litellm.acompletion(**self._kwargs(body, timeout))
        except openai.OpenAIError as exc:  # litellm maps provider errors onto openai's classes
            raise self._map(exc) from None
        return resp.model_dump(exclude_none=False)  # type: ignore[no-any-return]

    async def stream_chat(self, body: dict[str, Any], *, timeout: float) -> AsyncIterator[dict[str, Any]]:
        try:
            stream = await self._litellm.acompletion(stream=True, **self._kwargs(body, timeout))
            async for chunk in stream:
                data = chunk.model_dump(exclude_none=True)
                if not data.get("choices") and not data.get("usage"):
                    continue
                yield data
        except openai.OpenAIError as exc:
            raise self._map(exc) from None


def _redirect_status(exc: BaseException) -> int | None:
    """The 3xx an unfollowed redirect ended in. litellm reports it as a connection error with an
    empty message; the httpx status error is further down the exception chain."""
    import httpx

    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, httpx.HTTPStatusError) and seen.response.is_redirect:
            return seen.response.status_code
        seen = seen.__cause__ or seen.__context__
    return None


def _import_litellm() -> Any:
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True  # no banners on stdout
    litellm.drop_params = True  # parameters a provider lacks are dropped, not errors
    return litellm
