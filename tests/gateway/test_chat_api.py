"""/v1/chat/completions through the official openai SDK and raw HTTP, over the mock upstream."""

from __future__ import annotations

import orjson
import pytest

from tests.gateway_fixtures import gateway_client, mock_config, openai_client

MSG = [{"role": "user", "content": "Say hello"}]


async def test_sdk_non_streaming_returns_completion_with_usage_and_headers(mock) -> None:
    async with gateway_client(mock_config(mock)) as (app, _):
        client = openai_client(app)
        raw = await client.chat.completions.with_raw_response.create(model="mock-chat", messages=MSG)
        resp = raw.parse()
        assert resp.choices[0].message.content
        assert resp.usage is not None and resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
        assert raw.headers["x-sluice-model"] == "mock-chat/openai/gpt-4o-mini#0"
        assert raw.headers["x-sluice-attempts"] == "1"
        # the gateway sent the deployment's upstream model name, not the alias
        assert mock.last_body["model"] == "gpt-4o-mini"


async def test_sdk_streaming_yields_chunks_and_usage_only_when_asked(mock) -> None:
    async with gateway_client(mock_config(mock)) as (app, _):
        client = openai_client(app)
        chunks = [c async for c in await client.chat.completions.create(model="mock-chat", messages=MSG, stream=True)]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text
        assert all(c.usage is None for c in chunks)  # not asked for: not sent
        # ... but the gateway asked upstream for usage anyway (for billing)
        assert mock.last_body["stream_options"] == {"include_usage": True}

        chunks = [c async for c in await client.chat.completions.create(
            model="mock-chat", messages=MSG, stream=True, stream_options={"include_usage": True})]
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
        assert chunks[-1].choices == []


async def test_stream_and_non_stream_carry_the_same_content(mock) -> None:
    async with gateway_client(mock_config(mock)) as (app, _):
        client = openai_client(app)
        whole = await client.chat.completions.create(model="mock-chat", messages=MSG, seed=7)
        parts = [c async for c in await client.chat.completions.create(model="mock-chat", messages=MSG, seed=7,
                                                                        stream=True)]
        assert "".join(c.choices[0].delta.content or "" for c in parts if c.choices) == whole.choices[0].message.content


async def test_sse_framing_ends_with_done(mock) -> None:
    async with gateway_client(mock_config(mock)) as (_, client):
        r = await client.post("/v1/chat/completions", json={"model": "mock-chat", "messages": MSG, "stream": True})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        frames = [f for f in r.text.split("\n\n") if f]
        assert frames[-1] == "data: [DONE]"
        for f in frames[:-1]:
            assert f.startswith("data: ")
            chunk = orjson.loads(f[6:])
            assert chunk["object"] == "chat.completion.chunk"


async def test_tool_calls_pass_through(mock) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    async with gateway_client(mock_config(mock)) as (app, _):
        client = openai_client(app)
        resp = await client.chat.completions.create(model="mock-chat", messages=MSG, tools=tools, tool_choice="required")
        call = resp.choices[0].message.tool_calls[0]
        assert call.function.name == "get_weather"
        assert isinstance(orjson.loads(call.function.arguments), dict)
        assert resp.choices[0].finish_reason == "tool_calls"
        stream = await client.chat.completions.create(model="mock-chat", messages=MSG, tools=tools,
                                                      tool_choice="required", stream=True)
        names = [tc.function.name for c in [c async for c in stream] if c.choices
                 for tc in (c.choices[0].delta.tool_calls or []) if tc.function and tc.function.name]
        assert names == ["get_weather"]


