"""Crafted input answers 4xx with an OpenAI-shaped body, never a 500 (issue 17's red-team cases)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from gateway.app import create_app
from gateway.mock_upstream import MockUpstream
from gateway.spend.schema import keys
from tests.spend.gw import gateway_config

MASTER = "master-key-for-tests"
ADMIN = {"authorization": f"Bearer {MASTER}"}
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def upstream():
    with MockUpstream() as m:
        yield m


@pytest.fixture(autouse=True)
def _secrets(monkeypatch):
    monkeypatch.setenv("SLUICE_MASTER_KEY", MASTER)
    monkeypatch.setenv("SLUICE_KEY_SECRET", "hmac-secret-for-tests")


@contextlib.asynccontextmanager
async def _gateway(tmp_path, upstream) -> AsyncIterator[tuple[Any, httpx.AsyncClient, dict[str, str]]]:
    """Auth on; a client that sees a 500 as a response (as a real client would), not as a raised bug."""
    app = create_app(gateway_config(tmp_path, upstream.base_url, auth={"enabled": True}))
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://gw", timeout=30) as client:
            r = await client.post("/sluice/v1/keys", json={}, headers=ADMIN)
            assert r.status_code == 201, r.text
            yield app, client, {"authorization": f"Bearer {r.json()['key']}"}


def _openai_error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert set(err) >= {"message", "type", "param", "code"} and err["message"]
    return err  # type: ignore[no-any-return]


@pytest.mark.parametrize("role", [{"a": 1}, {}, [1], [], ["user"]])
async def test_a_role_that_is_an_object_or_a_list_is_a_400(tmp_path, upstream, role) -> None:
    async with _gateway(tmp_path, upstream) as (_, client, key):
        r = await client.post("/v1/chat/completions", headers=key,
                              json={"model": "gpt-4o", "messages": [{"role": role, "content": "x"}]})
    err = _openai_error(r, 400)
    assert err["param"] == "messages[0].role" and err["code"] == "invalid_value"


@pytest.mark.parametrize("route", ["/v1/chat/completions", "/v1/embeddings"])
async def test_a_body_nested_300_deep_is_a_400(tmp_path, upstream, route) -> None:
    nested = "[" * 300 + "]" * 300
    base = '"model":"gpt-4o","messages":[{"role":"user","content":"x"}]' if "chat" in route else \
        '"model":"gpt-4o","input":"x"'
    async with _gateway(tmp_path, upstream) as (_, client, key):
        r = await client.post(route, content="{" + base + ',"extra":' + nested + "}",
                              headers={**key, "content-type": "application/json"})
    assert _openai_error(r, 400)["code"] == "body_too_deep"


async def test_a_deep_but_reasonable_body_still_passes(tmp_path, upstream) -> None:
    nested = "[" * 60 + "]" * 60  # deep JSON schemas in tools stay well within the limit
    async with _gateway(tmp_path, upstream) as (_, client, key):
        r = await client.post("/v1/chat/completions", content='{"model":"gpt-4o","messages":[{"role":"user",'
                              '"content":"x"}],"extra":' + nested + "}",
                              headers={**key, "content-type": "application/json"})
    assert r.status_code == 200, r.text


async def test_a_megabyte_model_name_is_refused_without_echoing_it(tmp_path, upstream) -> None:
    async with _gateway(tmp_path, upstream) as (_, client, key):
        r = await client.post("/v1/chat/completions", headers=key,
                              json={"model": "m" * 1_000_000, "messages": [{"role": "user", "content": "x"}]})
    err = _openai_error(r, 400)
    assert err["param"] == "model" and len(r.content) < 1000


async def test_patch_team_with_an_empty_body_changes_nothing(tmp_path, upstream) -> None:
    async with _gateway(tmp_path, upstream) as (_, client, _key):
        team = (await client.post("/sluice/v1/teams", json={"name": "ml", "budget_usd": 5}, headers=ADMIN)).json()
        r = await client.patch(f"/sluice/v1/teams/{team['id']}", json={}, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json() == team
        r = await client.patch("/sluice/v1/teams/team_nope", json={}, headers=ADMIN)
        _openai_error(r, 404)


@pytest.mark.parametrize("body", [
    {"expires_in_days": 1.7e308},
    {"expires_in_days": 10**6},
    {"rpm": 10**30},
    {"tpm": 2**63},
    {"budget_usd": 1e300},
    {"name": "n" * 10_000},
    {"models": ["m" * 10_000]},
])
async def test_out_of_bounds_key_fields_are_a_400_and_create_no_key(tmp_path, upstream, body) -> None:
    async with _gateway(tmp_path, upstream) as (app, client, _key):
        r = await client.post("/sluice/v1/keys", json=body, headers=ADMIN)
        _openai_error(r, 400)
        engine = app.gateway.services.spend.store.engine
        with engine.connect() as conn:
            n = conn.execute(sa.select(sa.func.count()).select_from(keys)).scalar()
    assert n == 1  # only the fixture's key: the refused request wrote nothing


@pytest.mark.parametrize("raw", ['{"budget_usd": Infinity}', '{"budget_usd": NaN}', '{"expires_in_days": Infinity}'])
async def test_non_finite_numbers_are_a_400_and_create_no_key(tmp_path, upstream, raw) -> None:
    async with _gateway(tmp_path, upstream) as (app, client, _key):
        r = await client.post("/sluice/v1/keys", content=raw, headers={**ADMIN, "content-type": "application/json"})
        _openai_error(r, 400)
        with app.gateway.services.spend.store.engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(keys)).scalar() == 1


async def test_a_key_within_bounds_comes_back_with_its_plaintext(tmp_path, upstream) -> None:
    async with _gateway(tmp_path, upstream) as (_, client, _key):
        r = await client.post("/sluice/v1/keys", json={"expires_in_days": 36_500, "rpm": 2**31 - 1}, headers=ADMIN)
    assert r.status_code == 201 and r.json()["key"].startswith("sk-sluice-")


def test_the_keystore_refuses_values_it_could_not_return() -> None:
    """Key creation is one unit: the store checks what it will insert before the insert, so no
    caller (admin API, CLI) can create a row whose plaintext is then lost to a failing response."""
    from gateway.clock import FakeClock
    from gateway.spend.auth import KeyHasher
    from gateway.spend.db import make_engine, migrate
    from gateway.spend.keystore import KeyStore, StoreError

    engine = make_engine("sqlite://")
    migrate(engine)
    store = KeyStore(engine, KeyHasher("s"), clock=FakeClock())
    for kw in ({"expires_at": float("inf")}, {"budget_usd": float("nan")}, {"rpm": 2**64}, {"tpm": 0}):
        with pytest.raises(StoreError):
            store.create_key(**kw)
    assert store.list_keys() == []
    engine.dispose()


async def test_an_admin_route_bug_is_an_openai_shaped_json_500(tmp_path, upstream, monkeypatch) -> None:
    from gateway.spend.keystore import KeyStore

    def broken(self, *a, **kw):
        raise RuntimeError("secret internals")

    async with _gateway(tmp_path, upstream) as (_, client, _key):
        monkeypatch.setattr(KeyStore, "list_teams", broken)
        r = await client.get("/sluice/v1/teams", headers=ADMIN)
    err = _openai_error(r, 500)
    assert err["type"] == "api_error" and "secret internals" not in r.text
