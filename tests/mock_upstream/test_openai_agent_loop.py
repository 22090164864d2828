"""Issue #19 item 7: the chat mock can end an agent loop, follows structured outputs, honours logprobs."""

from __future__ import annotations

from typing import Literal

import httpx
import jsonschema
import orjson
import pytest
from openai import OpenAI
from pydantic import BaseModel, Field

from gateway.mock_upstream import MockUpstream
from tests.mock_upstream.conftest import CHAT, sse_data
from tests.mock_upstream.test_openai import TOOLS

ASK = [{"role": "user", "content": "What is get_weather for Paris?"}]


def _after_tool(client: httpx.Client, **extra: object) -> list[dict]:
    first = client.post("/chat/completions", json={**CHAT, "messages": ASK, "tools": TOOLS, **extra}).json()
    msg = first["choices"][0]["message"]
    assert first["choices"][0]["finish_reason"] == "tool_calls"
    call = msg["tool_calls"][0]
    return [*ASK, msg, {"role": "tool", "tool_call_id": call["id"], "content": '{"temp": 21}'}]


@pytest.mark.parametrize("choice", [None, "auto", "required"])
def test_text_after_a_tool_message(client: httpx.Client, choice: str | None) -> None:
    extra = {} if choice is None else {"tool_choice": choice}
    history = _after_tool(client, **extra)
    d = client.post("/chat/completions", json={**CHAT, "messages": history, "tools": TOOLS, **extra}).json()
    ch = d["choices"][0]
    assert ch["finish_reason"] == "stop" and ch["message"]["content"].startswith("mock reply")
    assert "tool_calls" not in ch["message"]
    chunks = [orjson.loads(x) for x in sse_data(client.post("/chat/completions", json={
        **CHAT, "messages": history, "tools": TOOLS, "stream": True, **extra}).text)[:-1]]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("tool_calls" not in c["choices"][0]["delta"] for c in chunks)


def test_sdk_agent_loop_ends(m: MockUpstream) -> None:
    sdk = OpenAI(base_url=m.base_url, api_key="x", max_retries=0)
    messages: list = list(ASK)
    for turn in range(5):
        r = sdk.chat.completions.create(model="mock-gpt", messages=messages, tools=TOOLS)
        msg = r.choices[0].message
        if not msg.tool_calls:
            break
        messages.append(msg.model_dump(exclude_none=True))
        messages.extend({"role": "tool", "tool_call_id": c.id, "content": "sunny"} for c in msg.tool_calls)
    assert turn == 1 and r.choices[0].finish_reason == "stop"


class Address(BaseModel):
    city: str
    zip_code: str = Field(min_length=5, max_length=5)


class Person(BaseModel):
    name: str
    age: int = Field(ge=18, le=99)
    score: float = Field(gt=0.5)
    role: Literal["admin", "user"]
    email: str | None
    tags: list[str] = Field(min_length=2)
    home: Address
    past: list[Address]


SCHEMAS = [
    Person.model_json_schema(),
    {"type": "object", "additionalProperties": False, "required": ["ok", "items", "kind", "nested"],
     "properties": {"ok": {"type": "boolean"}, "kind": {"const": "v1"},
                    "items": {"type": "array", "minItems": 3, "uniqueItems": True, "items": {"type": "integer"}},
                    "nested": {"type": "object", "required": ["when"], "properties": {
                        "when": {"type": "string", "format": "date-time"}, "n": {"type": ["null", "number"]}}}}},
]


@pytest.mark.parametrize("schema", SCHEMAS, ids=["pydantic", "plain"])
def test_json_schema_output_validates(client: httpx.Client, schema: dict) -> None:
    rf = {"type": "json_schema", "json_schema": {"name": "out", "schema": schema, "strict": True}}
    d = client.post("/chat/completions", json={**CHAT, "response_format": rf, "n": 2}).json()
    for ch in d["choices"]:
        assert ch["finish_reason"] == "stop"
        jsonschema.validate(orjson.loads(ch["message"]["content"]), schema)
    chunks = [orjson.loads(x) for x in sse_data(client.post("/chat/completions", json={
        **CHAT, "response_format": rf, "stream": True}).text)[:-1]]
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert streamed == d["choices"][0]["message"]["content"]
    one = client.post("/chat/completions", json={**CHAT, "response_format": rf}).json()
    assert one["choices"][0]["message"]["content"] == streamed
    assert one["usage"]["completion_tokens"] == sum(bool(c["choices"][0]["delta"].get("content")) for c in chunks)


def test_sdk_parse_with_a_pydantic_model(m: MockUpstream) -> None:
    sdk = OpenAI(base_url=m.base_url, api_key="x", max_retries=0)
    r = sdk.chat.completions.parse(model="mock-gpt", messages=ASK, response_format=Person)
    p = r.choices[0].message.parsed
    assert isinstance(p, Person) and 18 <= p.age <= 99 and len(p.tags) >= 2 and len(p.home.zip_code) == 5


def test_json_object_is_an_object_and_tool_args_follow_refs(client: httpx.Client) -> None:
    d = client.post("/chat/completions", json={**CHAT, "response_format": {"type": "json_object"}}).json()
    assert isinstance(orjson.loads(d["choices"][0]["message"]["content"]), dict)
    params = Person.model_json_schema()
    tools = [{"type": "function", "function": {"name": "save_person", "parameters": params}}]
    d = client.post("/chat/completions", json={**CHAT, "tools": tools, "tool_choice": "required"}).json()
    jsonschema.validate(orjson.loads(d["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]), params)


def test_top_logprobs_whole_and_streamed(client: httpx.Client) -> None:
    body = {**CHAT, "logprobs": True, "top_logprobs": 3}
    whole = client.post("/chat/completions", json=body).json()["choices"][0]
    entries = whole["logprobs"]["content"]
    assert "".join(e["token"] for e in entries) == whole["message"]["content"]
    for e in entries:
        assert e["bytes"] == list(e["token"].encode()) and e["logprob"] <= 0
        tops = e["top_logprobs"]
        assert len(tops) == 3 and tops[0]["token"] == e["token"] and len({t["token"] for t in tops}) == 3
        assert [t["logprob"] for t in tops] == sorted((t["logprob"] for t in tops), reverse=True)
        assert all(t["bytes"] == list(t["token"].encode()) for t in tops)
    chunks = [orjson.loads(x) for x in sse_data(client.post("/chat/completions", json={**body, "stream": True}).text)[:-1]]
    streamed = []
    for c in chunks:
        ch = c["choices"][0]
        if ch["delta"].get("content"):
            assert "".join(e["token"] for e in ch["logprobs"]["content"]) == ch["delta"]["content"]
            streamed.extend(ch["logprobs"]["content"])
    assert streamed == entries
    again = client.post("/chat/completions", json=body).json()["choices"][0]["logprobs"]
    assert again["content"] == entries
    none = client.post("/chat/completions", json={**CHAT, "logprobs": True}).json()["choices"][0]["logprobs"]
    assert all(e["top_logprobs"] == [] for e in none["content"])
