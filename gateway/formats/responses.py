"""OpenAI's Responses API onto chat completions, and back.

A request's `input` (a string, or items: messages, `function_call`, `function_call_output`,
`reasoning`) and `instructions` become chat messages; `previous_response_id` prepends the stored
conversation (gateway/api/responses_store.py) before them, as OpenAI does (the earlier turn's
instructions are not carried over). The completion becomes output items: a `reasoning` item when the
upstream reasoned, a `message` with `output_text`, one `function_call` item per tool call.
Errors keep OpenAI's `{"error": {...}}` shape; a stream fails with an `error` event.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson

from gateway.engine.streaming import StreamEncoder as ChatStreamEncoderBase
from gateway.engine.validation import check_model, is_int
from gateway.errors import InvalidRequest, SluiceError

_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
# Function and free-form ("custom") tools become chat tools. Every other type (OpenAI's hosted
# tools such as web_search, Codex's client-side tool_search and namespaces) has no chat
# counterpart: it is left out and named in `x-sluice-tools-dropped`, rather than the whole request
# refused (Codex always sends some; the model answers without them).
CHAT_TOOLS = ("function", "custom")


def dropped_tools(body: dict[str, Any]) -> list[str]:
    return sorted({t["type"] for t in body.get("tools") or () if t["type"] not in CHAT_TOOLS})


def _bad(param: str, what: str) -> InvalidRequest:
    return InvalidRequest(f"{param}: {what}", param=param, code="invalid_request")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


# ---- request ---------------------------------------------------------------------------------

def validate(body: Any) -> None:
    if not isinstance(body, dict):
        raise _bad("body", "the request body must be a JSON object")
    check_model(body)
    inp = body.get("input")
    if not isinstance(inp, str | list) or (isinstance(inp, list) and not inp and not body.get("previous_response_id")):
        raise _bad("input", "required: a string, or a non-empty list of input items")
    if isinstance(inp, list):
        for i, item in enumerate(inp):
            if not isinstance(item, dict):
                raise _bad(f"input.{i}", "each input item must be an object")
            kind = item.get("type", "message")
            if kind == "message":
                if item.get("role") not in _ROLES:
                    raise _bad(f"input.{i}.role", "must be one of user, assistant, system, developer")
                if not isinstance(item.get("content"), str | list):
                    raise _bad(f"input.{i}.content", "must be a string or a list of content parts")
            elif kind == "function_call":
                if not isinstance(item.get("call_id"), str) or not isinstance(item.get("name"), str):
                    raise _bad(f"input.{i}", "a function_call item needs call_id and name")
            elif kind == "function_call_output":
                if not isinstance(item.get("call_id"), str):
                    raise _bad(f"input.{i}.call_id", "a function_call_output item needs the call_id it answers")
            elif kind not in ("reasoning", "item_reference"):
                raise _bad(f"input.{i}.type", f"input items of type {str(kind)[:40]!r} are not supported here; "
                                              "use message, function_call, function_call_output or reasoning")
    for name, kind_ in (("instructions", str), ("previous_response_id", str), ("tools", list)):
        if body.get(name) is not None and not isinstance(body[name], kind_):
            raise _bad(name, f"must be a {'string' if kind_ is str else 'list'}")
    for i, t in enumerate(body.get("tools") or ()):
        ttype = t.get("type") if isinstance(t, dict) else None
        if not isinstance(ttype, str):
            raise _bad(f"tools.{i}.type", "each tool needs a type (function, custom, ...)")
        if ttype in ("function", "custom") and not isinstance(t.get("name"), str):
            raise _bad(f"tools.{i}.name", f"a {ttype} tool needs a name")
    for name, hi in (("temperature", 2), ("top_p", 1)):
        v = body.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= hi):
            raise _bad(name, f"must be a number from 0 to {hi}")
    mot = body.get("max_output_tokens")
    if mot is not None and (not is_int(mot) or mot < 1):
        raise _bad("max_output_tokens", "must be a positive integer")
    if body.get("background"):
        raise _bad("background", "background responses are not supported by this gateway; send background: false")


def input_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """This turn's input as chat messages (without `instructions`)."""
    inp = body["input"]
    if isinstance(inp, str):
        return [{"role": "user", "content": inp}]
    out: list[dict[str, Any]] = []
    for item in inp:
        kind = item.get("type", "message")
        if kind == "message":
            role = _ROLES[item["role"]]
            out.append({"role": role, "content": _content(item["content"])})
        elif kind == "function_call":
            call = {"id": item["call_id"], "type": "function",
                    "function": {"name": item["name"], "arguments": item.get("arguments") or "{}"}}
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant":  # calls after the text are one turn
                last.setdefault("tool_calls", []).append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            if isinstance(output, str):
                content: Any = output
            elif isinstance(output, list):  # input parts (input_text, input_image, ...): their chat form
                content = _content(output) if output else ""
            else:
                content = orjson.dumps(output).decode()
            out.append({"role": "tool", "tool_call_id": item["call_id"], "content": content})
        # reasoning and item_reference items have no chat counterpart: an upstream that reasons
        # again from the visible turns answers the same conversation
    return out


