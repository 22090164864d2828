"""Anthropic's Messages API onto chat completions, and back.

The chat body is plain chat completions, what any OpenAI-format upstream takes: images become
`image_url` parts (data URLs for base64), PDFs `file` parts, `tool_use` blocks assistant
`tool_calls`, `tool_result` blocks `tool` messages in the order they came. What chat completions
has no field for (`cache_control`, thinking blocks and their signatures, `thinking`, `top_k`,
betas) is not in it: an Anthropic upstream is sent the client's own request instead
(gateway/providers/anthropic_native.py), so nothing is lost in a round trip.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson

from gateway.engine.streaming import StreamEncoder as ChatStreamEncoderBase
from gateway.engine.validation import check_model, is_int
from gateway.errors import InvalidRequest, SluiceError

_STOP_REASON = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
                "content_filter": "refusal"}
_ERROR_TYPE = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 405: "invalid_request_error", 408: "timeout_error",
               413: "request_too_large", 429: "rate_limit_error", 503: "overloaded_error", 529: "overloaded_error"}
_BLOCK_TYPES = {"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"}


def _bad(param: str, what: str) -> InvalidRequest:
    return InvalidRequest(f"{param}: {what}", param=param, code="invalid_request")


# ---- errors ----------------------------------------------------------------------------------

def error_body(err: SluiceError) -> dict[str, Any]:
    """Anthropic's error shape, with the gateway's code kept beside the type."""
    kind = _ERROR_TYPE.get(err.status, "api_error" if err.status >= 500 else "invalid_request_error")
    if err.code == "budget_exceeded":  # spent: not a rate limit that passes (same 429 as the other routes)
        kind = "billing_error"
    # the error's details (a guardrail block's scanner, rule, source, excerpt) as on the other routes
    return {"type": "error", "error": {**err.extra, "type": kind, "message": err.message, "param": err.param,
                                       "code": err.code}}


# ---- request ---------------------------------------------------------------------------------

def validate(body: Any) -> None:
    if not isinstance(body, dict):
        raise _bad("body", "the request body must be a JSON object")
    check_model(body)
    mt = body.get("max_tokens")
    if mt is None or not is_int(mt) or mt < 1:
        raise _bad("max_tokens", "required: a positive integer, the most tokens to generate")
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise _bad("messages", "required: a non-empty list of {role, content} turns")
    for i, m in enumerate(msgs):
        # a `system` turn inside messages: Claude Code sends one (to models it does not know)
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant", "system"):
            raise _bad(f"messages.{i}.role", "each message needs role 'user', 'assistant' or 'system'")
        _check_content(m.get("content"), f"messages.{i}.content")
    system = body.get("system")
    if system is not None and not isinstance(system, str):
        _check_content(system, "system", only_text=True)
    for name, kind in (("stop_sequences", list), ("tools", list), ("metadata", dict), ("thinking", dict)):
        if body.get(name) is not None and not isinstance(body[name], kind):
            raise _bad(name, f"must be a {'list' if kind is list else 'object'}")
    for i, t in enumerate(body.get("tools") or ()):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str) or not t["name"]:
            raise _bad(f"tools.{i}", "each tool needs a name (and an input_schema)")
    for i, s in enumerate(body.get("stop_sequences") or ()):
        if not isinstance(s, str):
            raise _bad(f"stop_sequences.{i}", "must be a string")
    tc = body.get("tool_choice")
    if tc is not None and (not isinstance(tc, dict) or tc.get("type") not in ("auto", "any", "tool", "none")):
        raise _bad("tool_choice", "must be {type: auto | any | none} or {type: tool, name}")
    if isinstance(tc, dict) and tc.get("type") == "tool" and not (isinstance(tc.get("name"), str) and tc["name"]):
        raise _bad("tool_choice.name", "{type: tool} needs the name of the tool to call")
    for name in ("temperature", "top_p"):
        v = body.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1):
            raise _bad(name, "must be a number from 0 to 1")
    top_k = body.get("top_k")
    if top_k is not None and (not is_int(top_k) or top_k < 0):
        raise _bad("top_k", "must be a non-negative integer")


def _check_content(content: Any, param: str, *, only_text: bool = False) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list) or (not content and not only_text):
        raise _bad(param, "must be a string or a non-empty list of content blocks")
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in _BLOCK_TYPES or (only_text and kind != "text"):
            allowed = "text" if only_text else ", ".join(sorted(_BLOCK_TYPES))
            raise _bad(f"{param}.{j}.type", f"unsupported content block; use one of: {allowed}")
        if kind == "text" and not isinstance(block.get("text"), str):
            raise _bad(f"{param}.{j}.text", "a text block needs a string `text`")


def to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """The chat-completions body this Messages request means."""
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if isinstance(system, str) and system:
        messages.append({"role": "system", "content": system})
    elif isinstance(system, list) and system:
        messages.append({"role": "system", "content": "\n\n".join(b.get("text", "") for b in system)})
    for m in body["messages"]:
        messages.extend(_turn(m["role"], m["content"]))
    chat: dict[str, Any] = {"model": body["model"], "messages": messages, "max_tokens": int(body["max_tokens"])}
    for name in ("temperature", "top_p", "stream"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("stop_sequences"):
        chat["stop"] = list(body["stop_sequences"])
    tools = [t for t in body.get("tools") or () if isinstance(t, dict)]
    if tools:
        chat["tools"] = [_tool(t) for t in tools]
    tc = body.get("tool_choice")
    if isinstance(tc, dict):
        kind = tc.get("type")
        if kind == "any":
            chat["tool_choice"] = "required"
        elif kind == "tool":
            chat["tool_choice"] = {"type": "function", "function": {"name": tc.get("name")}}
        elif kind in ("auto", "none"):
            chat["tool_choice"] = kind
        if tc.get("disable_parallel_tool_use") and tools:
            chat["parallel_tool_calls"] = False
    user_id = (body.get("metadata") or {}).get("user_id")
    if isinstance(user_id, str):
        chat["user"] = user_id
    return chat


def _text_part(block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "text", "text": block.get("text", "")}


def _media_part(block: dict[str, Any]) -> dict[str, Any] | None:
    src = block.get("source") or {}
    kind = src.get("type")
    if block["type"] == "image":
        if kind == "base64":
            url = f"data:{src.get('media_type', 'image/png')};base64,{src.get('data', '')}"
        elif kind == "url":
            url = src.get("url", "")
        else:
            return None
        part: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
    else:  # document
        if kind == "text":
            part = {"type": "text", "text": src.get("data", "")}
        elif kind == "base64":
            part = {"type": "file", "file": {"file_data": f"data:{src.get('media_type', 'application/pdf')};base64,"
                                                          f"{src.get('data', '')}",
                                             "filename": block.get("title") or "document.pdf"}}
        elif kind == "url":
            part = {"type": "file", "file": {"file_id": src.get("url", "")}}
        else:
            return None
    return part


def _tool_result_text(content: Any) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for b in content or ():
        if isinstance(b, dict) and b.get("type") == "text":
            parts.append(_text_part(b))
        elif isinstance(b, dict) and b.get("type") in ("image", "document"):
            p = _media_part(b)
            if p is not None:
                parts.append(p)
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def _turn(role: str, content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if role == "system":
        return [{"role": "system", "content": "\n\n".join(b.get("text", "") for b in content
                                                         if isinstance(b, dict) and b.get("type") == "text")}]
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []

    def flush() -> None:
        if role == "assistant":
            if not (parts or tool_calls):
                return
            msg: dict[str, Any] = {"role": "assistant", "content": _collapse(parts)}
            if tool_calls:
                msg["tool_calls"] = list(tool_calls)
            out.append(msg)
            tool_calls.clear()
        elif parts:
            out.append({"role": "user", "content": _collapse(parts)})
        parts.clear()

    for block in content:
        kind = block["type"]
        if kind == "text":
            parts.append(_text_part(block))
        elif kind in ("image", "document"):
            part = _media_part(block)
            if part is not None:
                parts.append(part)
        elif kind == "tool_use" and role == "assistant":
            tool_calls.append({"id": block.get("id") or f"toolu_{uuid.uuid4().hex[:24]}", "type": "function",
                               "function": {"name": block.get("name", ""),
                                            "arguments": orjson.dumps(block.get("input") or {}).decode()}})
        # thinking blocks have no chat counterpart; an Anthropic upstream gets them natively
        elif kind == "tool_result":
            flush()  # tool results answer the previous assistant turn: they go first, in order
            result = _tool_result_text(block.get("content"))
            if block.get("is_error") and isinstance(result, str):
                result = f"[tool error] {result}"
            out.append({"role": "tool", "tool_call_id": block.get("tool_use_id", ""), "content": result})
    flush()
    return out


def _collapse(parts: list[dict[str, Any]]) -> Any:
    """A lone plain text part is sent as a string (what every OpenAI-format upstream accepts)."""
    if not parts:
        return None
    if len(parts) == 1 and parts[0]["type"] == "text":
        return parts[0]["text"]
    return list(parts)  # a copy: the caller clears `parts` for the next message


def _tool(t: dict[str, Any]) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": t["name"], "parameters": t.get("input_schema") or {"type": "object"}}
    if t.get("description"):
        fn["description"] = t["description"]
    return {"type": "function", "function": fn}


# ---- response --------------------------------------------------------------------------------

def usage_of(usage: dict[str, Any] | None) -> dict[str, Any]:
    """Chat usage as Anthropic's: `input_tokens` excludes what was read from or written to the
    prompt cache, which Anthropic reports apart."""
    u = usage or {}
    details = u.get("prompt_tokens_details") or {}
    read = u.get("cache_read_input_tokens") or details.get("cached_tokens") or 0
    write = u.get("cache_creation_input_tokens") or details.get("cache_creation_tokens") or 0
    prompt = u.get("prompt_tokens") or 0
    return {"input_tokens": max(0, prompt - read - write), "output_tokens": u.get("completion_tokens") or 0,
            "cache_creation_input_tokens": write, "cache_read_input_tokens": read}


def message_id(completion_id: str | None, request_id: str) -> str:
    if completion_id and completion_id.startswith("msg_"):
        return completion_id
    return f"msg_{request_id}"


def from_completion(completion: dict[str, Any], *, model: str, request_id: str) -> dict[str, Any]:
    choice = (completion.get("choices") or [{}])[0]
    msg = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    for tb in msg.get("thinking_blocks") or ():
        content.append(dict(tb))
    if not msg.get("thinking_blocks") and msg.get("reasoning_content"):
        content.append({"type": "thinking", "thinking": msg["reasoning_content"], "signature": ""})
    text = msg.get("content")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    for tc in msg.get("tool_calls") or ():
        fn = tc.get("function") or {}
        content.append({"type": "tool_use", "id": tc.get("id") or f"toolu_{uuid.uuid4().hex[:24]}",
                        "name": fn.get("name", ""), "input": _json_object(fn.get("arguments"))})
    finish = choice.get("finish_reason") or "stop"
    return {"id": message_id(completion.get("id"), request_id), "type": "message", "role": "assistant",
            "model": model, "content": content, "stop_reason": _STOP_REASON.get(finish, "end_turn"),
            "stop_sequence": None, "usage": usage_of(completion.get("usage"))}


def _json_object(arguments: Any) -> dict[str, Any]:
    if isinstance(arguments, dict):
        return arguments
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {"_raw": arguments}
    return value if isinstance(value, dict) else {"value": value}


# ---- stream ----------------------------------------------------------------------------------

def event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class StreamEncoder(ChatStreamEncoderBase):
    """Chat chunks in, Anthropic's stream events out: `message_start`, `ping`, one
    `content_block_start`/`_delta`/`_stop` run per thinking, text or tool-use block, then
    `message_delta` (stop reason and usage) and `message_stop`. Errors are `event: error`."""

    def __init__(self, *, model: str, request_id: str) -> None:
        self.model = model
        self.request_id = request_id
        self.started = False
        self.index = -1
        self.open: str | None = None  # the type of the open block
        self.tool_slot: int | None = None  # the chat tool_calls index the open tool_use block is for
        self.finish: str | None = None
        self.usage: dict[str, Any] | None = None
        self.native = False  # passing an Anthropic upstream's events through

    def _start(self, chunk: dict[str, Any]) -> Iterator[bytes]:
        self.started = True
        yield event("message_start", {"type": "message_start", "message": {
            "id": message_id(chunk.get("id"), self.request_id), "type": "message", "role": "assistant",
            "model": self.model, "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0}}})
        yield event("ping", {"type": "ping"})

    def _open(self, kind: str, block: dict[str, Any]) -> Iterator[bytes]:
        yield from self._close()
        self.index += 1
        self.open = kind
        yield event("content_block_start", {"type": "content_block_start", "index": self.index,
                                            "content_block": block})

    def _close(self) -> Iterator[bytes]:
        if self.open is not None:
            yield event("content_block_stop", {"type": "content_block_stop", "index": self.index})
            self.open = None
            self.tool_slot = None

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return event("content_block_delta", {"type": "content_block_delta", "index": self.index, "delta": delta})

    def chunk(self, chunk: dict[str, Any]) -> Iterator[bytes]:
        events = chunk.get("_native_events")
        if self.native or (events is not None and not self.started and not self.rewritten):
            # an Anthropic upstream's own events, as it sent them (only the model renamed)
            self.native = True
            for name, data, raw in events or ():
                if name == "message_start" and isinstance(data.get("message"), dict):
                    yield event(name, {**data, "message": {**data["message"], "model": self.model}})
                else:
                    yield b"event: " + name.encode() + b"\ndata: " + raw + b"\n\n"
            return
        if not self.started:
            yield from self._start(chunk)
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for ch in chunk.get("choices") or ():
            if ch.get("index", 0) != 0:
                continue  # Anthropic has no `n`: only the first choice is a message
            delta = ch.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            for tb in delta.get("thinking_blocks") or ():
                if tb.get("type") == "redacted_thinking":
                    yield from self._open("redacted_thinking", dict(tb))
                    continue
                if self.open != "thinking":
                    yield from self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""})
                if tb.get("thinking") and not reasoning:
                    yield self._delta({"type": "thinking_delta", "thinking": tb["thinking"]})
                if tb.get("signature"):
                    yield self._delta({"type": "signature_delta", "signature": tb["signature"]})
            if isinstance(reasoning, str) and reasoning:
                if self.open != "thinking":
                    yield from self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""})
                yield self._delta({"type": "thinking_delta", "thinking": reasoning})
            text = delta.get("content")
            if isinstance(text, str) and text:
                if self.open != "text":
                    yield from self._open("text", {"type": "text", "text": ""})
                yield self._delta({"type": "text_delta", "text": text})
            for tc in delta.get("tool_calls") or ():
                slot = tc.get("index", 0)
                fn = tc.get("function") or {}
                if self.open != "tool_use" or self.tool_slot != slot:
                    yield from self._open("tool_use", {"type": "tool_use",
                                                       "id": tc.get("id") or f"toolu_{uuid.uuid4().hex[:24]}",
                                                       "name": fn.get("name") or "", "input": {}})
                    self.tool_slot = slot
                if fn.get("arguments"):
                    yield self._delta({"type": "input_json_delta", "partial_json": fn["arguments"]})
            if ch.get("finish_reason"):
                self.finish = ch["finish_reason"]

    def end(self) -> Iterator[bytes]:
        if self.native:
            return  # the upstream's message_stop went out with its events
        if not self.started:
            yield from self._start({})
        yield from self._close()
        yield event("message_delta", {"type": "message_delta",
                                      "delta": {"stop_reason": _STOP_REASON.get(self.finish or "stop", "end_turn"),
                                                "stop_sequence": None},
                                      "usage": usage_of(self.usage)})
        yield event("message_stop", {"type": "message_stop"})

    def error(self, err: SluiceError) -> Iterator[bytes]:
        yield event("error", error_body(err))
