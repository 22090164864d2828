"""Anthropic Messages wire format: whole messages, the event stream, and token counting.

What the mock answers:
- a `tool_use` block when tools are given and the turn calls for one (see `content.pick_tool`),
  text when the last user turn carries `tool_result` blocks, so a tool loop ends;
- `thinking: {"type": "enabled", "budget_tokens": N}` (or `adaptive`): a `thinking` block with a
  `signature` before the answer, streamed as `thinking_delta`s then one `signature_delta`;
- `stop_sequences`: the text is cut before the first one found (`stop_reason: stop_sequence`);
- prompt caching, deterministically: when any block (tool, system, message) carries
  `cache_control`, the tokens up to the last such block are reported as a cache read
  (`cache_read_input_tokens`), or as a cache write with the request header `x-mock-cache: write`.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from gateway.mock_upstream import content as C


def _blocks_of(content: Any) -> list[Any]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else (
        content if isinstance(content, list) else [])


def _tokens_of_block(block: Any) -> int:
    return C.approx_tokens(C._text_of([block])) if isinstance(block, dict) else 0


def cached_prefix_tokens(body: dict[str, Any]) -> int:
    """Tokens up to and including the last block marked `cache_control` (tools, system, messages,
    in the order Anthropic caches them); 0 when none is marked."""
    seen, upto = 0, 0
    for t in body.get("tools") or []:
        seen += C.approx_tokens(orjson.dumps(t).decode())
        if isinstance(t, dict) and t.get("cache_control"):
            upto = seen
    for b in _blocks_of(body.get("system")):
        seen += _tokens_of_block(b)
        if isinstance(b, dict) and b.get("cache_control"):
            upto = seen
    for m in body.get("messages") or []:
        seen += 4
        for b in _blocks_of(m.get("content") if isinstance(m, dict) else None):
            seen += _tokens_of_block(b)
            if isinstance(b, dict) and b.get("cache_control"):
                upto = seen
    return upto


def input_tokens(body: dict[str, Any]) -> int:
    """All input tokens of a request (what `count_tokens` answers)."""
    tools = [t for t in (body.get("tools") or []) if isinstance(t, dict)]
    return C.prompt_tokens(body["messages"], body.get("system")) + (
        C.approx_tokens(orjson.dumps(tools).decode()) if tools else 0)


def validate(body: dict[str, Any], *, need_max_tokens: bool = True) -> None:
    """Raise ValueError/TypeError with Anthropic's message style for a request it would refuse."""
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise ValueError("messages: must be a non-empty array")
    if not isinstance(body.get("model"), str):
        raise TypeError("model: Field required")
    if need_max_tokens and (not isinstance(body.get("max_tokens"), int) or isinstance(body.get("max_tokens"), bool)):
        raise TypeError("max_tokens: Field required")
    thinking = body.get("thinking")
    if thinking is not None:
        if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled", "adaptive"):
            raise ValueError("thinking: type must be one of 'enabled', 'disabled', 'adaptive'")
        if thinking["type"] == "enabled":
            budget = thinking.get("budget_tokens")
            if not isinstance(budget, int) or isinstance(budget, bool):
                raise TypeError("thinking.enabled.budget_tokens: Field required")
            if budget < 1024:
                raise ValueError("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
            if need_max_tokens and body["max_tokens"] <= budget:
                raise ValueError("`max_tokens` must be greater than `thinking.budget_tokens`")
    stops = body.get("stop_sequences")
    if stops is not None and not (isinstance(stops, list) and all(isinstance(s, str) for s in stops)):
        raise TypeError("stop_sequences: Input should be a valid list of strings")


class MessagePlan:
    __slots__ = ("cache_read", "cache_write", "input_tokens", "model", "output_tokens", "rid", "signature",
                 "stop_reason", "stop_sequence", "text_pieces", "thinking_pieces", "tool")

    def __init__(self, body: dict[str, Any], reply_words: int, counter: int, *, cache_mode: str = "read") -> None:
        messages = body["messages"]
        self.model = str(body.get("model") or "mock-claude")
        key = C.digest(messages, body.get("system"), body.get("tools"))
        self.rid = f"{key[:6].hex()}{counter:08x}"
        tools = [t for t in (body.get("tools") or []) if isinstance(t, dict)]
        names = [str(t.get("name") or "") for t in tools]
        tool_i = None if C.ends_with_tool_result(messages) else C.pick_tool(
            tools, body.get("tool_choice"), C.last_user_text(messages), names)
        limit = body.get("max_tokens")
        budget = limit if isinstance(limit, int) and limit > 0 else 1 << 30
        self.thinking_pieces: list[str] = []
        self.signature = ""
        thinking = body.get("thinking")
        if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
            given = thinking.get("budget_tokens")
            think_budget: int = given if isinstance(given, int) else 8
            words = ["mock", "thinking", "about:", key[:4].hex(), "the", "request"]
            self.thinking_pieces = C.split_pieces(words[: max(1, min(len(words), think_budget, budget))])
            self.signature = base64.b64encode(C.digest(key, "signature") * 2).decode()
            budget -= len(self.thinking_pieces)
        self.tool: dict[str, Any] | None = None
        self.text_pieces: list[str] = []
        self.stop_sequence: str | None = None
        if tool_i is not None:
            args = C.args_for(tools[tool_i].get("input_schema"), key)
            self.tool = {"type": "tool_use", "id": f"toolu_{key[:12].hex()}", "name": names[tool_i], "input": args}
            self.stop_reason = "tool_use"
            self.output_tokens = C.approx_tokens(orjson.dumps(args).decode()) + 3
        else:
            words = C.reply_words(key, reply_words)
            self.stop_reason = "end_turn"
            if budget < len(words):
                words, self.stop_reason = words[: max(0, budget)], "max_tokens"
            text = "".join(C.split_pieces(words))
            cut = [(text.index(s), s) for s in body.get("stop_sequences") or [] if s and s in text]
            if cut:
                at, self.stop_sequence = min(cut)
                text, self.stop_reason = text[:at], "stop_sequence"
            self.text_pieces = C.pieces_of(text) if cut else C.split_pieces(words)
            self.output_tokens = len(self.text_pieces)
        self.output_tokens += len(self.thinking_pieces)
        total = input_tokens(body)
        cached = min(cached_prefix_tokens(body), max(0, total - 1))
        self.cache_read = cached if cache_mode != "write" else 0
        self.cache_write = cached if cache_mode == "write" else 0
        self.input_tokens = total - cached

    def blocks(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self.thinking_pieces:
            out.append({"type": "thinking", "thinking": "".join(self.thinking_pieces), "signature": self.signature})
        if self.tool:
            out.append(self.tool)
        else:
            out.append({"type": "text", "text": "".join(self.text_pieces)})
        return out

    def usage(self) -> dict[str, Any]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "cache_creation_input_tokens": self.cache_write, "cache_read_input_tokens": self.cache_read,
                "cache_creation": {"ephemeral_5m_input_tokens": self.cache_write, "ephemeral_1h_input_tokens": 0},
                "service_tier": "standard"}


def message(plan: MessagePlan) -> dict[str, Any]:
    return {"id": f"msg_{plan.rid}", "type": "message", "role": "assistant", "model": plan.model,
            "content": plan.blocks(), "stop_reason": plan.stop_reason, "stop_sequence": plan.stop_sequence,
            "usage": plan.usage()}


def _delta(i: int, delta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta}


def events(plan: MessagePlan) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) pairs in Anthropic's streaming order: message_start, per block
    content_block_start / deltas / content_block_stop (a ping after the first start),
    message_delta with the final usage, message_stop."""
    usage = plan.usage()
    out: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": {
            "id": f"msg_{plan.rid}", "type": "message", "role": "assistant", "model": plan.model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {**usage, "output_tokens": 1}}}),
    ]
    i = 0

    def start(block: dict[str, Any]) -> None:
        out.append(("content_block_start", {"type": "content_block_start", "index": i, "content_block": block}))
        if i == 0:
            out.append(("ping", {"type": "ping"}))

    if plan.thinking_pieces:
        start({"type": "thinking", "thinking": "", "signature": ""})
        out.extend(_delta(i, {"type": "thinking_delta", "thinking": p}) for p in plan.thinking_pieces)
        out.append(_delta(i, {"type": "signature_delta", "signature": plan.signature}))
        out.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
        i += 1
    if plan.tool:
        start({**plan.tool, "input": {}})
        js = orjson.dumps(plan.tool["input"]).decode()
        step = max(1, len(js) // 3)
        out.extend(_delta(i, {"type": "input_json_delta", "partial_json": js[j:j + step]})
                   for j in range(0, len(js), step))
    else:
        start({"type": "text", "text": ""})
        out.extend(_delta(i, {"type": "text_delta", "text": p}) for p in plan.text_pieces)
    out.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    out.append(("message_delta", {"type": "message_delta",
                                  "delta": {"stop_reason": plan.stop_reason, "stop_sequence": plan.stop_sequence},
                                  "usage": {"input_tokens": usage["input_tokens"],
                                            "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
                                            "cache_read_input_tokens": usage["cache_read_input_tokens"],
                                            "output_tokens": plan.output_tokens}}))
    out.append(("message_stop", {"type": "message_stop"}))
    return out


def count_tokens(body: dict[str, Any]) -> dict[str, Any]:
    return {"input_tokens": input_tokens(body)}


def error(status: int, message: str) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
            404: "not_found_error", 405: "invalid_request_error", 413: "request_too_large",
            429: "rate_limit_error", 503: "overloaded_error", 529: "overloaded_error"}.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}
