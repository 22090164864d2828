"""Anthropic deployments: chat completions through litellm's adapter, and `/v1/messages` natively.

A client of the gateway's own `/v1/messages` is served by sending its request as it came (the model
replaced by the deployment's): thinking blocks and their signatures, `cache_control`, `top_k`,
betas and any field the gateway does not know reach Anthropic untouched, and the answer comes back
untouched (gateway/api/anthropic_messages.py). The pipeline's stages still see chat completions:
the answer and each stream event are also translated to their chat shape here (usage with the
prompt-cache reads and writes, for pricing), and a stage that rewrites the request or the answer
turns the pass-through off for that request (gateway/engine/router.py, gateway/formats/anthropic.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import aiohttp
import orjson

from gateway.context import NativeRequest
from gateway.errors import UpstreamError, UpstreamTimeout
from gateway.providers.http_pool import get_session
from gateway.providers.litellm_adapter import LiteLLMProvider
from gateway.providers.openai_compat import post_bytes, upstream_error

DEFAULT_BASE = "https://api.anthropic.com"
DEFAULT_VERSION = "2023-06-01"
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
           "pause_turn": "stop", "refusal": "content_filter"}


def chat_usage(usage: dict[str, Any] | None) -> dict[str, Any]:
    """Anthropic's usage as chat's: prompt tokens include the cache reads and writes, which are
    also given apart (`prompt_tokens_details.cached_tokens`, `cache_creation_input_tokens`)."""
    u = usage or {}
    read = int(u.get("cache_read_input_tokens") or 0)
    write = int(u.get("cache_creation_input_tokens") or 0)
    prompt = int(u.get("input_tokens") or 0) + read + write
    out = int(u.get("output_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out,
            "prompt_tokens_details": {"cached_tokens": read}, "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read}


def message_to_completion(msg: dict[str, Any]) -> dict[str, Any]:
    text: list[str] = []
    thinking: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for block in msg.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            text.append(block.get("text", ""))
        elif kind in ("thinking", "redacted_thinking"):
            thinking.append(block)
        elif kind == "tool_use":
            calls.append({"id": block.get("id"), "type": "function", "function": {
                "name": block.get("name", ""), "arguments": orjson.dumps(block.get("input") or {}).decode()}})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if calls:
        message["tool_calls"] = calls
    if thinking:
        message["thinking_blocks"] = thinking
        message["reasoning_content"] = "".join(b.get("thinking", "") for b in thinking) or None
    return {"id": msg.get("id"), "object": "chat.completion", "model": msg.get("model"),
            "choices": [{"index": 0, "message": message,
                         "finish_reason": _FINISH.get(msg.get("stop_reason") or "end_turn", "stop")}],
            "usage": chat_usage(msg.get("usage"))}


class _EventsToChunks:
    """Anthropic stream events to chat chunks; each chunk carries the events it came from as
    (name, parsed, raw bytes): passed through, an event is sent as the upstream's own bytes."""

    def __init__(self) -> None:
        self.id: str | None = None
        self.usage: dict[str, Any] = {}
        self.tool_index = -1
        self.block_kind: dict[int, str] = {}

    def chunk(self, name: str, data: dict[str, Any], raw: bytes) -> dict[str, Any]:
        kind = data.get("type") or name
        delta: dict[str, Any] = {}
        finish = None
        usage = None
        if kind == "message_start":
            msg = data.get("message") or {}
            self.id = msg.get("id")
            self.usage = dict(msg.get("usage") or {})
            delta = {"role": "assistant"}
        elif kind == "content_block_start":
            block = data.get("content_block") or {}
            self.block_kind[data.get("index", 0)] = block.get("type", "")
            if block.get("type") == "tool_use":
                self.tool_index += 1
                delta = {"tool_calls": [{"index": self.tool_index, "id": block.get("id"), "type": "function",
                                         "function": {"name": block.get("name", ""), "arguments": ""}}]}
        elif kind == "content_block_delta":
            d = data.get("delta") or {}
            dt = d.get("type")
            if dt == "text_delta":
                delta = {"content": d.get("text", "")}
            elif dt == "thinking_delta":
                delta = {"reasoning_content": d.get("thinking", "")}
            elif dt == "signature_delta":
                delta = {"thinking_blocks": [{"type": "thinking", "thinking": "", "signature": d.get("signature")}]}
            elif dt == "input_json_delta":
                delta = {"tool_calls": [{"index": self.tool_index,
                                         "function": {"arguments": d.get("partial_json", "")}}]}
        elif kind == "message_delta":
            self.usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
            stop = (data.get("delta") or {}).get("stop_reason")
            finish = _FINISH.get(stop or "end_turn", "stop")
            usage = chat_usage(self.usage)
        elif kind == "error":
            err = data.get("error") or {}
            raise UpstreamError(f"upstream stream error: {str(err.get('message') or 'unknown')[:300]}",
                                retryable=False)
        choices = [{"index": 0, "delta": delta, "finish_reason": finish}] if delta or finish else []
        out: dict[str, Any] = {"id": self.id, "object": "chat.completion.chunk", "choices": choices,
                               "_native_events": [(name, data, raw)]}
        if usage is not None:
            out["usage"] = usage
        return out


