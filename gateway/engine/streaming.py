"""OpenAI chat-completion shapes: SSE framing, patching what an upstream omitted, and converting
between a whole completion and a chunk stream (a cached or hooked result may be either).

Patching is minimal and in place: only fields OpenAI's schema requires and an upstream left out.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson

from gateway.errors import SluiceError

SSE_DONE = b"data: [DONE]\n\n"


def sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


class StreamEncoder:
    """Turns the pipeline's chat chunks into a route's SSE bytes (gateway/formats/ has the other
    APIs' encoders). `end()` closes a stream that ran to its end; `error(err)` one that failed.
    `rewritten`: a stage's stream filter may change chunks (set by the pipeline before the first)."""

    rewritten = True

    def chunk(self, chunk: dict[str, Any]) -> Iterable[bytes]:
        raise NotImplementedError

    def end(self) -> Iterable[bytes]:
        raise NotImplementedError

    def error(self, err: SluiceError) -> Iterable[bytes]:
        raise NotImplementedError


class ChatStreamEncoder(StreamEncoder):
    """OpenAI's `data: <chunk>` frames then `data: [DONE]`. The final usage chunk (empty choices)
    goes only to clients that asked for it with `stream_options.include_usage`."""

    __slots__ = ("rewritten", "wants_usage")

    def __init__(self, wants_usage: bool) -> None:
        self.wants_usage = wants_usage

    def chunk(self, chunk: dict[str, Any]) -> Iterable[bytes]:
        if self.wants_usage or chunk.get("choices") or "usage" not in chunk:
            return (sse(chunk),)
        return ()

    def end(self) -> Iterable[bytes]:
        return (SSE_DONE,)

    def error(self, err: SluiceError) -> Iterable[bytes]:
        return (sse(err.body()), SSE_DONE)  # OpenAI-shaped error event: never a silent truncation


def patch_completion(data: dict[str, Any], *, model: str, request_id: str) -> dict[str, Any]:
    if not data.get("id"):
        data["id"] = f"chatcmpl-{request_id}"
    if data.get("object") != "chat.completion":
        data["object"] = "chat.completion"
    if not isinstance(data.get("created"), int):
        data["created"] = int(time.time())
    data["model"] = model  # the public name the client asked for; the deployment is in x-sluice-model
    choices = data.get("choices")
    if not isinstance(choices, list):
        data["choices"] = choices = []
    for i, ch in enumerate(choices):
        if not isinstance(ch, dict):
            continue
        ch.setdefault("index", i)
        if "logprobs" not in ch:
            ch["logprobs"] = None
        if ch.get("finish_reason") is None:
            ch["finish_reason"] = "stop"
        msg = ch.get("message")
        if not isinstance(msg, dict):
            ch["message"] = msg = {}
        msg.setdefault("role", "assistant")
        msg.setdefault("content", None)
        msg.setdefault("refusal", None)
    usage = data.get("usage")
    if isinstance(usage, dict):
        _patch_usage(usage)
    return data


def _patch_usage(usage: dict[str, Any]) -> None:
    p = usage.get("prompt_tokens")
    c = usage.get("completion_tokens")
    usage["prompt_tokens"] = p if isinstance(p, int) else 0
    usage["completion_tokens"] = c if isinstance(c, int) else 0
    if not isinstance(usage.get("total_tokens"), int):
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]


def patch_chunk(chunk: dict[str, Any], *, model: str, request_id: str, created: int) -> dict[str, Any]:
    if not chunk.get("id"):
        chunk["id"] = f"chatcmpl-{request_id}"
    if chunk.get("object") != "chat.completion.chunk":
        chunk["object"] = "chat.completion.chunk"
    if not isinstance(chunk.get("created"), int):
        chunk["created"] = created
    chunk["model"] = model
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        chunk["choices"] = choices = []
    for i, ch in enumerate(choices):
        if isinstance(ch, dict):
            ch.setdefault("index", i)
            if "finish_reason" not in ch:
                ch["finish_reason"] = None
            if not isinstance(ch.get("delta"), dict):
                ch["delta"] = {}
    usage = chunk.get("usage")
    if isinstance(usage, dict):
        _patch_usage(usage)
    return chunk