async def test_passthrough_parameters_and_multimodal_parts_reach_upstream(mock) -> None:
    content = [{"type": "text", "text": "what is this?"},
               {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]
    body = {"model": "mock-chat", "messages": [{"role": "user", "content": content}], "n": 2, "stop": ["\n\n"],
            "seed": 3, "logprobs": True, "top_logprobs": 2, "response_format": {"type": "json_object"},
            "temperature": 0.2, "some_new_openai_field": {"x": 1}}
    async with gateway_client(mock_config(mock)) as (_, client):
        r = await client.post("/v1/chat/completions", json=body)
        assert r.status_code == 200, r.text
        assert len(r.json()["choices"]) == 2
    sent = mock.last_body
    assert sent["messages"][0]["content"] == content
    for k in ("n", "stop", "seed", "logprobs", "top_logprobs", "response_format", "temperature", "some_new_openai_field"):
        assert sent[k] == body[k]


async def test_fields_the_upstream_omits_are_patched(mock) -> None:
    mock.set_fault("omit-fields")
    async with gateway_client(mock_config(mock)) as (_, client):
        r = await client.post("/v1/chat/completions", json={"model": "mock-chat", "messages": MSG})
        data = r.json()
        assert r.status_code == 200
        assert data["object"] == "chat.completion" and isinstance(data["created"], int) and data["id"]
        ch = data["choices"][0]
        assert "logprobs" in ch and ch["finish_reason"] and "refusal" in ch["message"]
        r = await client.post("/v1/chat/completions", json={"model": "mock-chat", "messages": MSG, "stream": True})
        for f in [f for f in r.text.split("\n\n") if f and f != "data: [DONE]"]:
            chunk = orjson.loads(f[6:])
            assert chunk["object"] == "chat.completion.chunk" and isinstance(chunk["created"], int)
            assert all("finish_reason" in c and "delta" in c for c in chunk["choices"])


@pytest.mark.parametrize(("payload", "status", "code", "param"), [
    (b"{not json", 400, "invalid_json", None),
    (b"[1, 2]", 400, "invalid_body", None),
    (b'{"messages": [{"role": "user", "content": "x"}]}', 400, "missing_model", "model"),
    (b'{"model": "mock-chat"}', 400, "missing_messages", "messages"),
    (b'{"model": "mock-chat", "messages": []}', 400, "invalid_value", "messages"),
    (b'{"model": "mock-chat", "messages": [{"role": "wizard", "content": "x"}]}', 400, "invalid_value", "messages[0].role"),
    (b'{"model": "mock-chat", "messages": [{"role": "user", "content": 5}]}', 400, "invalid_value", "messages[0].content"),
    (b'{"model": "mock-chat", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}', 400,
     "invalid_value", "temperature"),
    (b'{"model": "mock-chat", "messages": [{"role": "user", "content": "x"}], "temperature": true}', 400,
     "invalid_value", "temperature"),
    (b'{"model": "mock-chat", "messages": [{"role": "user", "content": "x"}], "n": 0}', 400, "invalid_value", "n"),
    (b'{"model": "mock-chat", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}', 400, "invalid_value", "stream"),
    (b'{"model": "mock-chat", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}', 400,
     "invalid_value", "tools[0]"),
    (b'{"model": "nope", "messages": [{"role": "user", "content": "x"}]}', 404, "model_not_found", "model"),
    (b'{"model": "mock-embed", "messages": [{"role": "user", "content": "x"}]}', 400, "wrong_model_mode", "model"),
    (b'{"model": "mock-chat", "messages": [{"role": "user", "content": "x"}], "api_base": "http://evil"}', 400,
     "forbidden_field", "api_base"),
])
async def test_bad_input_gets_openai_shaped_4xx(mock, payload: bytes, status: int, code: str, param) -> None:
    async with gateway_client(mock_config(mock)) as (_, client):
        r = await client.post("/v1/chat/completions", content=payload, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["param"] == param
    assert err["type"] in ("invalid_request_error",) and err["message"]
    assert mock.requests_seen == 0  # nothing bad reached the upstream


async def test_oversize_body_is_413(mock) -> None:
    cfg = mock_config(mock, server={"max_body_bytes": 1000})
    async with gateway_client(cfg) as (_, client):
        r = await client.post("/v1/chat/completions", json={"model": "mock-chat",
                                                            "messages": [{"role": "user", "content": "x" * 2000}]})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "body_too_large"


async def test_unimplemented_routes_and_methods(mock) -> None:
    async with gateway_client(mock_config(mock)) as (_, client):
        r = await client.post("/v1/assistants", json={})
        assert r.status_code == 404
        assert "/v1/assistants" in r.json()["error"]["message"]
        assert r.json()["error"]["code"] == "unknown_route"
        r = await client.get("/v1/chat/completions")
        assert r.status_code == 405 and r.json()["error"]["type"] == "invalid_request_error"


async def test_models_and_health(mock) -> None:
    async with gateway_client(mock_config(mock)) as (app, client):
        models = await openai_client(app).models.list()
        assert {m.id for m in models.data} == {"mock-chat", "mock-embed"}
        assert (await client.get("/v1/models/mock-chat")).json()["id"] == "mock-chat"
        r = await client.get("/v1/models/nope")
        assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/readyz")).status_code == 200


async def test_openapi_documents_every_route(mock) -> None:
    async with gateway_client(mock_config(mock)) as (_, client):
        spec = (await client.get("/openapi.json")).json()
    for path in ("/v1/chat/completions", "/v1/embeddings", "/v1/models", "/healthz", "/readyz"):
        assert path in spec["paths"], path


async def test_embeddings_through_openai_upstream(mock) -> None:
    async with gateway_client(mock_config(mock)) as (app, client):
        resp = await openai_client(app).embeddings.create(model="mock-embed", input=["a", "b"])
        assert len(resp.data) == 2 and len(resp.data[0].embedding) == 384
        r = await client.post("/v1/embeddings", json={"model": "mock-embed", "input": []})
        assert r.status_code == 400 and r.json()["error"]["param"] == "input"
        r = await client.post("/v1/embeddings", json={"model": "mock-chat", "input": "x"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "wrong_model_mode"
        r = await client.post("/v1/embeddings", json={"input": "x"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "missing_model"


async def test_an_unexpected_bug_answers_an_openai_shaped_500_without_a_traceback(mock, caplog) -> None:
    from gateway.hooks import Hook

    class Broken(Hook):
        name = "broken"

        async def before(self, ctx):
            raise RuntimeError("secret internals")

    async with gateway_client(mock_config(mock)) as (app, client):
        app.gateway.generation.pipeline.hooks.append(Broken())
        r = await client.post("/v1/chat/completions", json={"model": "mock-chat", "messages": MSG})
    assert r.status_code == 500
    err = r.json()["error"]
    assert err["type"] == "api_error" and r.headers["x-request-id"] in err["message"]
    assert "secret internals" not in r.text and "Traceback" not in r.text
    assert "secret internals" in caplog.text  # but it is logged for the operator


async def test_an_unexpected_bug_mid_stream_ends_with_an_error_event(mock) -> None:
    from gateway.hooks import Hook, StreamFilter

    class BreaksLater(StreamFilter):
        def __init__(self) -> None:
            self.n = 0

        def on_chunk(self, chunk):
            self.n += 1
            if self.n == 3:
                raise KeyError("oops")
            return [chunk]

    class Broken(Hook):
        name = "broken-stream"

        def stream_filter(self, ctx):
            return BreaksLater()

    async with gateway_client(mock_config(mock)) as (app, client):
        app.gateway.generation.pipeline.hooks.append(Broken())
        r = await client.post("/v1/chat/completions", json={"model": "mock-chat", "messages": MSG, "stream": True})
    frames = [f for f in r.text.split("\n\n") if f]
    assert frames[-1] == "data: [DONE]"
    assert orjson.loads(frames[-2][6:])["error"]["type"] == "api_error"