class AnthropicProvider(LiteLLMProvider):
    kind = "anthropic"
    native_wires: ClassVar[frozenset[str]] = frozenset({"anthropic"})

    def __init__(self, deployment, *, shared=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(deployment, shared=shared)
        base = (deployment.api_base or DEFAULT_BASE).rstrip("/")
        self.messages_url = base + ("/messages" if base.endswith("/v1") else "/v1/messages")
        self._starting = asyncio.Lock()

    async def start(self) -> None:
        """litellm (~4.5 s, ~170 MB) loads on the first chat-completions call, not at start: a
        deployment that only serves /v1/messages clients (Claude Code) never needs it."""

    async def _ready(self) -> None:
        async with self._starting:  # one load, however many first calls arrive together
            if self._litellm is None:
                await super().start()

    async def chat(self, body: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        await self._ready()
        return await super().chat(body, timeout=timeout)

    async def stream_chat(self, body: dict[str, Any], *, timeout: float) -> AsyncIterator[dict[str, Any]]:
        await self._ready()
        async for chunk in super().stream_chat(body, timeout=timeout):
            yield chunk

    def _headers(self, native: NativeRequest) -> dict[str, str]:
        headers = {"content-type": "application/json", "anthropic-version": DEFAULT_VERSION,
                   **native.headers, **self.deployment.headers}
        key = self.deployment.api_key()
        if key:
            headers["x-api-key"] = key
        return headers

    def _body(self, native: NativeRequest, stream: bool) -> bytes:
        body = {**native.body, "model": self.deployment.model}
        if stream:
            body["stream"] = True
        else:
            body.pop("stream", None)
        return orjson.dumps(body)

    async def native_chat(self, native: NativeRequest, *, timeout: float) -> tuple[dict[str, Any], dict[str, Any]]:
        """The client's request, sent as it came: (the answer as a chat completion, the answer itself)."""
        raw = await post_bytes(get_session(self.shared), self.messages_url, self._body(native, False),
                               self._headers(native), timeout, self.deployment.id or "")
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamError("upstream returned a body that is not JSON") from None
        if not isinstance(msg, dict) or msg.get("type") != "message":
            raise UpstreamError("upstream returned JSON that is not an Anthropic message")
        return message_to_completion(msg), msg

    async def native_stream(self, native: NativeRequest, *, timeout: float) -> AsyncIterator[dict[str, Any]]:
        session = get_session(self.shared)
        req_timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
        conv = _EventsToChunks()
        try:
            async with session.post(self.messages_url, data=self._body(native, True), headers=self._headers(native),
                                    allow_redirects=False, timeout=req_timeout) as resp:
                if resp.status >= 300:
                    raise upstream_error(resp.status, await resp.read(), resp.headers, self.deployment.id or "")
                name = ""
                buf = b""
                async for piece in resp.content.iter_any():
                    buf += piece
                    while (nl := buf.find(b"\n")) >= 0:
                        line, buf = buf[:nl].rstrip(b"\r"), buf[nl + 1:]
                        if line.startswith(b"event:"):
                            name = line[6:].strip().decode("utf-8", "replace")
                        elif line.startswith(b"data:"):
                            raw = line[5:].strip()
                            try:
                                data = orjson.loads(raw)
                            except orjson.JSONDecodeError:
                                raise UpstreamError("upstream sent a stream event that is not JSON") from None
                            if isinstance(data, dict):
                                yield conv.chunk(name or str(data.get("type", "")), data, raw)
                                if data.get("type") == "message_stop":
                                    return
                raise UpstreamError("upstream closed the stream before message_stop", retryable=True)
        except TimeoutError:
            raise UpstreamTimeout(f"upstream stream stalled for more than {timeout:.1f}s") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"upstream connection failed mid-request: {type(exc).__name__}") from None