class ChunkAggregator:
    """Folds stream chunks into the completion they describe (content, tool calls, usage)."""

    def __init__(self) -> None:
        self.id: str | None = None
        self.model: str | None = None
        self.created: int | None = None
        self.system_fingerprint: str | None = None
        self.usage: dict[str, Any] | None = None
        self._choices: dict[int, dict[str, Any]] = {}

    def add(self, chunk: dict[str, Any]) -> None:
        if self.id is None:
            self.id = chunk.get("id")
            self.model = chunk.get("model")
            self.created = chunk.get("created")
        if chunk.get("system_fingerprint"):
            self.system_fingerprint = chunk["system_fingerprint"]
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for ch in chunk.get("choices") or ():
            idx = ch.get("index", 0)
            acc = self._choices.get(idx)
            if acc is None:
                acc = self._choices[idx] = {"role": "assistant", "content": [], "tool_calls": {},
                                            "finish_reason": None, "refusal": None}
            delta = ch.get("delta") or {}
            if delta.get("role"):
                acc["role"] = delta["role"]
            if delta.get("content"):
                acc["content"].append(delta["content"])
            if delta.get("refusal"):
                acc["refusal"] = (acc["refusal"] or "") + delta["refusal"]
            for tc in delta.get("tool_calls") or ():
                slot = acc["tool_calls"].setdefault(tc.get("index", 0), {"id": None, "type": "function",
                                                                         "function": {"name": "", "arguments": ""}})
                if tc.get("id"):
                    slot["id"] = tc["id"]
                fn = tc.get("function") or {}
                if fn.get("name"):
                    slot["function"]["name"] += fn["name"]
                if fn.get("arguments"):
                    slot["function"]["arguments"] += fn["arguments"]
            if ch.get("finish_reason"):
                acc["finish_reason"] = ch["finish_reason"]

    def text(self) -> str:
        return "".join("".join(c["content"]) for c in self._choices.values())

    def completion(self) -> dict[str, Any]:
        choices = []
        for idx in sorted(self._choices):
            acc = self._choices[idx]
            msg: dict[str, Any] = {"role": acc["role"], "content": "".join(acc["content"]) or None,
                                   "refusal": acc["refusal"]}
            if acc["tool_calls"]:
                msg["tool_calls"] = [acc["tool_calls"][k] for k in sorted(acc["tool_calls"])]
            choices.append({"index": idx, "message": msg, "logprobs": None,
                            "finish_reason": acc["finish_reason"] or "stop"})
        out: dict[str, Any] = {"id": self.id or "chatcmpl-aggregated", "object": "chat.completion",
                               "created": self.created or int(time.time()), "model": self.model or "",
                               "choices": choices}
        if self.system_fingerprint:
            out["system_fingerprint"] = self.system_fingerprint
        if self.usage is not None:
            out["usage"] = self.usage
        return out


def completion_to_chunks(completion: dict[str, Any], *, include_usage: bool) -> list[dict[str, Any]]:
    """Replays a whole completion as the chunks a stream would have carried."""
    base = {"id": completion.get("id"), "object": "chat.completion.chunk",
            "created": completion.get("created") or int(time.time()), "model": completion.get("model")}
    if completion.get("system_fingerprint"):
        base["system_fingerprint"] = completion["system_fingerprint"]
    chunks: list[dict[str, Any]] = []
    for ch in completion.get("choices") or ():
        msg = ch.get("message") or {}
        idx = ch.get("index", 0)
        chunks.append({**base, "choices": [{"index": idx, "delta": {"role": msg.get("role", "assistant"),
                                                                     "content": ""}, "finish_reason": None}]})
        if msg.get("content"):
            chunks.append({**base, "choices": [{"index": idx, "delta": {"content": msg["content"]},
                                                "finish_reason": None}]})
        for i, tc in enumerate(msg.get("tool_calls") or ()):
            chunks.append({**base, "choices": [{"index": idx, "delta": {"tool_calls": [{"index": i, **tc}]},
                                                "finish_reason": None}]})
        chunks.append({**base, "choices": [{"index": idx, "delta": {},
                                            "finish_reason": ch.get("finish_reason") or "stop"}]})
    if include_usage and completion.get("usage") is not None:
        chunks.append({**base, "choices": [], "usage": completion["usage"]})
    return chunks


def counted_usage(body: dict[str, Any], completion_text: str, model: str | None) -> dict[str, Any]:
    """Usage counted with the tokenizer, for an upstream that reports none."""
    from gateway.spend.tokens import count_messages, count_text  # tiktoken, loaded only when needed

    messages = body.get("messages")
    prompt = count_messages(messages if isinstance(messages, list) else None, model)
    completion = count_text(completion_text, model)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def with_counted_usage(chunks: AsyncIterator[dict[str, Any]], body: dict[str, Any],
                             model: str | None) -> AsyncIterator[dict[str, Any]]:
    """Passes a stream through and, if it ended without a usage chunk, closes it with the one a
    client asking `stream_options.include_usage` is owed: `choices: []` and counted `usage`.

    For providers that cannot report usage in a stream (`supports_stream_usage = False`)."""
    shape: dict[str, Any] = {}
    parts: list[str] = []
    saw_usage = False
    try:
        async for chunk in chunks:
            if not shape:
                shape = {k: chunk[k] for k in ("id", "created", "model", "system_fingerprint") if k in chunk}
            if isinstance(chunk.get("usage"), dict):
                saw_usage = True
            for ch in chunk.get("choices") or ():
                delta = ch.get("delta") if isinstance(ch, dict) else None
                if not isinstance(delta, dict):
                    continue
                if isinstance(delta.get("content"), str):
                    parts.append(delta["content"])
                for tc in delta.get("tool_calls") or ():
                    fn = tc.get("function") if isinstance(tc, dict) else None
                    if isinstance(fn, dict):
                        parts.extend(str(fn[k]) for k in ("name", "arguments") if fn.get(k))
            yield chunk
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
    if not saw_usage:
        yield {**shape, "object": "chat.completion.chunk", "choices": [],
               "usage": counted_usage(body, "".join(parts), model)}
