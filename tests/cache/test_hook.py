"""Cache hook details: TTL and max-age on a fake clock, savings, per-model policy, reloads, embedders."""

from __future__ import annotations

import sys

import numpy as np

from gateway.cache.hook import CacheHook
from gateway.cache.service import router_embedder
from gateway.clock import FakeClock
from gateway.context import RequestContext
from tests.gateway_fixtures import gateway_client, mock_config

MSG = [{"role": "user", "content": "How many bones are in the adult human body?"}]
BODY = {"model": "mock-chat", "messages": MSG}


def cfg(mock, **cache):
    return mock_config(mock, cache={"enabled": True, "semantic": {"enabled": False}, **cache})


async def post(client, body=BODY, **kw):
    return await client.post("/v1/chat/completions", json=body, **kw)


async def drain(app) -> None:
    await app.state.gateway.services.cache.drain()


async def test_ttl_from_config_and_from_the_body(mock) -> None:
    clock = FakeClock()
    async with gateway_client(cfg(mock, default_ttl_s=100), clock=clock) as (app, client):
        await post(client)
        await drain(app)
        clock.advance(99)
        assert (await post(client)).headers["x-sluice-cache"] == "hit"
        clock.advance(2)
        assert (await post(client)).headers["x-sluice-cache"] == "miss"
        await drain(app)
        short = {**BODY, "messages": [{"role": "user", "content": "short-lived"}], "cache": {"ttl": 5}}
        await post(client, short)
        await drain(app)
        clock.advance(6)
        assert (await post(client, short)).headers["x-sluice-cache"] == "miss"


async def test_max_age_refuses_older_entries(mock) -> None:
    clock = FakeClock()
    async with gateway_client(cfg(mock), clock=clock) as (app, client):
        await post(client)
        await drain(app)
        clock.advance(30)
        assert (await post(client, headers={"cache-control": "max-age=10"})).headers["x-sluice-cache"] == "miss"
        assert (await post(client, headers={"cache-control": "max-age=60"})).headers["x-sluice-cache"] == "hit"


async def test_a_hit_costs_nothing_and_records_the_saving(mock) -> None:
    seen: list[RequestContext] = []

    class Probe(CacheHook.__mro__[1]):  # a plain Hook that sees what the ledger will see
        name = "probe"

        async def finished(self, ctx: RequestContext) -> None:
            seen.append(ctx)

    async with gateway_client(cfg(mock)) as (app, client):
        app.state.gateway.generation.pipeline.hooks.append(Probe())
        miss = await post(client)
        cost = float(miss.headers["x-sluice-cost-usd"])  # priced by the spend hook
        assert cost > 0
        await drain(app)
        r = await post(client)
        assert r.headers["x-sluice-cache"] == "hit"
        assert float(r.headers["x-sluice-cost-usd"]) == 0.0
        hit = seen[-1]
        assert hit.cost_usd == 0.0 and hit.cost_saved_usd == cost and hit.usage == r.json()["usage"]
        assert (await app.state.gateway.services.cache.stats())["saved_usd"] == round(cost, 6)  # stats show micro-dollars


async def test_per_model_policy_turns_the_cache_off_for_one_group(mock) -> None:
    async with gateway_client(cfg(mock, models={"mock-chat": {"enabled": False}})) as (app, client):
        r = await post(client)
        assert "x-sluice-cache" not in r.headers
        await drain(app)
        assert "x-sluice-cache" not in (await post(client, {**BODY, "cache": {"ttl": 9}})).headers
        assert "cache" not in mock.last_body


async def test_with_the_cache_off_the_body_field_is_still_stripped(mock) -> None:
    async with gateway_client(mock_config(mock)) as (app, client):
        r = await post(client, {**BODY, "cache": {"no_cache": True}})
        assert r.status_code == 200 and "x-sluice-cache" not in r.headers
        assert "cache" not in mock.last_body and app.state.gateway.services.cache is None


def test_public_names() -> None:
    import gateway.cache

    assert gateway.cache.__all__ == ["CacheConfig", "CacheHook", "CacheService", "service_for"]
    assert all(getattr(gateway.cache, n) for n in gateway.cache.__all__)


async def test_reload_keeps_the_cache_unless_its_section_changed(mock) -> None:
    async with gateway_client(cfg(mock)) as (app, client):
        gw = app.state.gateway
        svc = gw.services.cache
        await post(client)
        await drain(app)
        assert await gw.reload(cfg(mock))
        assert gw.services.cache is svc
        assert (await post(client)).headers["x-sluice-cache"] == "hit"
        assert await gw.reload(cfg(mock, default_ttl_s=5))
        assert gw.services.cache is not svc


async def test_semantic_uses_the_local_model_by_default_and_is_off_without_it(mock, caplog, monkeypatch) -> None:
    async with gateway_client(mock_config(mock, cache={"enabled": True})) as (app, _):
        svc = app.state.gateway.services.cache
        assert svc.semantic is not None
        assert (await svc.semantic.embed_one("hello")).shape == (384,)
    monkeypatch.setitem(sys.modules, "gateway.providers.minilm", None)  # import fails
    async with gateway_client(mock_config(mock, cache={"enabled": True})) as (app, _):
        assert app.state.gateway.services.cache.semantic is None
        assert "semantic cache off" in caplog.text


async def test_router_embedder_uses_a_configured_embedding_group(mock) -> None:
    config = mock_config(mock, cache={"enabled": True, "semantic": {"embedding_model": "mock-embed"}})
    async with gateway_client(config) as (app, client):
        gw = app.state.gateway
        assert gw.services.cache.semantic is not None
        vecs = await router_embedder(gw, "mock-embed")(["one", "two"])
        assert vecs.shape[0] == 2 and np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
        r = await post(client)
        assert r.headers["x-sluice-cache"] == "miss"
        await drain(app)
        assert (await gw.services.cache.semantic.index.stats())["entries"] == 1


async def test_unknown_embedding_model_is_a_config_error(mock) -> None:
    import pytest

    from gateway.errors import ConfigError

    config = mock_config(mock, cache={"enabled": True, "semantic": {"embedding_model": "mock-chat"}})
    with pytest.raises(ConfigError, match="mode: embedding"):
        async with gateway_client(config):
            pass


async def test_a_replaced_service_is_closed_when_its_generation_retires(mock) -> None:
    async with gateway_client(cfg(mock)) as (app, _):
        gw = app.state.gateway
        old_gen, old_svc = gw.generation, gw.services.cache
        await old_svc.backend.set("k", b"v", 60)
        assert await gw.reload(cfg(mock, default_ttl_s=7))
        await old_gen.aclose()  # what the drain timer does
        assert (await old_svc.backend.stats())["entries"] == 0  # closed: memory released
        assert gw.services.cache is not old_svc


async def test_a_hit_on_an_unpriced_model_costs_zero_not_unpriced(mock) -> None:
    models = [{"name": "mock-chat", "deployments": [{"provider": "openai", "model": "no-such-priced-model",
                                                     "api_base": mock.base_url}]}]
    config = mock_config(mock, models=models, cache={"enabled": True, "semantic": {"enabled": False}})
    async with gateway_client(config) as (app, client):
        miss = await post(client)
        assert miss.headers["x-sluice-cost-usd"] == "unpriced"  # never silently $0
        await drain(app)
        hit = await post(client)
        assert hit.headers["x-sluice-cache"] == "hit"
        assert float(hit.headers["x-sluice-cost-usd"]) == 0.0  # a hit costs nothing, priced or not
