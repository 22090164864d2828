"""The mock as an OpenAI Responses API upstream, read through the openai SDK and on the raw wire."""

from __future__ import annotations

import httpx
import jsonschema
import openai
import orjson
import pytest
from openai import OpenAI

from gateway.mock_upstream import MockUpstream

TOOLS = [{"type": "function", "name": "get_weather", "description": "weather for a city", "strict": True,
          "parameters": {"type": "object", "additionalProperties": False, "required": ["city", "unit"],
                         "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}}}}]


@pytest.fixture
def sdk(m: MockUpstream) -> OpenAI:
    return OpenAI(base_url=m.base_url, api_key="x", max_retries=0)


def _events(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((lines["event"], orjson.loads(lines["data"])))
    return out


def test_text_response_parses_in_the_sdk(sdk: OpenAI, m: MockUpstream) -> None:
    r = sdk.responses.create(model="mock-gpt", input="Tell me about rivers")
    assert r.object == "response" and r.id.startswith("resp_") and r.status == "completed"
    assert r.output_text.startswith("mock reply to: ") and len(r.output_text.split()) == 16
    u = r.usage
    assert u is not None and u.output_tokens == 16 and u.total_tokens == u.input_tokens + u.output_tokens
    assert u.input_tokens_details.cached_tokens == 0 and u.output_tokens_details.reasoning_tokens == 0
    assert m.last_path == "/v1/responses" and m.last_body == {"model": "mock-gpt", "input": "Tell me about rivers"}
    with_instructions = sdk.responses.create(model="mock-gpt", input="Tell me about rivers",
                                             instructions="Answer in one long paragraph, please.")
    assert with_instructions.usage is not None and with_instructions.usage.input_tokens > u.input_tokens
    assert with_instructions.instructions == "Answer in one long paragraph, please."


def test_input_items_with_parts(sdk: OpenAI) -> None:
    r = sdk.responses.create(model="mock-gpt", input=[
        {"role": "developer", "content": "be brief"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Tell me about rivers"}]}])
    assert r.status == "completed" and r.output[0].type == "message" and r.output[0].role == "assistant"


def test_stream_event_sequence(m: MockUpstream) -> None:
    r = httpx.post(f"{m.base_url}/responses", json={"model": "mock-gpt", "input": "hi", "stream": True})
    assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream"
    assert "[DONE]" not in r.text
    evs = _events(r.text)
    names = [n for n, _ in evs]
    deltas = names.count("response.output_text.delta")
    assert deltas == 16
    assert names == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.content_part.added", *["response.output_text.delta"] * deltas,
                     "response.output_text.done", "response.content_part.done", "response.output_item.done",
                     "response.completed"]
    assert [d["sequence_number"] for _, d in evs] == list(range(len(evs)))
    assert all(n == d["type"] for n, d in evs)
    assert evs[0][1]["response"]["status"] == "in_progress" and evs[0][1]["response"]["usage"] is None
    text = "".join(d["delta"] for n, d in evs if n == "response.output_text.delta")
    done = evs[-1][1]["response"]
    assert text == evs[-4][1]["text"] == done["output"][0]["content"][0]["text"]
    assert done["usage"]["output_tokens"] == 16 and done["usage"]["total_tokens"] > 16


def test_sdk_stream_helper_accumulates(sdk: OpenAI) -> None:
    whole = sdk.responses.create(model="mock-gpt", input="Tell me about rivers")
    with sdk.responses.stream(model="mock-gpt", input="Tell me about rivers") as s:
        text = "".join(ev.delta for ev in s if ev.type == "response.output_text.delta")
        final = s.get_final_response()
    assert text == final.output_text == whole.output_text


def test_function_call_then_text_after_its_output(sdk: OpenAI) -> None:
    first = sdk.responses.create(model="mock-gpt", input="What is get_weather for Paris?", tools=TOOLS)
    call = first.output[-1]
    assert call.type == "function_call" and call.name == "get_weather" and call.call_id.startswith("call_")
    jsonschema.validate(orjson.loads(call.arguments), TOOLS[0]["parameters"])
    assert first.tools[0].type == "function" and first.tools[0].name == "get_weather"
    second = sdk.responses.create(model="mock-gpt", tools=TOOLS, input=[
        {"role": "user", "content": "What is get_weather for Paris?"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": '{"temp": 21}'}])
    assert [o.type for o in second.output] == ["message"] and second.output_text.startswith("mock reply")
    assert second.usage is not None and second.usage.input_tokens > first.usage.input_tokens  # type: ignore[union-attr]


def test_tool_choice_required_and_none(sdk: OpenAI) -> None:
    forced = sdk.responses.create(model="mock-gpt", input="hello", tools=TOOLS, tool_choice="required")
    assert forced.output[0].type == "function_call"
    named = sdk.responses.create(model="mock-gpt", input="hello", tools=TOOLS,
                                 tool_choice={"type": "function", "name": "get_weather"})
    assert named.output[0].type == "function_call"
    none = sdk.responses.create(model="mock-gpt", input="call get_weather", tools=TOOLS, tool_choice="none")
    assert none.output[0].type == "message"


def test_function_call_stream_events(sdk: OpenAI, m: MockUpstream) -> None:
    body = {"model": "mock-gpt", "input": "call get_weather", "tools": TOOLS, "stream": True}
    evs = _events(httpx.post(f"{m.base_url}/responses", json=body).text)
    names = [n for n, _ in evs]
    assert names[2] == "response.output_item.added" and evs[2][1]["item"]["arguments"] == ""
    assert names[-3:] == ["response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    args = "".join(d["delta"] for n, d in evs if n == "response.function_call_arguments.delta")
    assert args == evs[-3][1]["arguments"] and evs[-3][1]["name"] == "get_weather"
    assert "response.output_text.delta" not in names
    with sdk.responses.stream(model="mock-gpt", input="call get_weather", tools=TOOLS) as s:
        for _ in s:
            pass
        final = s.get_final_response()
    assert final.output[0].type == "function_call" and orjson.loads(final.output[0].arguments) == orjson.loads(args)


def test_reasoning_item_and_tokens(sdk: OpenAI) -> None:
    r = sdk.responses.create(model="mock-gpt", input="hi", reasoning={"effort": "low", "summary": "auto"})
    assert [o.type for o in r.output] == ["reasoning", "message"]
    assert r.output[0].summary and r.output[0].summary[0].type == "summary_text"
    assert r.usage is not None and r.usage.output_tokens_details.reasoning_tokens > 0
    assert r.usage.output_tokens == 16 + r.usage.output_tokens_details.reasoning_tokens
    plain = sdk.responses.create(model="mock-gpt", input="hi")
    assert [o.type for o in plain.output] == ["message"]
    with sdk.responses.stream(model="mock-gpt", input="hi", reasoning={"effort": "low", "summary": "auto"}) as s:
        kinds = [ev.type for ev in s]
        final = s.get_final_response()
    assert "response.reasoning_summary_text.delta" in kinds and final.output[0].type == "reasoning"


def test_max_output_tokens_makes_it_incomplete(sdk: OpenAI, m: MockUpstream) -> None:
    r = sdk.responses.create(model="mock-gpt", input="hi", max_output_tokens=20,
                             extra_headers={"x-mock-reply-words": "40"})
    assert r.status == "incomplete" and r.incomplete_details is not None
    assert r.incomplete_details.reason == "max_output_tokens"
    assert len(r.output_text.split()) == 20 and r.usage is not None and r.usage.output_tokens == 20
    evs = _events(httpx.post(f"{m.base_url}/responses", headers={"x-mock-reply-words": "40"},
                             json={"model": "mock-gpt", "input": "hi", "max_output_tokens": 20, "stream": True}).text)
    assert evs[-1][0] == "response.incomplete" and evs[-1][1]["response"]["status"] == "incomplete"
    with pytest.raises(openai.BadRequestError) as e:
        sdk.responses.create(model="mock-gpt", input="hi", max_output_tokens=5)
    assert "max_output_tokens" in e.value.message


def test_json_schema_text_format(sdk: OpenAI) -> None:
    schema = {"type": "object", "additionalProperties": False, "required": ["name", "tags", "score"],
              "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
                             "score": {"type": "number", "minimum": 50}}}
    r = sdk.responses.create(model="mock-gpt", input="hi",
                             text={"format": {"type": "json_schema", "name": "x", "schema": schema, "strict": True}})
    jsonschema.validate(orjson.loads(r.output_text), schema)
    assert r.text is not None and r.text.format.type == "json_schema"


def test_logprobs_per_delta(m: MockUpstream) -> None:
    body = {"model": "mock-gpt", "input": "hi", "top_logprobs": 3, "include": ["message.output_text.logprobs"]}
    whole = httpx.post(f"{m.base_url}/responses", json=body).json()
    part = whole["output"][0]["content"][0]
    assert "".join(t["token"] for t in part["logprobs"]) == part["text"]
    assert all(len(t["top_logprobs"]) == 3 and t["bytes"] == list(t["token"].encode()) for t in part["logprobs"])
    evs = _events(httpx.post(f"{m.base_url}/responses", json={**body, "stream": True}).text)
    for n, d in evs:
        if n == "response.output_text.delta":
            assert "".join(t["token"] for t in d["logprobs"]) == d["delta"]
    plain = httpx.post(f"{m.base_url}/responses", json={"model": "mock-gpt", "input": "hi"}).json()
    assert plain["output"][0]["content"][0]["logprobs"] == []


def test_faults_and_errors_use_openai_shape(sdk: OpenAI, m: MockUpstream) -> None:
    with pytest.raises(openai.RateLimitError):
        sdk.responses.create(model="mock-gpt", input="hi", extra_headers={"x-mock-fault": "429"})
    r = httpx.post(f"{m.base_url}/responses", json={"model": "mock-gpt", "input": "hi", "stream": True},
                   headers={"x-mock-fault": "503", "x-mock-retry-after": "2"})
    assert r.status_code == 503 and r.headers["retry-after"] == "2" and r.json()["error"]["type"] == "server_error"
    bad = httpx.post(f"{m.base_url}/responses", json={"input": "hi"})
    assert bad.status_code == 400 and "model" in bad.json()["error"]["message"]
    assert httpx.post(f"{m.base_url}/responses", json={"model": "m", "input": []}).status_code == 400


def test_sdk_parse_with_a_pydantic_model(sdk: OpenAI) -> None:
    from pydantic import BaseModel

    class Out(BaseModel):
        city: str
        temp: int

    r = sdk.responses.parse(model="mock-gpt", input="hi", text_format=Out)
    assert isinstance(r.output_parsed, Out)


async def test_openai_agents_tool_loop_ends_over_responses(m: MockUpstream) -> None:
    """openai-agents speaks the Responses API: a tool round, then the final text, whole and streamed."""
    agents = pytest.importorskip("agents")
    from openai import AsyncOpenAI

    agents.set_tracing_disabled(True)
    calls: list[str] = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        calls.append(city)
        return f"sunny in {city}"

    client = AsyncOpenAI(base_url=m.base_url, api_key="x", max_retries=0)
    agent = agents.Agent(name="a", instructions="help", tools=[get_weather],
                         model=agents.OpenAIResponsesModel("mock-gpt", client))
    r = await agents.Runner.run(agent, "call get_weather for Paris", max_turns=4)
    assert len(calls) == 1 and str(r.final_output).startswith("mock reply")
    s = agents.Runner.run_streamed(agent, "call get_weather for Paris", max_turns=4)
    async for _ in s.stream_events():
        pass
    assert len(calls) == 2 and str(s.final_output).startswith("mock reply")
    assert m.last_body["input"][-1]["type"] == "function_call_output"
