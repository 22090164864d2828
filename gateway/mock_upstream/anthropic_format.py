"""Anthropic Messages wire format: whole messages and the event stream."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.mock_upstream import content as C


class MessagePlan:
    __slots__ = ("input_tokens", "model", "output_tokens", "rid", "stop_reason", "text_pieces", "tool")

    def __init__(self, body: dict[str, Any], reply_words: int, counter: int) -> None:
        messages = body["messages"]
        self.model = str(body.get("model") or "mock-claude")
        key = C.digest(messages, body.get("system"), body.get("tools"))
        self.rid = f"{key[:6].hex()}{counter:08x}"
        tools = [t for t in (body.get("tools") or []) if isinstance(t, dict)]
        names = [str(t.get("name") or "") for t in tools]
        tool_i = C.pick_tool(tools, body.get("tool_choice"), C.last_user_text(messages), names)
        self.tool: dict[str, Any] | None = None
        self.text_pieces: list[str] = []
        if tool_i is not None:
            args = C.args_for(tools[tool_i].get("input_schema"), key)
            self.tool = {"type": "tool_use", "id": f"toolu_{key[:12].hex()}", "name": names[tool_i], "input": args}
            self.stop_reason = "tool_use"
            self.output_tokens = C.approx_tokens(orjson.dumps(args).decode()) + 3
        else:
            words = C.reply_words(key, reply_words)
            self.stop_reason = "end_turn"
            limit = body.get("max_tokens")
            if isinstance(limit, int) and 0 < limit < len(words):
                words, self.stop_reason = words[:limit], "max_tokens"
            self.text_pieces = C.split_pieces(words)
            self.output_tokens = len(self.text_pieces)
        self.input_tokens = C.prompt_tokens(messages, body.get("system")) + (
            C.approx_tokens(orjson.dumps(tools).decode()) if tools else 0)

    def blocks(self) -> list[dict[str, Any]]:
        return [self.tool] if self.tool else [{"type": "text", "text": "".join(self.text_pieces)}]

    def usage(self) -> dict[str, Any]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def message(plan: MessagePlan) -> dict[str, Any]:
    return {"id": f"msg_{plan.rid}", "type": "message", "role": "assistant", "model": plan.model,
            "content": plan.blocks(), "stop_reason": plan.stop_reason, "stop_sequence": None, "usage": plan.usage()}


def events(plan: MessagePlan) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) pairs in Anthropic's streaming order."""
    start_usage = {**plan.usage(), "output_tokens": 1}
    out: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": {
            "id": f"msg_{plan.rid}", "type": "message", "role": "assistant", "model": plan.model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": start_usage}}),
    ]
    if plan.tool:
        out.append(("content_block_start", {"type": "content_block_start", "index": 0,
                                            "content_block": {**plan.tool, "input": {}}}))
        out.append(("ping", {"type": "ping"}))
        js = orjson.dumps(plan.tool["input"]).decode()
        step = max(1, len(js) // 3)
        for j in range(0, len(js), step):
            out.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                "delta": {"type": "input_json_delta", "partial_json": js[j:j + step]}}))
    else:
        out.append(("content_block_start", {"type": "content_block_start", "index": 0,
                                            "content_block": {"type": "text", "text": ""}}))
        out.append(("ping", {"type": "ping"}))
        for p in plan.text_pieces:
            out.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                "delta": {"type": "text_delta", "text": p}}))
    out.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    out.append(("message_delta", {"type": "message_delta",
                                  "delta": {"stop_reason": plan.stop_reason, "stop_sequence": None},
                                  "usage": {"output_tokens": plan.output_tokens}}))
    out.append(("message_stop", {"type": "message_stop"}))
    return out


def error(status: int, message: str) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 404: "not_found_error", 405: "invalid_request_error",
            429: "rate_limit_error", 503: "overloaded_error"}.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}
