"""The Anthropic side of the mock, complete enough to test a native pass-through; read with the SDK."""

from __future__ import annotations

import anthropic
import httpx
import jsonschema
import pytest

from gateway.mock_upstream import MockUpstream
from tests.mock_upstream.test_anthropic import _events

TOOLS = [{"name": "get_weather", "description": "weather for a city",
          "input_schema": {"type": "object", "required": ["city"],
                           "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}}}}]
ASK = [{"role": "user", "content": "What is get_weather for Paris?"}]
THINK = {"type": "enabled", "budget_tokens": 1024}


@pytest.fixture
def sdk(m: MockUpstream) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=m.anthropic_base_url, api_key="x", max_retries=0)


def test_tools_round_trip_ends_in_text(sdk: anthropic.Anthropic, m: MockUpstream) -> None:
    first = sdk.messages.create(model="mock-claude", max_tokens=256, tools=TOOLS, messages=ASK)
    assert first.stop_reason == "tool_use"
    use = first.content[-1]
    assert use.type == "tool_use" and use.name == "get_weather" and use.id.startswith("toolu_")
    jsonschema.validate(use.input, TOOLS[0]["input_schema"])
    history = [*ASK, {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "21 C"}]}]
    # tool_choice "any" would force a call on every turn; after a tool_result the mock answers anyway
    for choice in ({"type": "auto"}, {"type": "any"}):
        second = sdk.messages.create(model="mock-claude", max_tokens=256, tools=TOOLS, tool_choice=choice,
                                     messages=history)
        assert second.stop_reason == "end_turn" and [b.type for b in second.content] == ["text"]
    assert m.last_body["messages"][-1]["content"][0]["type"] == "tool_result"
    h = m.last_headers
    assert h["anthropic-version"] and (h.get("x-api-key") == "x" or h.get("authorization") == "Bearer x")


def test_thinking_block_with_signature_first(sdk: anthropic.Anthropic) -> None:
    msg = sdk.messages.create(model="mock-claude", max_tokens=2048, thinking=THINK, messages=ASK[:1])
    assert [b.type for b in msg.content] == ["thinking", "text"]
    think = msg.content[0]
    assert think.type == "thinking" and think.thinking and len(think.signature) > 40
    plain = sdk.messages.create(model="mock-claude", max_tokens=2048, messages=ASK[:1])
    assert msg.usage.output_tokens > plain.usage.output_tokens
    with_tool = sdk.messages.create(model="mock-claude", max_tokens=2048, thinking=THINK, tools=TOOLS, messages=ASK)
    assert [b.type for b in with_tool.content] == ["thinking", "tool_use"]