def _content(content: Any) -> Any:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for p in content:
        kind = p.get("type") if isinstance(p, dict) else None
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": p.get("text", "")})
        elif kind == "input_image":
            url = p.get("image_url") or p.get("file_id") or ""
            img: dict[str, Any] = {"url": url}
            if p.get("detail"):
                img["detail"] = p["detail"]
            parts.append({"type": "image_url", "image_url": img})
        elif kind == "input_file":
            f = {k: p[k] for k in ("file_data", "file_id", "filename") if p.get(k)}
            parts.append({"type": "file", "file": f})
        elif kind == "refusal":
            parts.append({"type": "text", "text": p.get("refusal", "")})
        else:
            raise _bad("input.content", f"content parts of type {str(kind)[:40]!r} are not supported; use "
                                        "input_text, input_image or input_file")
    if len(parts) == 1 and parts[0]["type"] == "text":
        return parts[0]["text"]
    return parts


def to_chat(body: dict[str, Any], turns: list[dict[str, Any]]) -> dict[str, Any]:
    """`turns`: the stored conversation and this input (`history + input_messages(body)`)."""
    messages: list[dict[str, Any]] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": body["instructions"]})
    messages.extend(turns)
    chat: dict[str, Any] = {"model": body["model"], "messages": messages}
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = int(body["max_output_tokens"])
    for name, types in (("temperature", (int, float)), ("top_p", (int, float)), ("stream", (bool,)),
                        ("parallel_tool_calls", (bool,)), ("user", (str,)), ("seed", (int,))):
        if isinstance(body.get(name), types):
            chat[name] = body[name]
    tools = [t for t in body.get("tools") or () if t["type"] in CHAT_TOOLS]
    if tools:
        chat["tools"] = [_tool(t) for t in tools]
    tc = body.get("tool_choice")
    if isinstance(tc, str) and (tools or tc == "none"):
        chat["tool_choice"] = tc
    elif isinstance(tc, dict) and tc.get("type") == "function":
        chat["tool_choice"] = {"type": "function", "function": {"name": tc.get("name")}}
    fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        chat["response_format"] = {"type": "json_schema", "json_schema": {
            k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}}
    elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    effort = (body.get("reasoning") or {}).get("effort") if isinstance(body.get("reasoning"), dict) else None
    if isinstance(effort, str) and effort != "none":  # "none" (the Agents SDK's default) is no reasoning:
        chat["reasoning_effort"] = effort  # sent on, a model that cannot reason would refuse the request
    return chat


def _tool(t: dict[str, Any]) -> dict[str, Any]:
    if t["type"] == "custom":  # a free-form tool: its input is one string
        params: dict[str, Any] = {"type": "object", "properties": {"input": {"type": "string"}},
                                  "required": ["input"]}
    else:
        params = t.get("parameters") or {"type": "object", "properties": {}}
    fn: dict[str, Any] = {"name": t["name"], "parameters": params}
    if t.get("description"):
        fn["description"] = t["description"]
    if t.get("strict") is not None:
        fn["strict"] = t["strict"]
    return {"type": "function", "function": fn}


# ---- response --------------------------------------------------------------------------------

def usage_of(usage: dict[str, Any] | None) -> dict[str, Any]:
    u = usage or {}
    pd = u.get("prompt_tokens_details") or {}
    cd = u.get("completion_tokens_details") or {}
    inp, out = u.get("prompt_tokens") or 0, u.get("completion_tokens") or 0
    return {"input_tokens": inp, "input_tokens_details": {"cached_tokens": pd.get("cached_tokens") or 0},
            "output_tokens": out, "output_tokens_details": {"reasoning_tokens": cd.get("reasoning_tokens") or 0},
            "total_tokens": u.get("total_tokens") or inp + out}


