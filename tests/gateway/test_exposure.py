"""Information disclosure and browsers (issue 17): with auth on, /metrics needs a token (or lives on
its own listener) and the OpenAPI document and its UIs are off unless asked for; CORS is
configurable (Starlette's CORSMiddleware, off by default) and answers preflights, fast paths too."""

from __future__ import annotations

import httpx
import pytest

from tests.gateway_fixtures import gateway_client, mock_config
from tests.services import free_port
from tests.spend.gw import gateway_config, running

MASTER = "master-key-for-exposure-tests"
ADMIN = {"authorization": f"Bearer {MASTER}"}


@pytest.fixture(autouse=True)
def _keys(monkeypatch):
    monkeypatch.setenv("SLUICE_MASTER_KEY", MASTER)
    monkeypatch.setenv("SLUICE_KEY_SECRET", "hmac-secret-for-tests")


def auth_cfg(tmp_path, mock, **server):  # type: ignore[no-untyped-def]
    return gateway_config(tmp_path, mock.base_url, auth={"enabled": True}, server=server)


# -- /metrics -------------------------------------------------------------------------------------
async def test_metrics_with_auth_on_needs_the_master_key(tmp_path, mock) -> None:
    async with running(auth_cfg(tmp_path, mock)) as (_, client):
        anon = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"authorization": "Bearer sk-sluice-not-the-master"})
        ok = await client.get("/metrics", headers=ADMIN)
    assert anon.status_code == 401 and anon.json()["error"]["code"] == "missing_api_key"
    assert "sluice_" not in anon.text  # no series, no team ids, no budget labels
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    assert ok.status_code == 200 and "sluice_requests_total" in ok.text


async def test_metrics_token_from_the_environment(tmp_path, mock, monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_TEST_METRICS_TOKEN", "scraper-token")
    async with running(auth_cfg(tmp_path, mock, metrics={"token_env": "SLUICE_TEST_METRICS_TOKEN"})) as (_, client):
        anon = await client.get("/metrics")
        scraper = await client.get("/metrics", headers={"authorization": "Bearer scraper-token"})
    assert anon.status_code == 401 and "SLUICE_TEST_METRICS_TOKEN" in anon.json()["error"]["message"]
    assert scraper.status_code == 200


async def test_metrics_token_env_unset_fails_closed_even_with_auth_off(mock, monkeypatch) -> None:
    monkeypatch.delenv("SLUICE_TEST_METRICS_TOKEN", raising=False)
    cfg = mock_config(mock, server={"metrics": {"token_env": "SLUICE_TEST_METRICS_TOKEN"}})
    async with gateway_client(cfg) as (_, client):
        r = await client.get("/metrics", headers={"authorization": "Bearer anything"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "metrics_token_not_configured"


async def test_metrics_stay_open_with_auth_off_and_when_declared_public(tmp_path, mock) -> None:
    async with gateway_client(mock_config(mock)) as (_, client):
        assert (await client.get("/metrics")).status_code == 200
    async with running(auth_cfg(tmp_path, mock, metrics={"public": True})) as (_, client):
        assert (await client.get("/metrics")).status_code == 200


async def test_metrics_on_a_listener_of_their_own(tmp_path, mock) -> None:
    port = free_port()
    async with running(auth_cfg(tmp_path, mock, metrics={"port": port})) as (_, client):
        main = await client.get("/metrics", headers=ADMIN)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as side:
            anon = await side.get("/metrics")
            ok = await side.get("/metrics", headers=ADMIN)
            other = await side.get("/sluice/v1/keys", headers=ADMIN)
    assert main.status_code == 404  # not on the main port at all
    assert anon.status_code == 401  # auth is on: the listener still wants a token
    assert ok.status_code == 200 and "sluice_requests_total" in ok.text
    assert other.status_code == 404  # the metrics port serves /metrics only
    async with httpx.AsyncClient(timeout=2) as after:
        with pytest.raises(httpx.ConnectError):  # closed with the app
            await after.get(f"http://127.0.0.1:{port}/metrics")


# -- OpenAPI document and UIs ----------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc"])
async def test_docs_are_off_by_default_with_auth_on(tmp_path, mock, path) -> None:
    async with running(auth_cfg(tmp_path, mock)) as (_, client):
        assert (await client.get(path)).status_code == 404
    async with running(auth_cfg(tmp_path, mock, docs=True)) as (_, client):
        assert (await client.get(path)).status_code == 200


async def test_docs_follow_the_switch_with_auth_off(mock) -> None:
    async with gateway_client(mock_config(mock)) as (_, client):
        assert (await client.get("/openapi.json")).status_code == 200
    async with gateway_client(mock_config(mock, server={"docs": False})) as (app, client):
        assert (await client.get("/openapi.json")).status_code == 404
        assert (await client.get("/docs")).status_code == 404
        assert "/v1/chat/completions" in app.openapi()["paths"]  # still built for tooling in-process


# -- CORS -----------------------------------------------------------------------------------------
ORIGIN = "https://app.example.com"
PREFLIGHT = {"origin": ORIGIN, "access-control-request-method": "POST",
             "access-control-request-headers": "authorization, content-type"}


async def test_cors_is_off_by_default(mock) -> None:
    async with gateway_client(mock_config(mock)) as (_, client):
        r = await client.options("/v1/models", headers=PREFLIGHT)
        chat = await client.post("/v1/chat/completions", headers={"origin": ORIGIN},
                                 json={"model": "mock-chat", "messages": [{"role": "user", "content": "hi"}]})
    assert "access-control-allow-origin" not in r.headers
    assert "access-control-allow-origin" not in chat.headers


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/embeddings", "/v1/models", "/sluice/v1/keys"])
async def test_cors_preflight_is_answered_for_allowed_origins(mock, path) -> None:
    cfg = mock_config(mock, server={"cors": {"allow_origins": [ORIGIN]}})
    async with gateway_client(cfg) as (_, client):
        ok = await client.options(path, headers=PREFLIGHT)
        bad = await client.options(path, headers={**PREFLIGHT, "origin": "https://evil.example"})
    assert ok.status_code == 200, ok.text
    assert ok.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in ok.headers["access-control-allow-methods"]
    assert "authorization" in ok.headers["access-control-allow-headers"].lower()
    assert bad.status_code == 400 and "access-control-allow-origin" not in bad.headers


async def test_cors_headers_on_a_fast_path_answer(mock) -> None:
    cfg = mock_config(mock, server={"cors": {"allow_origins": [ORIGIN]}})
    async with gateway_client(cfg) as (_, client):
        r = await client.post("/v1/chat/completions", headers={"origin": ORIGIN},
                              json={"model": "mock-chat", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in r.headers["access-control-expose-headers"].lower()
