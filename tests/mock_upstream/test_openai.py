from __future__ import annotations

import base64

import httpx
import numpy as np
import orjson
import pytest
from openai import OpenAI

from gateway.mock_upstream import MockUpstream
from tests.mock_upstream.conftest import CHAT, sse_data


def test_chat_completion_shape_and_usage(client: httpx.Client, m: MockUpstream) -> None:
    r = client.post("/chat/completions", json=CHAT)
    assert r.status_code == 200
    d = r.json()
    assert d["object"] == "chat.completion" and d["model"] == "mock-gpt"
    assert isinstance(d["created"], int) and d["system_fingerprint"]
    choice = d["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["logprobs"] is None
    text = choice["message"]["content"]
    assert text.startswith("mock reply to: ")
    assert d["usage"]["completion_tokens"] == len(text.split()) == m.config.reply_words
    assert d["usage"]["prompt_tokens"] > 3
    assert d["usage"]["total_tokens"] == d["usage"]["prompt_tokens"] + d["usage"]["completion_tokens"]
    assert m.requests_seen == 1 and m.last_body == CHAT and m.last_path == "/v1/chat/completions"


def test_content_is_deterministic_and_request_dependent(client: httpx.Client) -> None:
    a = client.post("/chat/completions", json=CHAT).json()["choices"][0]["message"]["content"]
    b = client.post("/chat/completions", json=CHAT).json()["choices"][0]["message"]["content"]
    other = {**CHAT, "messages": [{"role": "user", "content": "Something else"}]}
    c = client.post("/chat/completions", json=other).json()["choices"][0]["message"]["content"]
    seeded = client.post("/chat/completions", json={**CHAT, "seed": 7}).json()["choices"][0]["message"]["content"]
    assert a == b and a != c and a != seeded


def test_max_tokens_cuts_reply_with_length(client: httpx.Client) -> None:
    d = client.post("/chat/completions", json={**CHAT, "max_tokens": 5}).json()
    assert len(d["choices"][0]["message"]["content"].split()) == 5
    assert d["choices"][0]["finish_reason"] == "length" and d["usage"]["completion_tokens"] == 5


def test_reply_words_header_and_n_choices(client: httpx.Client) -> None:
    d = client.post("/chat/completions", json={**CHAT, "n": 3}, headers={"x-mock-reply-words": "40"}).json()
    texts = [c["message"]["content"] for c in d["choices"]]
    assert [c["index"] for c in d["choices"]] == [0, 1, 2]
    assert all(len(t.split()) == 40 for t in texts) and len(set(texts)) == 3
    assert d["usage"]["completion_tokens"] == 120


def test_stop_sequence(client: httpx.Client) -> None:
    d = client.post("/chat/completions", json={**CHAT, "stop": ["reply"]}).json()
    assert d["choices"][0]["message"]["content"] == "mock "


def test_logprobs_when_asked(client: httpx.Client) -> None:
    d = client.post("/chat/completions", json={**CHAT, "logprobs": True, "max_tokens": 3}).json()
    assert [t["token"] for t in d["choices"][0]["logprobs"]["content"]] == ["mock", " reply", " to:"]


def test_json_response_format(client: httpx.Client) -> None:
    d = client.post("/chat/completions", json={**CHAT, "response_format": {"type": "json_object"}}).json()
    assert orjson.loads(d["choices"][0]["message"]["content"])["reply"].startswith("mock reply")


TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"},
                                     "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city"]}}}]


def test_tool_call_when_required(client: httpx.Client) -> None:
    d = client.post("/chat/completions", json={**CHAT, "tools": TOOLS, "tool_choice": "required"}).json()
    ch = d["choices"][0]
    assert ch["finish_reason"] == "tool_calls" and ch["message"]["content"] is None
    call = ch["message"]["tool_calls"][0]
    assert call["type"] == "function" and call["function"]["name"] == "get_weather"
    args = orjson.loads(call["function"]["arguments"])
    assert isinstance(args["city"], str) and isinstance(args["days"], int) and args["unit"] == "c"


def test_tool_call_when_user_asks_and_not_otherwise(client: httpx.Client) -> None:
    ask = {**CHAT, "messages": [{"role": "user", "content": "What is get_weather for Paris?"}], "tools": TOOLS}
    assert client.post("/chat/completions", json=ask).json()["choices"][0]["finish_reason"] == "tool_calls"
    plain = client.post("/chat/completions", json={**CHAT, "tools": TOOLS}).json()
    assert plain["choices"][0]["finish_reason"] == "stop"
    none = client.post("/chat/completions", json={**ask, "tool_choice": "none"}).json()
    assert none["choices"][0]["finish_reason"] == "stop"


