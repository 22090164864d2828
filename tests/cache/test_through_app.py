"""The cache through the whole app over the mock upstream: hits, streams both ways, controls."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.context import Principal, RequestContext
from gateway.hooks import Hook
from tests.gateway_fixtures import gateway_client, mock_config

MSG = [{"role": "user", "content": "What is the capital of Australia?"}]
CACHE = {"enabled": True}


def _cfg(mock: Any, **cache: Any) -> Any:
    return mock_config(mock, cache={**CACHE, **cache})


def _sse_chunks(text: str) -> list[dict[str, Any]]:
    frames = [f for f in text.split("\n\n") if f]
    assert frames[-1] == "data: [DONE]"
    return [orjson.loads(f[6:]) for f in frames[:-1]]


def _stream_text(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))


async def _drain(app: Any) -> None:
    await app.state.gateway.services.cache.drain()


async def test_exact_hit_is_served_without_calling_the_upstream(mock) -> None:
    async with gateway_client(_cfg(mock)) as (app, client):
        body = {"model": "mock-chat", "messages": MSG}
        first = await client.post("/v1/chat/completions", json=body)
        assert first.status_code == 200 and first.headers["x-sluice-cache"] == "miss"
        await _drain(app)
        seen = mock.requests_seen
        second = await client.post("/v1/chat/completions", json={"messages": MSG, "model": "mock-chat"})
        assert second.status_code == 200
        assert second.headers["x-sluice-cache"] == "hit"
        assert mock.requests_seen == seen  # the upstream was not called
        assert second.json()["choices"][0]["message"]["content"] == first.json()["choices"][0]["message"]["content"]
        assert second.json()["usage"] == first.json()["usage"]


async def test_streamed_entry_is_replayed_to_a_non_stream_request(mock) -> None:
    async with gateway_client(_cfg(mock)) as (app, client):
        r1 = await client.post("/v1/chat/completions", json={"model": "mock-chat", "messages": MSG, "stream": True})
        assert r1.headers["x-sluice-cache"] == "miss"
        text = _stream_text(_sse_chunks(r1.text))
        await _drain(app)
        seen = mock.requests_seen
        r2 = await client.post("/v1/chat/completions", json={"model": "mock-chat", "messages": MSG})
        assert r2.headers["x-sluice-cache"] == "hit" and mock.requests_seen == seen
        assert r2.json()["choices"][0]["message"]["content"] == text
        assert r2.json()["object"] == "chat.completion"


async def test_whole_entry_is_replayed_as_sse_with_usage_only_when_asked(mock) -> None:
    async with gateway_client(_cfg(mock)) as (app, client):
        r1 = await client.post("/v1/chat/completions", json={"model": "mock-chat", "messages": MSG})
        await _drain(app)
        seen = mock.requests_seen
        r2 = await client.post("/v1/chat/completions", json={"model": "mock-chat", "messages": MSG, "stream": True})
        assert r2.headers["x-sluice-cache"] == "hit" and r2.headers["content-type"].startswith("text/event-stream")
        chunks = _sse_chunks(r2.text)
        assert _stream_text(chunks) == r1.json()["choices"][0]["message"]["content"]
        assert all(c["object"] == "chat.completion.chunk" for c in chunks)
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
        assert not any("usage" in c and not c["choices"] for c in chunks)  # not asked for
        r3 = await client.post("/v1/chat/completions", json={
            "model": "mock-chat", "messages": MSG, "stream": True, "stream_options": {"include_usage": True}})
        chunks = _sse_chunks(r3.text)
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == r1.json()["usage"]
        assert mock.requests_seen == seen


async def test_stream_replay_frames_match_a_live_stream(mock) -> None:
    async with gateway_client(_cfg(mock)) as (app, client):
        req = {"model": "mock-chat", "messages": MSG, "stream": True, "stream_options": {"include_usage": True}}
        live = _sse_chunks((await client.post("/v1/chat/completions", json=req)).text)
        await _drain(app)
        replay = _sse_chunks((await client.post("/v1/chat/completions", json=req)).text)
        assert _stream_text(replay) == _stream_text(live)
        assert replay[0]["choices"][0]["delta"]["role"] == "assistant"
        assert set(replay[0]) >= {"id", "object", "created", "model", "choices"}
        assert replay[-1]["usage"] == live[-1]["usage"]


async def test_cache_control_no_cache_bypasses_lookup_and_still_stores(mock) -> None:
    async with gateway_client(_cfg(mock)) as (app, client):
        body = {"model": "mock-chat", "messages": MSG}
        await client.post("/v1/chat/completions", json=body)
        await _drain(app)
        seen = mock.requests_seen
        r = await client.post("/v1/chat/completions", json=body, headers={"cache-control": "no-cache"})
        assert r.headers["x-sluice-cache"] == "bypass" and mock.requests_seen == seen + 1


async def test_no_store_is_not_stored_and_body_field_is_stripped(mock) -> None:
    async with gateway_client(_cfg(mock)) as (app, client):
        body = {"model": "mock-chat", "messages": MSG, "cache": {"no_store": True}}
        r1 = await client.post("/v1/chat/completions", json=body)
        assert r1.status_code == 200 and "cache" not in mock.last_body
        await _drain(app)
        r2 = await client.post("/v1/chat/completions", json={"model": "mock-chat", "messages": MSG})
        assert r2.headers["x-sluice-cache"] == "miss"
        await _drain(app)
        # no-store still reads the cache ...
        r3 = await client.post("/v1/chat/completions", json={"model": "mock-chat", "messages": MSG},
                               headers={"cache-control": "no-store"})
        assert r3.headers["x-sluice-cache"] == "hit"
        # ... but does not write it
        other = {"model": "mock-chat", "messages": [{"role": "user", "content": "Tell me a fact about owls."}]}
        await client.post("/v1/chat/completions", json=other, headers={"cache-control": "no-store"})
        await _drain(app)
        r5 = await client.post("/v1/chat/completions", json=other)
        assert r5.headers["x-sluice-cache"] == "miss"


async def test_temperature_above_zero_bypasses_unless_configured(mock) -> None:
    async with gateway_client(_cfg(mock)) as (app, client):
        body = {"model": "mock-chat", "messages": MSG, "temperature": 0.7}
        assert (await client.post("/v1/chat/completions", json=body)).headers["x-sluice-cache"] == "bypass"
        await _drain(app)
        assert (await client.post("/v1/chat/completions", json=body)).headers["x-sluice-cache"] == "bypass"
    cfg = _cfg(mock, models={"mock-chat": {"cache_temperature_above_zero": True}})
    async with gateway_client(cfg) as (app, client):
        await client.post("/v1/chat/completions", json=body)
        await _drain(app)
        assert (await client.post("/v1/chat/completions", json=body)).headers["x-sluice-cache"] == "hit"


async def test_upstream_errors_are_not_cached(mock) -> None:
    cfg = mock_config(mock, cache=CACHE, router={"retry": {"max_retries": 0}})
    async with gateway_client(cfg) as (app, client):
        mock.set_fault("500", first_n=1)
        body = {"model": "mock-chat", "messages": MSG}
        r1 = await client.post("/v1/chat/completions", json=body)
        assert r1.status_code >= 500
        await _drain(app)
        r2 = await client.post("/v1/chat/completions", json=body)
        assert r2.status_code == 200 and r2.headers["x-sluice-cache"] == "miss"


async def test_tool_call_responses_are_not_cached(mock) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    body = {"model": "mock-chat", "messages": MSG, "tools": tools, "tool_choice": "required"}
    async with gateway_client(_cfg(mock)) as (app, client):
        r1 = await client.post("/v1/chat/completions", json=body)
        assert r1.json()["choices"][0]["message"].get("tool_calls")
        await _drain(app)
        r2 = await client.post("/v1/chat/completions", json=body)
        assert r2.headers["x-sluice-cache"] == "miss"
        assert (await app.state.gateway.services.cache.stats())["stores_skipped"] >= 2


async def test_bad_cache_controls_are_400_with_a_fix(mock) -> None:
    async with gateway_client(_cfg(mock)) as (_, client):
        r = await client.post("/v1/chat/completions", json={"model": "mock-chat", "messages": MSG,
                                                            "cache": {"ttl": -1}})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cache_field"
        r = await client.post("/v1/chat/completions", json={"model": "mock-chat", "messages": MSG},
                              headers={"cache-control": "max-age=soon"})
        assert r.status_code == 400 and r.json()["error"]["param"] == "cache-control"


async def test_semantic_hit_serves_a_paraphrase_and_says_so(mock) -> None:
    async with gateway_client(_cfg(mock)) as (app, client):
        await client.post("/v1/chat/completions", json={"model": "mock-chat", "messages": MSG})
        await _drain(app)
        seen = mock.requests_seen
        para = [{"role": "user", "content": "Which city is Australia's capital?"}]
        r = await client.post("/v1/chat/completions", json={"model": "mock-chat", "messages": para})
        assert r.headers["x-sluice-cache"] == "semantic-hit" and mock.requests_seen == seen
        assert 0.85 <= float(r.headers["x-sluice-cache-similarity"]) <= 1.0
        near = [{"role": "user", "content": "What is the capital of Austria?"}]
        r = await client.post("/v1/chat/completions", json={"model": "mock-chat", "messages": near})
        assert r.headers["x-sluice-cache"] == "miss" and mock.requests_seen == seen + 1
        off = {"model": "mock-chat", "messages": para, "cache": {"semantic": False}}
        assert (await client.post("/v1/chat/completions", json=off)).headers["x-sluice-cache"] == "miss"


class _PrincipalFromHeader(Hook):
    """Stand-in for auth in tests: the team comes from a header."""

    name = "test-auth"

    async def before(self, ctx: RequestContext) -> None:
        team = ctx.headers.get("x-test-team")
        ctx.principal = Principal(key_id=f"k-{team}", team_id=team) if team else None


async def test_tenant_a_never_receives_tenant_b_entries_exact_or_semantic(mock) -> None:
    async with gateway_client(_cfg(mock)) as (app, client):
        app.state.gateway.generation.pipeline.hooks.insert(0, _PrincipalFromHeader())
        body = {"model": "mock-chat", "messages": MSG}
        await client.post("/v1/chat/completions", json=body, headers={"x-test-team": "b"})
        await _drain(app)
        para = {"model": "mock-chat", "messages": [{"role": "user", "content": "Which city is Australia's capital?"}]}
        # Each probe comes from a tenant that has stored nothing yet, so any hit would be b's entry.
        for team, req in (("a", body), ("c", para), (None, body)):
            headers = {"x-test-team": team} if team else {}
            r = await client.post("/v1/chat/completions", json=req, headers=headers)
            assert r.headers["x-sluice-cache"] == "miss", (team, req)
        await _drain(app)
        # the same team does hit
        r = await client.post("/v1/chat/completions", json=para, headers={"x-test-team": "b"})
        assert r.headers["x-sluice-cache"] == "semantic-hit"


@pytest.mark.services
async def test_redis_backend_is_shared_between_two_app_instances(mock, redis_url, monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_REDIS_URL", redis_url)
    cfg = _cfg(mock, backend="redis", redis={"prefix": "sluice-test-shared:"}, semantic={"enabled": False})
    body = {"model": "mock-chat", "messages": [{"role": "user", "content": "shared between processes?"}]}
    async with gateway_client(cfg) as (app1, c1), gateway_client(cfg) as (app2, c2):
        assert app1.state.gateway.services.cache is not app2.state.gateway.services.cache
        r1 = await c1.post("/v1/chat/completions", json=body)
        assert r1.headers["x-sluice-cache"] == "miss"
        await _drain(app1)
        seen = mock.requests_seen
        r2 = await c2.post("/v1/chat/completions", json=body)
        assert r2.headers["x-sluice-cache"] == "hit" and mock.requests_seen == seen
        assert r2.json()["choices"] == r1.json()["choices"]
        await app1.state.gateway.services.cache.purge(None, None)


async def test_redis_down_degrades_to_a_miss(mock, monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    cfg = _cfg(mock, backend="redis", semantic={"enabled": False})
    async with gateway_client(cfg) as (app, client):
        r = await client.post("/v1/chat/completions", json={"model": "mock-chat", "messages": MSG})
        assert r.status_code == 200 and r.headers["x-sluice-cache"] == "miss"
        await _drain(app)
        assert app.state.gateway.services.cache.counts["backend_error"] >= 2  # get and set


@pytest.mark.services
async def test_redis_and_chroma_server_share_semantic_entries_between_instances(
        mock, redis_url, chroma_server, monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_REDIS_URL", redis_url)
    cfg = _cfg(mock, backend="redis", redis={"prefix": "sluice-test-sem:"},
               semantic={"index": "chroma", "chroma_host": chroma_server.host, "chroma_port": chroma_server.port,
                         "chroma_collection": "cache-shared-test"})
    async with gateway_client(cfg) as (app1, c1), gateway_client(cfg) as (app2, c2):
        await c1.post("/v1/chat/completions", json={"model": "mock-chat", "messages": MSG})
        await _drain(app1)
        seen = mock.requests_seen
        para = [{"role": "user", "content": "Which city is Australia's capital?"}]
        r = await c2.post("/v1/chat/completions", json={"model": "mock-chat", "messages": para})
        assert r.headers["x-sluice-cache"] == "semantic-hit" and mock.requests_seen == seen
        purged = await app2.state.gateway.services.cache.purge("public", None)
        assert purged == {"entries": 1, "semantic_entries": 1}
