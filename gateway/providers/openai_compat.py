"""The OpenAI-compatible fast path: OpenAI, Azure-style, vLLM, llama.cpp server, Ollama, ...

aiohttp for the pooled upstream connection, orjson for bodies and stream chunks, parsed once;
responses are patched only where the upstream left out something OpenAI's schema requires.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from gateway.errors import UpstreamError, UpstreamRejected, UpstreamTimeout
from gateway.providers.base import Provider
from gateway.providers.http_pool import get_session

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after") if headers is not None else None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP-date: fall back to our own backoff


def upstream_error(status: int, raw: bytes, headers: Any, deployment_id: str) -> UpstreamError:
    """Map an upstream HTTP error to ours. Client mistakes pass through as 400; our key failing is 502."""
    detail = ""
    try:
        parsed = orjson.loads(raw)
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            detail = str(parsed["error"].get("message") or "")[:500]
    except orjson.JSONDecodeError:
        pass
    retryable = status in RETRYABLE_STATUS
    if 300 <= status < 400:
        # Never followed (allow_redirects=False): a redirect would re-send the body and the
        # provider key to whatever origin the upstream names. Retryable: another deployment may serve.
        return UpstreamError(f"deployment {deployment_id} answered with a redirect (HTTP {status}); redirects "
                             "are not followed: set its api_base to the final URL", upstream_status=status,
                             retryable=True, code="upstream_redirect")
    if status in (400, 404, 413, 422):
        return UpstreamRejected(f"the upstream model rejected the request: {detail or f'HTTP {status}'}",
                                upstream_status=status)
    if status in (401, 403):
        return UpstreamError(f"deployment {deployment_id} failed to authenticate upstream (HTTP {status}); "
                             "check its api_key_env", upstream_status=status, retryable=True,
                             code="upstream_auth_failed")
    return UpstreamError(f"upstream returned HTTP {status}" + (f": {detail}" if detail else ""),
                         upstream_status=status, retryable=retryable, retry_after_s=_retry_after(headers))


async def post_bytes(session: aiohttp.ClientSession, url: str, data: bytes, headers: dict[str, str], timeout: float,
                     deployment_id: str) -> bytes:
    """POST, never following a redirect; the body of a 2xx, else the upstream's error mapped to ours."""
    try:
        async with session.post(url, data=data, headers=headers, allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            raw = await resp.read()
            if resp.status >= 300:
                raise upstream_error(resp.status, raw, resp.headers, deployment_id)
            return raw
    except TimeoutError:
        raise UpstreamTimeout(f"upstream did not answer within {timeout:.1f}s") from None
    except aiohttp.ClientError as exc:
        raise UpstreamError(f"cannot reach upstream: {type(exc).__name__}") from None


class OpenAICompatProvider(Provider):
    kind = "openai"
    supports_embeddings = True
    default_base = "https://api.openai.com/v1"

    def __init__(self, deployment, *, shared=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(deployment, shared=shared)
        base = (deployment.api_base or self.default_base).rstrip("/")
        self.chat_url = self._url(base, "chat/completions")
        self.embed_url = self._url(base, "embeddings")
        self.headers = {"content-type": "application/json", **self._auth_headers(), **deployment.headers}

    def _url(self, base: str, path: str) -> str:
        return f"{base}/{path}"

    def _auth_headers(self) -> dict[str, str]:
        key = self.deployment.api_key()
        return {"authorization": f"Bearer {key}"} if key else {}

    def _body(self, body: dict[str, Any]) -> bytes:
        return orjson.dumps({**body, "model": self.deployment.model})

    async def chat(self, body: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        return await self._post_json(self.chat_url, body, timeout)

    async def embed(self, body: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        return await self._post_json(self.embed_url, body, timeout)

    async def _post_json(self, url: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        raw = await post_bytes(get_session(self.shared), url, self._body(body), self.headers, timeout,
                               self.deployment.id or "")
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamError("upstream returned a body that is not JSON") from None
        if not isinstance(data, dict):
            raise UpstreamError("upstream returned JSON that is not an object")
        return data  # type: ignore[no-any-return]

    async def stream_chat(self, body: dict[str, Any], *, timeout: float) -> AsyncIterator[dict[str, Any]]:
        session = get_session(self.shared)
        # total covers connect + first byte; between chunks the stream may idle up to `timeout`
        req_timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
        try:
            async with session.post(self.chat_url, data=self._body(body), headers=self.headers,
                                    allow_redirects=False, timeout=req_timeout) as resp:
                if resp.status >= 300:
                    raw = await resp.read()
                    raise upstream_error(resp.status, raw, resp.headers, self.deployment.id or "")
                buf = b""
                async for piece in resp.content.iter_any():
                    buf += piece
                    while True:
                        nl = buf.find(b"\n")
                        if nl < 0:
                            break
                        line, buf = buf[:nl].rstrip(b"\r"), buf[nl + 1:]
                        if not line.startswith(b"data:"):
                            continue  # comments, event names, blank separators
                        payload = line[5:].strip()
                        if payload == b"[DONE]":
                            return
                        try:
                            chunk = orjson.loads(payload)
                        except orjson.JSONDecodeError:
                            raise UpstreamError("upstream sent a stream chunk that is not JSON",
                                                retryable=True) from None
                        if isinstance(chunk, dict):
                            if "error" in chunk and "choices" not in chunk:
                                msg = chunk["error"].get("message") if isinstance(chunk["error"], dict) else None
                                raise UpstreamError(f"upstream stream error: {msg or 'unknown'}")
                            yield chunk
                raise UpstreamError("upstream closed the stream before [DONE]", retryable=True)
        except TimeoutError:
            raise UpstreamTimeout(f"upstream stream stalled for more than {timeout:.1f}s") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"upstream connection failed mid-request: {type(exc).__name__}") from None


class AzureOpenAIProvider(OpenAICompatProvider):
    """Azure OpenAI: deployment-scoped URLs, `api-key` header, `api-version` query."""

    kind = "azure"

    def _url(self, base: str, path: str) -> str:
        version = self.deployment.api_version or "2024-10-21"
        return f"{base}/openai/deployments/{self.deployment.model}/{path}?api-version={version}"

    def _auth_headers(self) -> dict[str, str]:
        key = self.deployment.api_key()
        return {"api-key": key} if key else {}