def test_stream_with_usage_chunk(client: httpx.Client) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    r = client.post("/chat/completions", json=body)
    assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream"
    data = sse_data(r.text)
    assert data[-1] == "[DONE]"
    chunks = [orjson.loads(x) for x in data[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    whole = client.post("/chat/completions", json=CHAT).json()
    assert text == whole["choices"][0]["message"]["content"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 16
    assert all(c["usage"] is None for c in chunks[:-1])


def test_stream_without_usage_has_no_usage_chunk(client: httpx.Client) -> None:
    data = sse_data(client.post("/chat/completions", json={**CHAT, "stream": True}).text)
    chunks = [orjson.loads(x) for x in data[:-1]]
    assert all(c["choices"] for c in chunks) and all("usage" not in c for c in chunks)


def test_stream_tool_call(client: httpx.Client) -> None:
    body = {**CHAT, "stream": True, "tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}
    chunks = [orjson.loads(x) for x in sse_data(client.post("/chat/completions", json=body).text)[:-1]]
    first = chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert first["function"]["name"] == "get_weather" and first["id"].startswith("call_")
    args = "".join(c["choices"][0]["delta"].get("tool_calls", [{}])[0].get("function", {}).get("arguments", "")
                   for c in chunks)
    assert "city" in orjson.loads(args)
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_openai_sdk_round_trip(m: MockUpstream) -> None:
    client = OpenAI(base_url=m.base_url, api_key="not-used", max_retries=0)
    out = client.chat.completions.create(model="mock-gpt", messages=[{"role": "user", "content": "hi"}])
    assert out.choices[0].message.content and out.usage and out.usage.total_tokens > 0
    stream = client.chat.completions.create(model="mock-gpt", messages=[{"role": "user", "content": "hi"}],
                                            stream=True, stream_options={"include_usage": True})
    parts = list(stream)
    assert "".join(p.choices[0].delta.content or "" for p in parts if p.choices) == out.choices[0].message.content
    assert parts[-1].usage is not None and parts[-1].usage.completion_tokens == 16
    models = [x.id for x in client.models.list()]
    assert models == m.config.models
    emb = client.embeddings.create(model="mock-embed", input=["a", "b"])  # SDK asks for base64
    assert len(emb.data) == 2 and len(emb.data[0].embedding) == 384


def test_embeddings_unit_vectors_and_determinism(client: httpx.Client) -> None:
    r = client.post("/embeddings", json={"model": "e", "input": ["hello", "world", "hello"]}).json()
    vs = [np.array(d["embedding"]) for d in r["data"]]
    assert [d["index"] for d in r["data"]] == [0, 1, 2] and r["object"] == "list"
    assert all(abs(np.linalg.norm(v) - 1) < 1e-5 for v in vs) and len(vs[0]) == 384
    assert np.allclose(vs[0], vs[2]) and not np.allclose(vs[0], vs[1])
    assert r["usage"]["prompt_tokens"] == r["usage"]["total_tokens"] > 0


def test_embeddings_dims_tokens_and_base64(client: httpx.Client) -> None:
    one = client.post("/embeddings", json={"model": "e", "input": [1, 2, 3], "dimensions": 8}).json()
    assert len(one["data"]) == 1 and len(one["data"][0]["embedding"]) == 8
    assert one["usage"]["prompt_tokens"] == 3
    many = client.post("/embeddings", json={"model": "e", "input": [[1, 2], [3]], "encoding_format": "base64"}).json()
    vec = np.frombuffer(base64.b64decode(many["data"][1]["embedding"]), dtype="<f4")
    assert vec.shape == (384,) and abs(np.linalg.norm(vec) - 1) < 1e-5


@pytest.mark.parametrize("body", [
    {"model": "e"}, {"model": "e", "input": []}, {"model": "e", "input": [1.5]},
    {"model": "e", "input": "x", "encoding_format": "hex"}, {"model": "e", "input": "x", "dimensions": 0},
])
def test_embeddings_bad_input_is_400(client: httpx.Client, body: dict) -> None:
    r = client.post("/embeddings", json=body)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("content,body", [
    ("{not json", None), ("[1]", None), (None, {"model": "x", "messages": []}), (None, {"messages": [{"role": "user"}]}),
])
def test_chat_bad_requests_are_400(client: httpx.Client, content: str | None, body: dict | None) -> None:
    r = client.post("/chat/completions", content=content, json=body, headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["message"]


def test_unknown_route_is_404(client: httpx.Client) -> None:
    r = client.post("/audio/speech", json={})
    assert r.status_code == 404 and "no route" in r.json()["error"]["message"]


def test_azure_style_path_is_served(m: MockUpstream) -> None:
    r = httpx.post(f"{m.url}/openai/deployments/gpt/chat/completions?api-version=2024-06-01", json=CHAT)
    assert r.status_code == 200 and r.json()["choices"]


def test_embeddings_omit_fields(client: httpx.Client) -> None:
    d = client.post("/embeddings", json={"model": "e", "input": "x"}, headers={"x-mock-fault": "omit-fields"}).json()
    assert "usage" not in d and "object" not in d and len(d["data"][0]["embedding"]) == 384


def test_public_names() -> None:
    import gateway.mock_upstream as pkg

    assert sorted(pkg.__all__) == ["FAULTS", "MockConfig", "MockServer", "MockUpstream", "run", "serve"]


def test_repeated_body_same_answer_new_id(client: httpx.Client) -> None:
    a = client.post("/chat/completions", json=CHAT).json()
    b = client.post("/chat/completions", json=CHAT).json()
    assert a["choices"] == b["choices"] and a["usage"] == b["usage"] and a["id"] != b["id"]