def test_thinking_stream_has_thinking_and_signature_deltas(sdk: anthropic.Anthropic, m: MockUpstream) -> None:
    body = {"model": "mock-claude", "max_tokens": 2048, "thinking": THINK, "messages": ASK, "stream": True}
    evs = _events(httpx.post(f"{m.anthropic_base_url}/v1/messages", json=body).text)
    names = [n for n, _ in evs]
    kinds = [d["delta"]["type"] for n, d in evs if n == "content_block_delta"]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert evs[1][1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    n_think = kinds.count("thinking_delta")
    assert n_think > 0 and kinds[:n_think + 1] == ["thinking_delta"] * n_think + ["signature_delta"]
    assert set(kinds[n_think + 1:]) == {"text_delta"}
    assert [d["index"] for n, d in evs if n == "content_block_start"] == [0, 1]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    with sdk.messages.stream(model="mock-claude", max_tokens=2048, thinking=THINK, messages=ASK) as s:
        for _ in s:
            pass
        final = s.get_final_message()
    whole = sdk.messages.create(model="mock-claude", max_tokens=2048, thinking=THINK, messages=ASK)
    def parts(blocks: list) -> list[dict]:
        return [b.model_dump(include={"type", "text", "thinking", "signature"}) for b in blocks]
    assert parts(final.content) == parts(whole.content) and final.usage.output_tokens == whole.usage.output_tokens


def test_thinking_validation_like_anthropic(m: MockUpstream) -> None:
    url = f"{m.anthropic_base_url}/v1/messages"
    small = httpx.post(url, json={"model": "c", "max_tokens": 2048, "messages": ASK,
                                  "thinking": {"type": "enabled", "budget_tokens": 100}})
    assert small.status_code == 400 and small.json()["type"] == "error"
    assert small.json()["error"]["type"] == "invalid_request_error" and "budget_tokens" in small.json()["error"]["message"]
    over = httpx.post(url, json={"model": "c", "max_tokens": 1024, "messages": ASK, "thinking": THINK})
    assert over.status_code == 400 and "max_tokens" in over.json()["error"]["message"]


def test_tool_stream_sequence(m: MockUpstream) -> None:
    body = {"model": "mock-claude", "max_tokens": 256, "tools": TOOLS, "messages": ASK, "stream": True}
    evs = _events(httpx.post(f"{m.anthropic_base_url}/v1/messages", json=body).text)
    names = [n for n, _ in evs]
    n_deltas = names.count("content_block_delta")
    assert names == ["message_start", "content_block_start", "ping", *["content_block_delta"] * n_deltas,
                     "content_block_stop", "message_delta", "message_stop"]
    assert evs[1][1]["content_block"]["type"] == "tool_use" and evs[1][1]["content_block"]["input"] == {}
    assert {d["delta"]["type"] for n, d in evs if n == "content_block_delta"} == {"input_json_delta"}
    delta = evs[-2][1]
    assert delta["delta"]["stop_reason"] == "tool_use" and delta["usage"]["output_tokens"] > 0
    assert evs[0][1]["message"]["usage"]["input_tokens"] == delta["usage"]["input_tokens"] > 0


def test_cache_control_reports_a_cache_read_or_write(sdk: anthropic.Anthropic) -> None:
    system = [{"type": "text", "text": "You are a careful assistant. " * 40, "cache_control": {"type": "ephemeral"}}]
    total = sdk.messages.count_tokens(model="mock-claude", system=system, messages=ASK).input_tokens
    read = sdk.messages.create(model="mock-claude", max_tokens=64, system=system, messages=ASK)
    assert read.usage.cache_read_input_tokens and read.usage.cache_read_input_tokens > 200
    assert read.usage.cache_creation_input_tokens == 0
    assert read.usage.input_tokens + read.usage.cache_read_input_tokens == total
    write = sdk.messages.create(model="mock-claude", max_tokens=64, system=system, messages=ASK,
                                extra_headers={"x-mock-cache": "write"})
    assert write.usage.cache_creation_input_tokens == read.usage.cache_read_input_tokens
    assert write.usage.cache_read_input_tokens == 0
    plain = sdk.messages.create(model="mock-claude", max_tokens=64, system=system[0]["text"], messages=ASK)
    assert plain.usage.cache_read_input_tokens == 0 and plain.usage.input_tokens == total


def test_stop_sequences(sdk: anthropic.Anthropic, m: MockUpstream) -> None:
    msg = sdk.messages.create(model="mock-claude", max_tokens=64, stop_sequences=["nothing", "to:"], messages=ASK)
    assert msg.stop_reason == "stop_sequence" and msg.stop_sequence == "to:"
    assert msg.content[0].type == "text" and msg.content[0].text == "mock reply "
    body = {"model": "mock-claude", "max_tokens": 64, "stop_sequences": ["to:"], "messages": ASK, "stream": True}
    evs = _events(httpx.post(f"{m.anthropic_base_url}/v1/messages", json=body).text)
    assert "".join(d["delta"]["text"] for n, d in evs if n == "content_block_delta") == "mock reply "
    assert evs[-2][1]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "to:"}


def test_count_tokens(sdk: anthropic.Anthropic, m: MockUpstream) -> None:
    n = sdk.messages.count_tokens(model="mock-claude", messages=ASK)
    assert m.last_path == "/v1/messages/count_tokens" and m.last_body == {"model": "mock-claude", "messages": ASK}
    assert n.input_tokens == sdk.messages.create(model="mock-claude", max_tokens=8, messages=ASK).usage.input_tokens
    assert sdk.messages.count_tokens(model="mock-claude", messages=ASK, tools=TOOLS).input_tokens > n.input_tokens
    r = httpx.post(f"{m.anthropic_base_url}/v1/messages/count_tokens", json={"model": "c"})
    assert r.status_code == 400 and r.json()["type"] == "error"


def test_sdk_errors(sdk: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.RateLimitError) as e:
        sdk.messages.create(model="mock-claude", max_tokens=8, messages=ASK, extra_headers={"x-mock-fault": "429"})
    assert e.value.body == {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limit reached (mock)"}}
    with pytest.raises(anthropic.InternalServerError):
        sdk.messages.create(model="mock-claude", max_tokens=8, messages=ASK, extra_headers={"x-mock-fault": "500"})
