"""OpenAI Responses API wire format (`POST /v1/responses`): whole responses and the typed event stream.

What the mock answers, deterministically from the request:
- `input` as a string or a list of items (messages with string or part content, `function_call`
  items echoed back, `function_call_output` items); `instructions` count as input tokens;
- function `tools`: a `function_call` item when the turn calls for one (as the chat mock does, see
  `content.pick_tool`), text when the last input item is a `function_call_output`;
- `reasoning: {...}`: a `reasoning` item before the answer (with a summary when
  `reasoning.summary` is set), its tokens reported as `reasoning_tokens`;
- `max_output_tokens` (at least 16, as OpenAI requires) cuts the answer: `status: incomplete`,
  `incomplete_details.reason: max_output_tokens`, and the stream ends in `response.incomplete`;
- `text.format` `json_schema` / `json_object` as the chat mock's `response_format`;
- `top_logprobs` with `include: ["message.output_text.logprobs"]`.

The stream is `event: <type>` / `data: <json>` pairs with increasing `sequence_number`, no `[DONE]`.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from gateway.mock_upstream import content as C

_LOGPROBS = "message.output_text.logprobs"


def _items(body: dict[str, Any]) -> list[Any]:
    inp = body.get("input")
    if isinstance(inp, str):
        return [{"role": "user", "content": inp}]
    if isinstance(inp, list) and inp and all(isinstance(x, dict) for x in inp):
        return inp
    raise ValueError("Invalid 'input': expected a string or a non-empty array of input items.")


def _item_tokens(item: dict[str, Any]) -> int:
    if item.get("type") in ("function_call_output", "custom_tool_call_output"):
        out = item.get("output")
        return 4 + C.approx_tokens(out if isinstance(out, str) else C._text_of(out))
    if item.get("type") == "function_call":
        return 4 + C.approx_tokens(f"{item.get('name') or ''}{item.get('arguments') or ''}")
    if item.get("type") == "reasoning":
        return 0
    return 4 + C.approx_tokens(C._text_of(item.get("content")))


def _function_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = body.get("tools")
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise TypeError("Invalid type for 'tools': expected an array of tool objects.")
    out = []
    for i, t in enumerate(tools):
        if not isinstance(t, dict):
            raise TypeError(f"Invalid type for 'tools[{i}]': expected an object.")
        if t.get("type") == "function":
            if not isinstance(t.get("name"), str):
                raise ValueError(f"Missing required parameter: 'tools[{i}].name'.")
            out.append(t)
    return out


def _echo_tool(t: dict[str, Any]) -> dict[str, Any]:
    if t.get("type") != "function":
        return t
    return {"type": "function", "name": t["name"], "description": t.get("description"),
            "parameters": t.get("parameters"), "strict": t.get("strict", True)}


class ResponsePlan:
    """What the mock will answer to one Responses request."""

    def __init__(self, body: dict[str, Any], reply_words: int, counter: int) -> None:
        if not isinstance(body.get("model"), str):
            raise TypeError("Missing required parameter: 'model'.")
        items = _items(body)
        limit = body.get("max_output_tokens")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
            raise TypeError("Invalid type for 'max_output_tokens': expected an integer.")
        if isinstance(limit, int) and limit < 16:
            raise ValueError("Invalid 'max_output_tokens': integer below minimum value. "
                             f"Expected a value >= 16, but got {limit} instead.")
        instructions = body.get("instructions")
        tools = _function_tools(body)
        fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
        self.body = body
        self.model = body["model"]
        key = C.digest(items, instructions, tools, fmt, body.get("reasoning"))
        self.rid = f"{key[:6].hex()}{counter:08x}"
        self.created = int(time.time())
        budget = limit if isinstance(limit, int) else 1 << 30
        self.reasoning: dict[str, Any] | None = None
        self.reasoning_tokens = 0
        reasoning = body.get("reasoning")
        if isinstance(reasoning, dict):
            self.reasoning_tokens = min(8, budget)
            budget -= self.reasoning_tokens
            summary = reasoning.get("summary") or reasoning.get("generate_summary")
            self.reasoning = {"id": f"rs_{key[:12].hex()}{counter:08x}", "type": "reasoning", "summary": [
                {"type": "summary_text", "text": f"**Planning** mock reasoning about {key[:4].hex()}."}] if summary else []}
            if _inc(body, "reasoning.encrypted_content"):
                self.reasoning["encrypted_content"] = orjson.dumps({"mock": key[:8].hex()}).decode()
        names = [str(t["name"]) for t in tools]
        tool_i = None if C.ends_with_tool_result(items) else C.pick_tool(
            tools, body.get("tool_choice"), C.last_user_text(items), names)
        self.call: dict[str, Any] | None = None
        self.pieces: list[str] = []
        self.incomplete = False
        if tool_i is not None:
            args = orjson.dumps(C.args_for(tools[tool_i].get("parameters"), key)).decode()
            self.call = {"id": f"fc_{key[:12].hex()}{counter:08x}", "type": "function_call", "status": "completed",
                         "arguments": args, "call_id": f"call_{key[:12].hex()}", "name": names[tool_i]}
            self.output_tokens = C.approx_tokens(args) + 3
        else:
            words = C.reply_words(key, reply_words)
            text = "".join(C.split_pieces(words))
            js = C.structured_json(fmt, key, text)
            self.pieces = C.pieces_of(js) if js is not None else C.split_pieces(words)
            if budget < len(self.pieces):
                self.pieces, self.incomplete = self.pieces[: max(0, budget)], True
            self.output_tokens = len(self.pieces)
        self.output_tokens += self.reasoning_tokens
        top = body.get("top_logprobs")
        self.top_logprobs = top if isinstance(top, int) and not isinstance(top, bool) else 0
        self.logprobs = _inc(body, _LOGPROBS)
        self.input_tokens = 3 + sum(_item_tokens(i) for i in items) + (
            4 + C.approx_tokens(instructions) if isinstance(instructions, str) else 0) + (
            C.approx_tokens(orjson.dumps(tools).decode()) if tools else 0)
        self.message_id = f"msg_{key[:12].hex()}{counter:08x}"

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def usage(self) -> dict[str, Any]:
        return {"input_tokens": self.input_tokens, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": self.output_tokens, "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
                "total_tokens": self.input_tokens + self.output_tokens}

    def lp(self, pieces: list[str], *, with_bytes: bool) -> list[dict[str, Any]]:
        return C.token_logprobs(pieces, self.top_logprobs, with_bytes=with_bytes) if self.logprobs else []

    def text_part(self, text: str, pieces: list[str]) -> dict[str, Any]:
        return {"type": "output_text", "annotations": [], "logprobs": self.lp(pieces, with_bytes=True), "text": text}

    def message_item(self, *, done: bool) -> dict[str, Any]:
        status = ("incomplete" if self.incomplete else "completed") if done else "in_progress"
        return {"id": self.message_id, "type": "message", "status": status,
                "content": [self.text_part(self.text, self.pieces)] if done else [], "role": "assistant"}

    def output(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self.reasoning:
            out.append(self.reasoning)
        if self.call:
            out.append(self.call)
        elif self.pieces or not self.incomplete:
            out.append(self.message_item(done=True))
        return out

    def response(self, *, done: bool) -> dict[str, Any]:
        b = self.body
        fmt = (b.get("text") or {}).get("format") if isinstance(b.get("text"), dict) else None
        given = b.get("reasoning")
        reasoning: dict[str, Any] = given if isinstance(given, dict) else {}
        status = ("incomplete" if self.incomplete else "completed") if done else "in_progress"
        return {
            "id": f"resp_{self.rid}", "object": "response", "created_at": self.created, "status": status,
            "background": bool(b.get("background", False)), "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if done and self.incomplete else None,
            "instructions": b.get("instructions"), "max_output_tokens": b.get("max_output_tokens"),
            "max_tool_calls": b.get("max_tool_calls"), "model": self.model,
            "output": self.output() if done else [], "parallel_tool_calls": b.get("parallel_tool_calls", True),
            "previous_response_id": b.get("previous_response_id"), "prompt_cache_key": b.get("prompt_cache_key"),
            "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
            "safety_identifier": b.get("safety_identifier"), "service_tier": "default", "store": b.get("store", True),
            "temperature": b.get("temperature", 1.0),
            "text": {"format": fmt if isinstance(fmt, dict) else {"type": "text"}, "verbosity": "medium"},
            "tool_choice": b.get("tool_choice", "auto"), "tools": [_echo_tool(t) for t in b.get("tools") or []],
            "top_logprobs": self.top_logprobs, "top_p": b.get("top_p", 1.0), "truncation": b.get("truncation", "disabled"),
            "usage": self.usage() if done else None, "user": b.get("user"), "metadata": b.get("metadata") or {},
            "completed_at": (self.created if done and not self.incomplete else None),
        }


def _inc(body: dict[str, Any], what: str) -> bool:
    inc = body.get("include")
    return isinstance(inc, list) and what in inc


def response(plan: ResponsePlan) -> dict[str, Any]:
    return plan.response(done=True)


def events(plan: ResponsePlan) -> list[tuple[str, dict[str, Any]]]:
    """(event type, data) pairs in the order OpenAI streams a response."""
    out: list[tuple[str, dict[str, Any]]] = []

    def emit(kind: str, **data: Any) -> None:
        out.append((kind, {"type": kind, "sequence_number": len(out), **data}))

    emit("response.created", response=plan.response(done=False))
    emit("response.in_progress", response=plan.response(done=False))
    index = 0
    if plan.reasoning:
        r = plan.reasoning
        emit("response.output_item.added", output_index=index, item={**r, "summary": []})
        for si, s in enumerate(r["summary"]):
            ids = {"item_id": r["id"], "output_index": index, "summary_index": si}
            emit("response.reasoning_summary_part.added", **ids, part={"type": "summary_text", "text": ""})
            for p in C.pieces_of(s["text"]):
                emit("response.reasoning_summary_text.delta", **ids, delta=p)
            emit("response.reasoning_summary_text.done", **ids, text=s["text"])
            emit("response.reasoning_summary_part.done", **ids, part=s)
        emit("response.output_item.done", output_index=index, item=r)
        index += 1
    if plan.call:
        c = plan.call
        emit("response.output_item.added", output_index=index, item={**c, "status": "in_progress", "arguments": ""})
        a = c["arguments"]
        step = max(1, len(a) // 4)
        for j in range(0, len(a), step):
            emit("response.function_call_arguments.delta", item_id=c["id"], output_index=index, delta=a[j:j + step])
        emit("response.function_call_arguments.done", item_id=c["id"], output_index=index, arguments=a, name=c["name"])
        emit("response.output_item.done", output_index=index, item=c)
    elif plan.pieces or not plan.incomplete:
        ids = {"item_id": plan.message_id, "output_index": index, "content_index": 0}
        emit("response.output_item.added", output_index=index, item=plan.message_item(done=False))
        emit("response.content_part.added", **ids, part=plan.text_part("", []))
        for p in plan.pieces:
            emit("response.output_text.delta", **ids, delta=p, logprobs=plan.lp([p], with_bytes=False))
        emit("response.output_text.done", **ids, text=plan.text, logprobs=plan.lp(plan.pieces, with_bytes=False))
        emit("response.content_part.done", **ids, part=plan.text_part(plan.text, plan.pieces))
        emit("response.output_item.done", output_index=index, item=plan.message_item(done=True))
    emit("response.incomplete" if plan.incomplete else "response.completed", response=plan.response(done=True))
    return out
