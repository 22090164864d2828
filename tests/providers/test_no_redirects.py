"""Upstream redirects are never followed (issue 17): a 3xx from an upstream would otherwise re-send
the request body and the provider key (Azure `api-key`, Anthropic `x-api-key`) to whatever origin
it names. A hostile upstream redirects to a second, recording server; that server must see nothing,
and the client gets an upstream error (retried by policy) instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from tests.gateway_fixtures import gateway_client, mock_config

SECRET = "azure-provider-key-must-stay-home"
CHAT = {"model": "hostile", "messages": [{"role": "user", "content": "a body that must not travel"}]}


@dataclass
class Upstreams:
    hostile_url: str
    hits: list[dict[str, Any]] = field(default_factory=list)  # what the redirect target received
    redirects: int = 0


@contextlib.asynccontextmanager
async def hostile_upstream(status: int) -> AsyncIterator[Upstreams]:
    """A hostile upstream answering every request with `status` to a second, recording origin."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    state = Upstreams(hostile_url="")

    async def record(request: web.Request) -> web.Response:
        state.hits.append({"path": request.path, "headers": dict(request.headers), "body": await request.read()})
        return web.json_response({"error": {"message": "the redirect target should never be reached"}})

    target_app = web.Application()
    target_app.router.add_route("*", "/{tail:.*}", record)
    target = await start(target_app)

    async def redirect(request: web.Request) -> web.Response:
        state.redirects += 1
        return web.Response(status=status, headers={"location": f"{target}{request.path_qs}"})

    hostile_app = web.Application()
    hostile_app.router.add_route("*", "/{tail:.*}", redirect)
    state.hostile_url = await start(hostile_app)
    try:
        yield state
    finally:
        for r in runners:
            await r.cleanup()


def _config(mock, provider: str, base: str, **extra: Any):  # type: ignore[no-untyped-def]
    dep: dict[str, Any] = {"provider": provider, "model": "gpt-4o-mini", "api_base": base,
                           "api_key_env": "SLUICE_TEST_HOSTILE_KEY", "timeout_s": 5, **extra}
    return mock_config(mock, models=[{"name": "hostile", "deployments": [dep]}],
                       router={"retry": {"max_retries": 1, "backoff_base_s": 0.001, "backoff_max_s": 0.01}})


@pytest.mark.parametrize("status", [307, 302, 301, 308])
@pytest.mark.parametrize("stream", [False, True])
async def test_azure_redirect_is_not_followed_and_the_key_stays_home(mock, monkeypatch, status, stream) -> None:
    monkeypatch.setenv("SLUICE_TEST_HOSTILE_KEY", SECRET)
    async with hostile_upstream(status) as up, gateway_client(_config(mock, "azure", up.hostile_url)) as (_, client):
        r = await client.post("/v1/chat/completions", json={**CHAT, "stream": stream})
    assert up.hits == []  # nothing reached the redirect target: no body, no api-key
    assert up.redirects == 2  # the first try and one retry (max_retries: 1): retryable by policy
    assert r.status_code == 502, r.text
    err = r.json()["error"]
    assert err["code"] == "upstream_redirect"
    assert f"HTTP {status}" in err["message"] and SECRET not in r.text


async def test_openai_embeddings_redirect_is_not_followed(mock, monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_TEST_HOSTILE_KEY", SECRET)
    async with hostile_upstream(307) as up:
        cfg = mock_config(mock, models=[{"name": "emb", "mode": "embedding", "deployments": [
            {"provider": "openai", "model": "e", "api_base": up.hostile_url, "api_key_env": "SLUICE_TEST_HOSTILE_KEY"}]}],
            router={"retry": {"max_retries": 0}})
        async with gateway_client(cfg) as (_, client):
            r = await client.post("/v1/embeddings", json={"model": "emb", "input": "hello"})
    assert up.hits == [] and up.redirects == 1
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_redirect"


async def test_a_redirecting_deployment_falls_over_to_a_healthy_one(mock, monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_TEST_HOSTILE_KEY", SECRET)
    async with hostile_upstream(307) as up:
        cfg = mock_config(mock, models=[
            {"name": "hostile", "deployments": [{"provider": "azure", "model": "m", "api_base": up.hostile_url,
                                                 "api_key_env": "SLUICE_TEST_HOSTILE_KEY"}],
             "fallbacks": ["good"]},
            {"name": "good", "deployments": [{"provider": "openai", "model": "m", "api_base": mock.base_url}]}],
            router={"retry": {"max_retries": 0}})
        async with gateway_client(cfg) as (_, client):
            r = await client.post("/v1/chat/completions", json=CHAT)
    assert r.status_code == 200, r.text
    assert up.hits == [] and up.redirects == 1


@pytest.mark.slow  # imports litellm (~4.5 s)
@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_redirect_through_litellm_is_not_followed(mock, monkeypatch, stream) -> None:
    monkeypatch.setenv("SLUICE_TEST_HOSTILE_KEY", SECRET)
    async with hostile_upstream(307) as up:
        cfg = _config(mock, "anthropic", up.hostile_url)
        cfg.models[0].deployments[0].model = "claude-3-5-haiku-20241022"
        async with gateway_client(cfg) as (_, client):
            r = await client.post("/v1/chat/completions", json={**CHAT, "max_tokens": 20, "stream": stream})
    assert up.hits == []  # litellm's own client would have re-sent x-api-key and the body
    assert up.redirects >= 1
    assert r.status_code == 502, r.text
    assert r.json()["error"]["code"] == "upstream_redirect"
