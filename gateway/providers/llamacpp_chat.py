"""What the local llama.cpp model is sent and what comes back, apart from how it runs
(gateway/providers/llamacpp.py).

- `check_parts(body, model)`: the model reads text only; an image, audio or file part is a 400 that
  names the part (`param: messages[i].content[j]`), before llama.cpp sees it.
- `plan_tools(body, renders_tools)`: OpenAI `tools` / `tool_choice` for the local model. The chat
  template renders the tool definitions into the prompt (Hermes style, `<tool_call>` blocks; the
  built-in `SMOLLM2_TEMPLATE` for the bundled model). `required` or a named function constrains the
  output with a JSON-schema grammar to one `{"name", "arguments"}` call; `auto` lets the model answer
  text or `<tool_call>{...}</tool_call>`; `none` sends no tools. Either way the answer is a
  `tool_calls` message (finish_reason `tool_calls`), streamed as tool-call deltas. A template that
  renders no tools makes `tools` a 400 tools_not_supported, never a silent text answer.
- `collect(chunks)`: a stream's chunks folded into one chat.completion. Every in-process call runs
  as a stream, because only a stream's callback can tell llama.cpp to stop (a cancelled or
  timed-out request must not keep the model busy).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from gateway.errors import InvalidRequest, UpstreamError

# SmolLM2's own template (ChatML) ignores `tools`; this one renders the same prompt when there are
# none, and with tools adds their definitions and the <tool_call> convention to the system turn.
SMOLLM2_TEMPLATE = """\
{%- set default_system = 'You are a helpful AI assistant named SmolLM, trained by Hugging Face' -%}
{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0].role == 'system' %}{{- messages[0].content }}{%- else %}{{- default_system }}{%- endif %}
    {{- '\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\n' }}
    {{- 'You are provided with function signatures within <tools></tools> XML tags:\\n<tools>' }}
    {%- for tool in tools %}{{- '\\n' }}{{- tool | tojson }}{%- endfor %}
    {{- '\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments ' }}
    {{- 'within <tool_call></tool_call> XML tags:\\n<tool_call>\\n' }}
    {{- '{"name": <function-name>, "arguments": <args-json-object>}\\n</tool_call><|im_end|>\\n' }}
{%- elif messages[0].role == 'system' %}
    {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}
{%- else %}
    {{- '<|im_start|>system\\n' + default_system + '<|im_end|>\\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if message.role == 'user' or (message.role == 'system' and not loop.first)
          or (message.role == 'assistant' and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}
    {%- elif message.role == 'assistant' %}
        {{- '<|im_start|>assistant' }}
        {%- if message.content %}{{- '\\n' + message.content }}{%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}{%- set tool_call = tool_call.function %}{%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' + tool_call.name + '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == 'tool' %}
        {%- if loop.index0 == 0 or messages[loop.index0 - 1].role != 'tool' %}{{- '<|im_start|>user' }}{%- endif %}
        {{- '\\n<tool_response>\\n' + message.content + '\\n</tool_response>' }}
        {%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}{{- '<|im_end|>\\n' }}{%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}
"""

_OPEN, _CLOSE = "<tool_call>", "</tool_call>"
_PART_KINDS = {"image_url": "image", "input_image": "image", "image": "image",
               "input_audio": "audio", "audio": "audio", "file": "file", "input_file": "file"}


def check_parts(body: dict[str, Any], model: str) -> None:
    """400 for any content part but text: this model has no image, audio or file input."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return  # llama.cpp's own validation answers a malformed body
    for i, m in enumerate(messages):
        content = m.get("content") if isinstance(m, dict) else None
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                continue
            what = f"{_PART_KINDS[kind]} input" if kind in _PART_KINDS else "parts of that type"
            raise InvalidRequest(f"model {model} reads text only and cannot take {what}: messages[{i}].content[{j}] "
                                 f"is a {kind!r} part; send text parts only, or use a model that takes {what}",
                                 param=f"messages[{i}].content[{j}]",
                                 code="content_part_not_supported")


# ---- tools -----------------------------------------------------------------------------------------
class _Function(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class _Tool(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["function"]
    function: _Function


class _Named(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["function"]
    function: _Function | dict[str, str]


class _Call(BaseModel):
    name: str
    arguments: dict[str, Any]


_TOOLS = TypeAdapter(list[_Tool])
_CALL = TypeAdapter(_Call)


@dataclass
class ToolPlan:
    """How one request's tools are sent, and how the model's answer becomes tool calls."""

    mode: Literal["auto", "required"]
    tools: list[dict[str, Any]]
    schema: dict[str, Any] | None = None  # the grammar of a required call

    def request_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"tools": self.tools}
        if self.schema is not None:
            fields["json_schema"] = self.schema
        return fields

    def calls_in(self, text: str) -> list[dict[str, Any]] | None:
        """The OpenAI tool calls in the model's text, or None if it is not a (whole) call."""
        if self.mode == "required":
            bodies = [text]
        else:
            rest = text.strip()
            if not rest.startswith(_OPEN):
                return None
            bodies = [b.split(_CLOSE, 1)[0] for b in rest.split(_OPEN)[1:]]
        calls = []
        for b in bodies:
            try:
                call = _CALL.validate_python(orjson.loads(b.strip()))
            except (orjson.JSONDecodeError, ValidationError):
                return None  # cut off by max_tokens, or not a call: the text is answered as it is
            calls.append({"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                          "function": {"name": call.name, "arguments": orjson.dumps(call.arguments).decode()}})
        return calls or None

    async def stream(self, chunks: AsyncIterator[dict[str, Any]]) -> AsyncGenerator[dict[str, Any], None]:
        """Rewrite a text stream: text that is a tool call is held back and sent as tool-call deltas.

        `required`: all the text is the call. `auto`: text is held only while it may still open
        with `<tool_call>`; once it cannot, it streams as it comes."""
        held: list[str] = []
        holding = True
        async for chunk in chunks:
            choices = chunk.get("choices") or []
            if not holding or not choices:
                yield chunk
                continue
            choice = choices[0]
            delta = choice.get("delta") or {}
            if delta.get("content"):
                held.append(delta["content"])
            rest = {k: v for k, v in delta.items() if k != "content"}  # the role, in the first chunk
            finish = choice.get("finish_reason")
            if finish is None:
                start = "".join(held).lstrip()
                if self.mode == "auto" and start and not (_OPEN.startswith(start) or start.startswith(_OPEN)):
                    holding = False  # plain text: let it go, and everything after it
                    yield _with_delta(chunk, {**rest, "content": "".join(held)})
                elif rest:
                    yield _with_delta(chunk, rest)
                continue
            holding = False
            text = "".join(held)
            calls = self.calls_in(text)
            if calls is None:
                yield _with_delta(chunk, {**rest, "content": text} if text else rest, finish=finish)
            else:
                yield _with_delta(chunk, {**rest, "tool_calls": [{"index": i, **c} for i, c in enumerate(calls)]})
                yield _with_delta(chunk, {}, finish="tool_calls")


def _with_delta(chunk: dict[str, Any], delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {**chunk["choices"][0], "delta": delta, "finish_reason": finish}
    return {**chunk, "choices": [choice]}


def plan_tools(body: dict[str, Any], *, renders_tools: bool, model: str) -> ToolPlan | None:
    """The request's tool plan, or None when no tools go to the model; 400 for what it cannot do."""
    raw, choice = body.get("tools"), body.get("tool_choice", "auto")
    if raw is None or raw == [] or choice == "none":
        return None
    if not renders_tools:
        raise InvalidRequest(f"model {model} cannot call tools: its chat template does not render them; drop "
                             "`tools`, or set the deployment's options.chat_template to a template that does",
                             param="tools", code="tools_not_supported")
    try:
        tools = _TOOLS.validate_python(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
        raise InvalidRequest(f"tools{where}: {first['msg']}; each tool is "
                             "{\"type\": \"function\", \"function\": {\"name\", \"parameters\"}}",
                             param=f"tools{where}") from None
    by_name = {t.function.name: t for t in tools}
    if choice == "auto":
        return ToolPlan("auto", raw)
    if choice == "required":
        names = list(by_name)
    else:
        try:
            named = _Named.model_validate(choice)
        except ValidationError:
            raise InvalidRequest("tool_choice must be \"none\", \"auto\", \"required\" or "
                                 "{\"type\": \"function\", \"function\": {\"name\": ...}}", param="tool_choice") from None
        name = named.function.name if isinstance(named.function, _Function) else named.function.get("name")
        if name not in by_name:
            raise InvalidRequest(f"tool_choice names function {name!r}, which is not in tools", param="tool_choice")
        names = [name]
    options = [{"type": "object", "required": ["name", "arguments"], "additionalProperties": False,
                "properties": {"name": {"const": n},
                               "arguments": by_name[n].function.parameters or {"type": "object"}}} for n in names]
    return ToolPlan("required", raw, options[0] if len(options) == 1 else {"anyOf": options})


# ---- a stream folded into one answer -------------------------------------------------------------
async def collect(chunks: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    """One chat.completion from a stream's chunks (content, tool-call deltas, logprobs, usage)."""
    head: dict[str, Any] | None = None
    usage: Any = None
    acc: dict[int, dict[str, Any]] = {}
    async for chunk in chunks:
        head = head or chunk
        if chunk.get("usage"):
            usage = chunk["usage"]
        for ch in chunk.get("choices") or []:
            a = acc.setdefault(int(ch.get("index") or 0), {"text": [], "reasoning": [], "calls": {},
                                                           "finish": None, "logprobs": []})
            d = ch.get("delta") or {}
            if d.get("content"):
                a["text"].append(d["content"])
            if d.get("reasoning_content"):
                a["reasoning"].append(d["reasoning_content"])
            for tc in d.get("tool_calls") or []:
                slot = a["calls"].setdefault(int(tc.get("index") or 0),
                                             {"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
                slot["id"] = tc.get("id") or slot["id"]
                fn = tc.get("function") or {}
                slot["function"]["name"] += fn.get("name") or ""
                slot["function"]["arguments"] += fn.get("arguments") or ""
            if ch.get("finish_reason"):
                a["finish"] = ch["finish_reason"]
            if isinstance(ch.get("logprobs"), dict):
                a["logprobs"].extend(ch["logprobs"].get("content") or [])
    if head is None:
        raise UpstreamError("the local model ended its answer without sending anything", retryable=False)
    choices = []
    for i, a in sorted(acc.items()):
        calls = [c for _, c in sorted(a["calls"].items())]
        message: dict[str, Any] = {"role": "assistant",
                                   "content": "".join(a["text"]) if a["text"] or not calls else None}
        if a["reasoning"]:
            message["reasoning_content"] = "".join(a["reasoning"])
        if calls:
            message["tool_calls"] = calls
        choice: dict[str, Any] = {"index": i, "message": message, "finish_reason": a["finish"]}
        if a["logprobs"]:
            choice["logprobs"] = {"content": a["logprobs"]}
        choices.append(choice)
    out = {"id": head.get("id"), "object": "chat.completion", "created": head.get("created"),
           "model": head.get("model"), "choices": choices}
    if head.get("system_fingerprint"):
        out["system_fingerprint"] = head["system_fingerprint"]
    if usage is not None:
        out["usage"] = usage
    return out