def _envelope(body: dict[str, Any], *, resp_id: str, model: str, created: int, status: str,
              output: list[dict[str, Any]], usage: dict[str, Any] | None,
              incomplete: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": resp_id, "object": "response", "created_at": created, "status": status, "model": model,
            "output": output, "usage": usage, "error": None, "incomplete_details": incomplete,
            "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "temperature": body.get("temperature"), "top_p": body.get("top_p"),
            "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools") or [],
            "text": body.get("text") or {"format": {"type": "text"}}, "reasoning": body.get("reasoning"),
            "metadata": body.get("metadata") or {}, "store": body.get("store", True), "truncation": "disabled",
            "user": body.get("user")}


def _items(msg: dict[str, Any], finish: str | None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    reasoning = msg.get("reasoning_content") or msg.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        items.append({"type": "reasoning", "id": new_id("rs"), "summary": [{"type": "summary_text",
                                                                          "text": reasoning}]})
    text = msg.get("content")
    if isinstance(text, str) and text:
        items.append({"type": "message", "id": new_id("msg"), "status": "incomplete" if finish == "length"
                      else "completed", "role": "assistant",
                      "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]})
    for tc in msg.get("tool_calls") or ():
        fn = tc.get("function") or {}
        items.append({"type": "function_call", "id": new_id("fc"), "call_id": tc.get("id") or new_id("call"),
                      "name": fn.get("name", ""), "arguments": fn.get("arguments") or "", "status": "completed"})
    return items


def from_completion(completion: dict[str, Any], body: dict[str, Any], *, resp_id: str, model: str,
                    created: int) -> dict[str, Any]:
    choice = (completion.get("choices") or [{}])[0]
    finish = choice.get("finish_reason")
    output = _items(choice.get("message") or {}, finish)
    incomplete = {"reason": "max_output_tokens"} if finish == "length" else None
    return _envelope(body, resp_id=resp_id, model=model, created=created,
                     status="incomplete" if incomplete else "completed", output=output,
                     usage=usage_of(completion.get("usage")), incomplete=incomplete)


def history_after(turns: list[dict[str, Any]], response: dict[str, Any]) -> list[dict[str, Any]]:
    """The conversation a later `previous_response_id` continues: the turns sent (without this
    request's instructions) and the answer, as chat messages."""
    turns = list(turns)
    answer: dict[str, Any] = {"role": "assistant", "content": None}
    for item in response["output"]:
        if item["type"] == "message":
            answer["content"] = "".join(p.get("text", "") for p in item["content"])
        elif item["type"] == "function_call":
            answer.setdefault("tool_calls", []).append({"id": item["call_id"], "type": "function", "function": {
                "name": item["name"], "arguments": item["arguments"]}})
    if answer["content"] is not None or answer.get("tool_calls"):
        turns.append(answer)
    return turns


def error_body(err: SluiceError) -> dict[str, Any]:
    return err.body()


# ---- stream ----------------------------------------------------------------------------------

def event(data: dict[str, Any]) -> bytes:
    return b"event: " + data["type"].encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class StreamEncoder(ChatStreamEncoderBase):
    """Chat chunks in, the Responses API's typed events out (each with a `sequence_number`)."""

    def __init__(self, body: dict[str, Any], *, resp_id: str, model: str, created: int | None = None) -> None:
        self.body = body
        self.resp_id = resp_id
        self.model = model
        self.created = created or int(time.time())
        self.seq = 0
        self.started = False
        self.output: list[dict[str, Any]] = []
        self.open: dict[str, Any] | None = None  # the output item being streamed
        self.tool_slot: int | None = None
        self.finish: str | None = None
        self.usage: dict[str, Any] | None = None
        self.final: dict[str, Any] | None = None  # the response.completed payload, once sent

    def _ev(self, data: dict[str, Any]) -> bytes:
        data["sequence_number"] = self.seq
        self.seq += 1
        return event(data)

    def _env(self, status: str, usage: dict[str, Any] | None = None,
             incomplete: dict[str, Any] | None = None) -> dict[str, Any]:
        return _envelope(self.body, resp_id=self.resp_id, model=self.model, created=self.created, status=status,
                         output=list(self.output), usage=usage, incomplete=incomplete)

    def _start(self) -> Iterator[bytes]:
        self.started = True
        yield self._ev({"type": "response.created", "response": self._env("in_progress")})
        yield self._ev({"type": "response.in_progress", "response": self._env("in_progress")})

    def _open_item(self, item: dict[str, Any]) -> Iterator[bytes]:
        yield from self._close()
        self.open = item
        idx = len(self.output)
        yield self._ev({"type": "response.output_item.added", "output_index": idx,
                        "item": {k: v for k, v in item.items() if not k.startswith("_")}})
        if item["type"] == "message":
            yield self._ev({"type": "response.content_part.added", "item_id": item["id"], "output_index": idx,
                            "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}})
        elif item["type"] == "reasoning":
            yield self._ev({"type": "response.reasoning_summary_part.added", "item_id": item["id"],
                            "output_index": idx, "summary_index": 0, "part": {"type": "summary_text", "text": ""}})

    def _close(self) -> Iterator[bytes]:
        item = self.open
        if item is None:
            return
        idx = len(self.output)
        self.open = None
        self.tool_slot = None
        if item["type"] == "message":
            text = item.pop("_text")
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            item["content"] = [part]
            item["status"] = "completed"
            yield self._ev({"type": "response.output_text.done", "item_id": item["id"], "output_index": idx,
                            "content_index": 0, "text": text, "logprobs": []})
            yield self._ev({"type": "response.content_part.done", "item_id": item["id"], "output_index": idx,
                            "content_index": 0, "part": part})
        elif item["type"] == "function_call":
            item["status"] = "completed"
            yield self._ev({"type": "response.function_call_arguments.done", "item_id": item["id"],
                            "output_index": idx, "name": item["name"], "arguments": item["arguments"]})
        elif item["type"] == "reasoning":
            text = item.pop("_text")
            item["summary"] = [{"type": "summary_text", "text": text}]
            yield self._ev({"type": "response.reasoning_summary_text.done", "item_id": item["id"],
                            "output_index": idx, "summary_index": 0, "text": text})
            yield self._ev({"type": "response.reasoning_summary_part.done", "item_id": item["id"],
                            "output_index": idx, "summary_index": 0, "part": item["summary"][0]})
        self.output.append(item)
        yield self._ev({"type": "response.output_item.done", "output_index": idx, "item": item})

    def chunk(self, chunk: dict[str, Any]) -> Iterator[bytes]:
        if not self.started:
            yield from self._start()
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        idx = len(self.output)
        for ch in chunk.get("choices") or ():
            if ch.get("index", 0) != 0:
                continue
            delta = ch.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                if self.open is None or self.open["type"] != "reasoning":
                    yield from self._open_item({"type": "reasoning", "id": new_id("rs"), "summary": [], "_text": ""})
                    idx = len(self.output)
                assert self.open is not None
                self.open["_text"] += reasoning
                yield self._ev({"type": "response.reasoning_summary_text.delta", "item_id": self.open["id"],
                                "output_index": idx, "summary_index": 0, "delta": reasoning})
            text = delta.get("content")
            if isinstance(text, str) and text:
                if self.open is None or self.open["type"] != "message":
                    yield from self._open_item({"type": "message", "id": new_id("msg"), "status": "in_progress",
                                                "role": "assistant", "content": [], "_text": ""})
                    idx = len(self.output)
                assert self.open is not None
                self.open["_text"] += text
                yield self._ev({"type": "response.output_text.delta", "item_id": self.open["id"],
                                "output_index": idx, "content_index": 0, "delta": text, "logprobs": []})
            for tc in delta.get("tool_calls") or ():
                slot = tc.get("index", 0)
                fn = tc.get("function") or {}
                if self.open is None or self.open["type"] != "function_call" or self.tool_slot != slot:
                    yield from self._open_item({"type": "function_call", "id": new_id("fc"),
                                                "call_id": tc.get("id") or new_id("call"),
                                                "name": fn.get("name") or "", "arguments": "",
                                                "status": "in_progress"})
                    idx = len(self.output)
                    self.tool_slot = slot
                assert self.open is not None
                if fn.get("arguments"):
                    self.open["arguments"] += fn["arguments"]
                    yield self._ev({"type": "response.function_call_arguments.delta", "item_id": self.open["id"],
                                    "output_index": idx, "delta": fn["arguments"]})
            if ch.get("finish_reason"):
                self.finish = ch["finish_reason"]

    def end(self) -> Iterator[bytes]:
        if not self.started:
            yield from self._start()
        yield from self._close()
        incomplete = {"reason": "max_output_tokens"} if self.finish == "length" else None
        self.final = self._env("incomplete" if incomplete else "completed", usage_of(self.usage), incomplete)
        kind = "response.incomplete" if incomplete else "response.completed"
        yield self._ev({"type": kind, "response": self.final})

    def error(self, err: SluiceError) -> Iterator[bytes]:
        yield self._ev({"type": "error", "code": err.code, "message": err.message, "param": err.param})
