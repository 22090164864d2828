"""Responses name the model the client asked for (what /v1/models lists), never the upstream's
model: LangChain's model-override tests and litellm's cost lookup read it. The deployment that
served stays in `x-sluice-model` (issue #19 item 4)."""

from __future__ import annotations

import orjson

from tests.gateway_fixtures import gateway_client, mock_config

MSG = [{"role": "user", "content": "Say hello"}]


async def test_chat_whole_and_streamed_name_the_public_model(mock) -> None:
    async with gateway_client(mock_config(mock)) as (_app, client):
        r = await client.post("/v1/chat/completions", json={"model": "mock-chat", "messages": MSG})
        assert r.status_code == 200, r.text
        assert r.json()["model"] == "mock-chat"
        assert r.headers["x-sluice-model"]  # the deployment is still named, in its header
        r = await client.post("/v1/chat/completions", json={"model": "mock-chat", "messages": MSG, "stream": True,
                                                            "stream_options": {"include_usage": True}})
        frames = [orjson.loads(line[6:]) for line in r.text.splitlines()
                  if line.startswith("data: ") and line != "data: [DONE]"]
        assert frames and {f["model"] for f in frames} == {"mock-chat"}


async def test_embeddings_name_the_public_model(mock) -> None:
    async with gateway_client(mock_config(mock)) as (_app, client):
        r = await client.post("/v1/embeddings", json={"model": "mock-embed", "input": "hello"})
        assert r.status_code == 200, r.text
        assert r.json()["model"] == "mock-embed"
