from __future__ import annotations

import httpx
import orjson

from gateway.mock_upstream import MockUpstream

BODY = {"model": "mock-claude", "max_tokens": 64, "system": "be brief",
        "messages": [{"role": "user", "content": "Tell me about rivers"}]}


def _events(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((lines["event"], orjson.loads(lines["data"])))
    return out


def test_message_shape_and_usage(m: MockUpstream) -> None:
    r = httpx.post(f"{m.anthropic_base_url}/v1/messages", json=BODY)
    assert r.status_code == 200
    d = r.json()
    assert d["type"] == "message" and d["role"] == "assistant" and d["stop_reason"] == "end_turn"
    assert d["content"][0]["type"] == "text" and d["content"][0]["text"].startswith("mock reply to:")
    assert d["usage"]["input_tokens"] > 3 and d["usage"]["output_tokens"] == 16


def test_stream_events_in_order(m: MockUpstream) -> None:
    r = httpx.post(f"{m.anthropic_base_url}/v1/messages", json={**BODY, "stream": True, "max_tokens": 6})
    evs = _events(r.text)
    names = [n for n, _ in evs]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert all(n == d["type"] for n, d in evs)
    text = "".join(d["delta"]["text"] for n, d in evs if n == "content_block_delta")
    assert len(text.split()) == 6
    delta = evs[-2][1]
    assert delta["delta"]["stop_reason"] == "max_tokens" and delta["usage"]["output_tokens"] == 6


def test_tool_use(m: MockUpstream) -> None:
    tools = [{"name": "lookup", "description": "d", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}]
    body = {**BODY, "tools": tools, "tool_choice": {"type": "any"}}
    d = httpx.post(f"{m.anthropic_base_url}/v1/messages", json=body).json()
    assert d["stop_reason"] == "tool_use" and d["content"][0]["name"] == "lookup" and "q" in d["content"][0]["input"]
    evs = _events(httpx.post(f"{m.anthropic_base_url}/v1/messages", json={**body, "stream": True}).text)
    partial = "".join(d["delta"]["partial_json"] for n, d in evs if n == "content_block_delta")
    assert orjson.loads(partial) == d["content"][0]["input"]


def test_missing_max_tokens_and_errors_use_anthropic_shape(m: MockUpstream) -> None:
    r = httpx.post(f"{m.anthropic_base_url}/v1/messages", json={"model": "x", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 400 and r.json()["type"] == "error" and "max_tokens" in r.json()["error"]["message"]
    r = httpx.post(f"{m.anthropic_base_url}/v1/messages", json=BODY, headers={"x-mock-fault": "429"})
    assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit_error"
