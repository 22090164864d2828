"""/sluice/v1/cache admin routes: master key only; stats and purge by tenant / model."""

from __future__ import annotations

import pytest

from tests.gateway_fixtures import gateway_client, mock_config

KEY = "sk-master-test"
AUTH = {"authorization": f"Bearer {KEY}"}


@pytest.fixture(autouse=True)
def _master_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_MASTER_KEY", KEY)


async def test_admin_routes_need_the_master_key(mock) -> None:
    async with gateway_client(mock_config(mock, cache={"enabled": True})) as (_, client):
        r = await client.get("/sluice/v1/cache/stats")
        assert r.status_code == 401 and r.json()["error"]["code"] == "missing_api_key"
        r = await client.get("/sluice/v1/cache/stats", headers={"authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_master_key"
        r = await client.post("/sluice/v1/cache/purge", json={"all": True}, headers={"authorization": "Basic x"})
        assert r.status_code == 401


async def test_admin_routes_are_off_without_a_master_key(mock, monkeypatch) -> None:
    monkeypatch.delenv("SLUICE_MASTER_KEY")
    async with gateway_client(mock_config(mock, cache={"enabled": True})) as (_, client):
        r = await client.get("/sluice/v1/cache/stats", headers=AUTH)
        assert r.status_code == 403 and "SLUICE_MASTER_KEY" in r.json()["error"]["message"]


async def test_stats_count_hits_and_purge_empties_a_model(mock) -> None:
    cfg = mock_config(mock, cache={"enabled": True, "semantic": {"enabled": False}})
    async with gateway_client(cfg) as (app, client):
        body = {"model": "mock-chat", "messages": [{"role": "user", "content": "stats please"}]}
        await client.post("/v1/chat/completions", json=body)
        await app.state.gateway.services.cache.drain()
        await client.post("/v1/chat/completions", json=body)
        s = (await client.get("/sluice/v1/cache/stats", headers=AUTH)).json()
        assert s["hits"] == 1 and s["misses"] == 1 and s["hit_ratio"] == 0.5
        assert s["backend"]["entries"] == 1 and s["backend"]["bytes"] > 0 and s["stores"] == 1
        r = await client.post("/sluice/v1/cache/purge", json={"model": "other"}, headers=AUTH)
        assert r.json()["purged"]["entries"] == 0
        r = await client.post("/sluice/v1/cache/purge", json={"tenant": "public", "model": "mock-chat"}, headers=AUTH)
        assert r.status_code == 200 and r.json()["purged"]["entries"] == 1
        r = await client.post("/v1/chat/completions", json=body)
        assert r.headers["x-sluice-cache"] == "miss"


async def test_purge_needs_a_target_and_rejects_unknown_fields(mock) -> None:
    async with gateway_client(mock_config(mock, cache={"enabled": True})) as (_, client):
        r = await client.post("/sluice/v1/cache/purge", json={}, headers=AUTH)
        assert r.status_code == 400 and "all: true" in r.json()["error"]["message"]
        r = await client.post("/sluice/v1/cache/purge", json={"tenant": "x", "teams": 1}, headers=AUTH)
        assert r.status_code == 400


async def test_cache_disabled_says_how_to_turn_it_on(mock) -> None:
    async with gateway_client(mock_config(mock)) as (_, client):
        r = await client.get("/sluice/v1/cache/stats", headers=AUTH)
        assert r.status_code == 404 and "cache.enabled" in r.json()["error"]["message"]
