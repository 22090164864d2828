"""Tools for the local model (issue #19): definitions reach the prompt, `tool_choice: required` or a
named function returns a real tool call (grammar-constrained JSON), streamed as tool-call deltas;
a model whose template renders no tools refuses them with a 400 instead of answering text."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

from gateway.config import Deployment, parse_config
from gateway.errors import InvalidRequest
from gateway.providers.llamacpp import LlamaCppProvider
from tests.gateway_fixtures import gateway_client, openai_client

if TYPE_CHECKING:
    from gateway.providers.llamacpp_chat import ToolPlan

MSG = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
CLOCK = {"type": "function", "function": {
    "name": "get_time", "description": "Local time in a timezone",
    "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}}}


@pytest.fixture
async def smol() -> AsyncIterator[LlamaCppProvider]:
    p = LlamaCppProvider(Deployment(provider="llamacpp", model="smollm2-135m", options={"temperature": 0}))
    await p.start()
    yield p
    await p.aclose()


def _the_call(out: dict[str, Any], name: str) -> dict[str, Any]:
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls", choice
    msg = choice["message"]
    assert msg["role"] == "assistant" and msg["content"] is None
    (call,) = msg["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == name
    args = json.loads(call["function"]["arguments"])
    assert isinstance(args, dict)
    return args  # type: ignore[no-any-return]


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_tool_definitions_reach_the_prompt(smol: LlamaCppProvider) -> None:
    plain = await smol.chat({"model": "local", "messages": MSG, "max_tokens": 1}, timeout=120)
    tooled = await smol.chat({"model": "local", "messages": MSG, "max_tokens": 1, "tools": [WEATHER]}, timeout=120)
    assert tooled["usage"]["prompt_tokens"] > plain["usage"]["prompt_tokens"] + 40  # the schema is in the prompt


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_required_and_named_tool_choice_return_tool_calls(smol: LlamaCppProvider) -> None:
    out = await smol.chat({"model": "local", "messages": MSG, "max_tokens": 60, "tools": [WEATHER],
                           "tool_choice": "required"}, timeout=180)
    assert set(_the_call(out, "get_weather")) == {"city"}
    assert out["usage"]["completion_tokens"] > 0
    named = {"type": "function", "function": {"name": "get_time"}}
    out = await smol.chat({"model": "local", "messages": MSG, "max_tokens": 60, "tools": [WEATHER, CLOCK],
                           "tool_choice": named}, timeout=180)
    assert set(_the_call(out, "get_time")) == {"tz"}


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_a_required_tool_call_streams_as_tool_call_deltas(smol: LlamaCppProvider) -> None:
    chunks = [c async for c in smol.stream_chat({"model": "local", "messages": MSG, "max_tokens": 60,
                                                 "tools": [WEATHER], "tool_choice": "required"}, timeout=180)]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert not any(d.get("content") for d in deltas)  # no JSON leaks out as text
    calls = [tc for d in deltas for tc in d.get("tool_calls") or []]
    assert calls and calls[0]["index"] == 0 and calls[0]["function"]["name"] == "get_weather"
    assert "city" in json.loads("".join(tc["function"].get("arguments") or "" for tc in calls))
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finishes == ["tool_calls"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_tool_calls_in_the_history_reach_the_prompt(smol: LlamaCppProvider) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    result = {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21 degrees Celsius."}

    def body(assistant: dict[str, Any]) -> dict[str, Any]:
        return {"model": "local", "messages": [*MSG, {"role": "assistant", **assistant}, result],
                "max_tokens": 1, "tools": [WEATHER]}

    bare = await smol.chat(body({"content": ""}), timeout=120)
    called = await smol.chat(body({"content": None, "tool_calls": [call]}), timeout=120)
    assert called["usage"]["prompt_tokens"] > bare["usage"]["prompt_tokens"] + 8  # the call is rendered, not dropped


async def test_a_model_whose_template_renders_no_tools_refuses_them(tmp_path) -> None:
    p = LlamaCppProvider(Deployment(provider="llamacpp", model="other",
                                    options={"model_path": str(tmp_path / "other.gguf")}))
    assert not p.renders_tools
    for stream in (False, True):
        with pytest.raises(InvalidRequest) as info:
            body = {"model": "local", "messages": MSG, "tools": [WEATHER], "tool_choice": "required"}
            if stream:
                async for _ in p.stream_chat(body, timeout=30):
                    pass
            else:
                await p.chat(body, timeout=30)
        assert info.value.code == "tools_not_supported" and info.value.param == "tools"
    with pytest.raises(FileNotFoundError):  # without tools it is served (here: it has no model file)
        await p.chat({"model": "local", "messages": MSG, "tool_choice": "none", "tools": [WEATHER]}, timeout=30)


def test_bad_tools_and_tool_choice_are_400s() -> None:
    from gateway.providers.llamacpp_chat import plan_tools

    def plan(**body: Any) -> ToolPlan | None:
        return plan_tools({"messages": MSG, **body}, renders_tools=True, model="m")

    with pytest.raises(InvalidRequest) as info:
        plan(tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "nope"}})
    assert info.value.param == "tool_choice" and "nope" in info.value.message
    with pytest.raises(InvalidRequest) as info:
        plan(tools=[{"type": "function", "function": {"description": "no name"}}])
    assert info.value.param == "tools[0].function.name"
    assert plan(tools=[WEATHER], tool_choice="none") is None
    assert plan(tools=[]) is None
    required = plan(tools=[WEATHER, CLOCK], tool_choice="required")
    assert required is not None and [o["properties"]["name"]["const"] for o in required.schema["anyOf"]] == [
        "get_weather", "get_time"]


def _chunk(content: str | None = None, finish: str | None = None, role: bool = False) -> dict[str, Any]:
    delta: dict[str, Any] = {"role": "assistant", "content": None} if role else {"content": content}
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


async def _rewrite(plan: ToolPlan, pieces: list[str]) -> list[dict[str, Any]]:
    async def source() -> AsyncIterator[dict[str, Any]]:
        yield _chunk(role=True)
        for p in pieces:
            yield _chunk(p)
        yield _chunk(finish="stop")
        yield {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [],
               "usage": {"prompt_tokens": 5, "completion_tokens": len(pieces), "total_tokens": 5 + len(pieces)}}

    return [c async for c in plan.stream(source())]


async def test_auto_mode_turns_a_tool_call_block_into_tool_calls_and_lets_text_through() -> None:
    from gateway.providers.llamacpp_chat import collect, plan_tools

    plan = plan_tools({"tools": [WEATHER]}, renders_tools=True, model="m")
    assert plan is not None and plan.mode == "auto" and plan.schema is None
    call = await _rewrite(plan, [" <tool", "_call>\n{\"name\": \"get_weather\", ", "\"arguments\": {\"city\": \"Oslo\"}}",
                                 "\n</tool_call>"])
    assert [c["choices"][0]["finish_reason"] for c in call if c["choices"]][-1] == "tool_calls"
    out = await collect(_replay(call))
    assert _the_call(out, "get_weather") == {"city": "Oslo"} and out["usage"]["total_tokens"] == 9

    text = await _rewrite(plan, ["It is", " sunny."])
    contents = [c["choices"][0]["delta"].get("content") for c in text if c["choices"]]
    assert "It is" in contents and " sunny." in contents  # streamed as it came, once it cannot be a call
    out = await collect(_replay(text))
    assert out["choices"][0]["message"] == {"role": "assistant", "content": "It is sunny."}
    assert out["choices"][0]["finish_reason"] == "stop"

    broken = await collect(_replay(await _rewrite(plan, ["<tool_call>\n{\"name\": \"get_we"])))
    assert broken["choices"][0]["message"]["content"] == "<tool_call>\n{\"name\": \"get_we"  # cut off: text as it is


async def _replay(chunks: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for c in chunks:
        yield c


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_required_tool_call_through_the_gateway_with_the_openai_sdk() -> None:
    cfg = parse_config({"models": [{"name": "smollm2", "deployments": [
        {"provider": "llamacpp", "model": "SmolLM2-135M-Instruct", "timeout_s": 180, "options": {"temperature": 0}}]}]})
    async with gateway_client(cfg) as (app, _):
        client = openai_client(app, timeout=200)
        r = await client.chat.completions.create(model="smollm2", messages=MSG, max_tokens=60, tools=[WEATHER],
                                                 tool_choice="required")
        assert r.choices[0].finish_reason == "tool_calls"
        (call,) = r.choices[0].message.tool_calls
        assert call.function.name == "get_weather" and "city" in json.loads(call.function.arguments)

        stream = await client.chat.completions.create(model="smollm2", messages=MSG, max_tokens=60, tools=[WEATHER],
                                                      tool_choice="required", stream=True)
        chunks = [c async for c in stream]
        deltas = [c.choices[0].delta for c in chunks if c.choices]
        assert not any(d.content for d in deltas)
        calls = [tc for d in deltas for tc in d.tool_calls or []]
        assert calls and calls[0].function.name == "get_weather"
        assert "city" in json.loads("".join(tc.function.arguments or "" for tc in calls))
        assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]
