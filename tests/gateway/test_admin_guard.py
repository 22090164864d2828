"""The one admin guard (gateway/api/deps.py) on every admin route under /sluice/v1.

The routes are read from the app's route table: every route under /sluice/v1 except the RAG query
API (a model request, tested in tests/gateway/test_route_matrix.py) is an admin route and must be
guarded. `auth.master_key_env` names a custom variable here, and SLUICE_MASTER_KEY holds a decoy, so
a guard that reads SLUICE_MASTER_KEY directly (or is open when its variable is unset) fails.

For each admin route: no master key configured -> 403 master_key_not_configured (never open); no
token -> 401; a wrong token -> 401; a virtual key -> 403; the master key -> 2xx.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import SluiceApp, create_app
from gateway.config import Config
from prompts import LabelMove, PromptRegistry
from tests.gateway_fixtures import mock_config
from tests.prompts.helpers import write_prompt

ENV = "MY_ADMIN_KEY"
MASTER = "sk-admin-custom-env"
DECOY = "sk-decoy-in-sluice-master-key"  # SLUICE_MASTER_KEY: not the variable this config names
NOT_ADMIN = {"/sluice/v1/rag/{pipeline}/query"}  # a model request: keys, limits, budgets (route matrix)

# One request that succeeds with the master key, per admin route. A route served by the app but missing
# here fails test_every_admin_route_is_in_the_table: add it here and guard it with `require_admin`.
SAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/sluice/v1/keys"): {"json": {"name": "from-the-guard-test"}},
    ("GET", "/sluice/v1/keys"): {},
    ("GET", "/sluice/v1/keys/{key_id}"): {},
    ("POST", "/sluice/v1/keys/{key_id}/revoke"): {},
    ("POST", "/sluice/v1/keys/{key_id}/rotate"): {},
    ("POST", "/sluice/v1/teams"): {"json": {"name": "{unique}"}},
    ("GET", "/sluice/v1/teams"): {},
    ("GET", "/sluice/v1/teams/{team_id}"): {},
    ("PATCH", "/sluice/v1/teams/{team_id}"): {"json": {"budget_usd": 5}},
    ("GET", "/sluice/v1/audit"): {},
    ("GET", "/sluice/v1/spend/report"): {},
    ("GET", "/sluice/v1/cache/stats"): {},
    ("POST", "/sluice/v1/cache/purge"): {"json": {"all": True}},
    ("GET", "/sluice/v1/prompts"): {},
    ("GET", "/sluice/v1/prompts/{name}"): {},
    ("POST", "/sluice/v1/prompts/{name}/render"): {"json": {"version": 1, "variables": {"question": "q"}}},
    ("GET", "/sluice/v1/prompts/{name}/history"): {},
    ("POST", "/sluice/v1/prompts/{name}/promote"): {"json": {"version": 1, "force": True, "reason": "guard test"}},
    ("POST", "/sluice/v1/prompts/{name}/rollback"): {"json": {"force": True, "reason": "guard test"}},
}


def _config(tmp: Path, mock: Any, env: str = ENV) -> Config:
    registry = tmp / "prompts"
    write_prompt(registry, "support", 1, model="m")
    reg = PromptRegistry(registry)
    reg.record_move(LabelMove("support", "production", None, 1, "t", "", 1.0, "promote",
                              reg.get("support", 1).content_hash()))
    return mock_config(
        mock,
        models=[{"name": "m", "deployments": [{"provider": "mock", "model": "mock-model"}]}],
        auth={"enabled": True, "master_key_env": env},
        spend={"ledger": {"path": str(tmp / "spend.db"), "spool_dir": str(tmp / "spool")}},
        cache={"enabled": True, "semantic": {"enabled": False}},
        prompts={"registry_dir": str(registry)},
    )


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("SLUICE_MASTER_KEY", DECOY)
    monkeypatch.setenv("SLUICE_KEY_SECRET", "hmac-secret-for-the-guard-test")
    monkeypatch.setenv("SLUICE_ATTEST_KEY", "attestation-key-for-the-guard-test")  # label moves are signed
    monkeypatch.delenv(ENV, raising=False)
    return monkeypatch


@contextlib.asynccontextmanager
async def _running(config: Config) -> AsyncIterator[tuple[SluiceApp, httpx.AsyncClient]]:
    app = create_app(config)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=30) as client:
            yield app, client


def _route_table(app: SluiceApp) -> list[tuple[str, str]]:
    """(method, path) of every route the FastAPI app serves, included routers flattened."""
    try:  # FastAPI >= 0.16x keeps included routers as one entry each; this walks into them
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        items: list[Any] = list(app.api.routes)
    else:
        items = list(iter_route_contexts(app.api.routes))
    out = []
    for r in items:
        path, methods = getattr(r, "path", None), getattr(r, "methods", None)
        if isinstance(path, str) and methods:
            out += [(m, path) for m in sorted(set(methods) - {"HEAD", "OPTIONS"})]
    return out


def admin_routes(app: SluiceApp) -> list[tuple[str, str]]:
    """Every route under /sluice/v1 that is not a documented non-admin route."""
    routes = sorted({(m, p) for m, p in _route_table(app) if p.startswith("/sluice/v1/") and p not in NOT_ADMIN})
    # the walk must see what the OpenAPI document lists (else the tests below would pass on nothing)
    documented = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops
                  if p.startswith("/sluice/v1/") and p not in NOT_ADMIN}
    assert documented and documented <= set(routes), sorted(documented - set(routes))
    return routes


def _request(method: str, path: str, params: dict[str, str] | None = None) -> tuple[str, dict[str, Any]]:
    """A URL for `path` (path parameters filled) and the sample's request arguments."""
    kw = dict(SAMPLES.get((method, path), {"json": {}}))
    url = re.sub(r"\{(\w+)\}", lambda m: (params or {}).get(m.group(1), "x"), path)
    return url, kw


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def _call(client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str],
                params: dict[str, str] | None = None) -> httpx.Response:
    url, kw = _request(method, path, params)
    return await client.request(method, url, headers=headers, **kw)


async def test_every_admin_route_is_in_the_table(tmp_path: Path, mock: Any, env: pytest.MonkeyPatch) -> None:
    env.setenv(ENV, MASTER)
    async with _running(_config(tmp_path, mock)) as (app, _client):
        served = set(admin_routes(app))
    assert served - set(SAMPLES) == set(), "admin routes with no sample request: add them to SAMPLES"
    assert set(SAMPLES) - served == set(), "SAMPLES lists routes the app does not serve"
    families = {p.split("/")[3] for _, p in served}
    assert families == {"keys", "teams", "audit", "spend", "cache", "prompts"}


async def test_no_master_key_configured_refuses_every_admin_route(tmp_path: Path, mock: Any,
                                                                  env: pytest.MonkeyPatch) -> None:
    # MY_ADMIN_KEY is unset; SLUICE_MASTER_KEY (a decoy) is set and must not open anything.
    async with _running(_config(tmp_path, mock)) as (app, client):
        wrong = []
        for method, path in admin_routes(app):
            r = await _call(client, method, path, _bearer(DECOY))
            err = r.json().get("error") or {}
            if (r.status_code, err.get("type"), err.get("code")) != (403, "permission_error",
                                                                       "master_key_not_configured") \
                    or ENV not in err.get("message", ""):
                wrong.append(f"{method} {path}: {r.status_code} {r.text[:160]}")
    assert not wrong, "\n".join(wrong)


async def test_missing_wrong_and_virtual_keys_are_refused(tmp_path: Path, mock: Any, env: pytest.MonkeyPatch) -> None:
    env.setenv(ENV, MASTER)
    async with _running(_config(tmp_path, mock)) as (app, client):
        r = await client.post("/sluice/v1/keys", json={}, headers=_bearer(MASTER))
        assert r.status_code == 201, r.text
        virtual = r.json()["key"]  # a valid key of no team
        wrong = []
        for method, path in admin_routes(app):
            for label, headers, status, etype in [
                ("no token", {}, 401, "authentication_error"),
                ("basic auth", {"authorization": "Basic eDp5"}, 401, "authentication_error"),
                ("wrong token", _bearer(DECOY), 401, "authentication_error"),
                ("wrong x-api-key", {"x-api-key": "nope"}, 401, "authentication_error"),
                ("virtual key", _bearer(virtual), 403, "permission_error"),
            ]:
                r = await _call(client, method, path, headers)
                body = r.json()
                err = body.get("error") if isinstance(body, dict) else None
                if r.status_code != status or not isinstance(err, dict) or err.get("type") != etype \
                        or not err.get("message") or "code" not in err or "param" not in err:
                    wrong.append(f"{method} {path} ({label}): {r.status_code} {r.text[:160]}")
    assert not wrong, "\n".join(wrong)


async def test_the_master_key_is_served_on_every_admin_route(tmp_path: Path, mock: Any,
                                                             env: pytest.MonkeyPatch) -> None:
    env.setenv(ENV, MASTER)
    admin = _bearer(MASTER)
    unique = itertools.count()
    async with _running(_config(tmp_path, mock)) as (app, client):
        wrong = []
        for method, path in admin_routes(app):
            params = {"name": "support"}
            if "{key_id}" in path:
                params["key_id"] = (await client.post("/sluice/v1/keys", json={}, headers=admin)).json()["id"]
            if "{team_id}" in path:
                name = f"team-{next(unique)}"
                assert (await client.post("/sluice/v1/teams", json={"name": name}, headers=admin)).status_code == 201
                params["team_id"] = name
            url, kw = _request(method, path, params)
            if kw.get("json", {}).get("name") == "{unique}":
                kw = {"json": {"name": f"team-{next(unique)}"}}
            r = await client.request(method, url, headers=admin, **kw)
            if not 200 <= r.status_code < 300:
                wrong.append(f"{method} {path}: {r.status_code} {r.text[:160]}")
    assert not wrong, "\n".join(wrong)


async def test_x_api_key_header_carries_the_master_key_too(tmp_path: Path, mock: Any,
                                                           env: pytest.MonkeyPatch) -> None:
    env.setenv(ENV, MASTER)
    async with _running(_config(tmp_path, mock)) as (_app, client):
        assert (await client.get("/sluice/v1/cache/stats", headers={"x-api-key": MASTER})).status_code == 200


async def test_the_guard_follows_the_current_config_generation(tmp_path: Path, mock: Any,
                                                               env: pytest.MonkeyPatch) -> None:
    """A reload that renames auth.master_key_env applies at once (read at call time, not at build)."""
    env.setenv(ENV, MASTER)
    env.setenv("OTHER_ADMIN_KEY", "sk-the-other-admin-key")
    async with _running(_config(tmp_path, mock)) as (app, client):
        for path in ("/sluice/v1/cache/stats", "/sluice/v1/prompts", "/sluice/v1/teams", "/sluice/v1/spend/report"):
            assert (await client.get(path, headers=_bearer(MASTER))).status_code == 200, path
        assert await app.gateway.reload(_config(tmp_path / "next", mock, env="OTHER_ADMIN_KEY"))
        for path in ("/sluice/v1/cache/stats", "/sluice/v1/prompts", "/sluice/v1/teams", "/sluice/v1/spend/report"):
            r = await client.get(path, headers=_bearer(MASTER))
            assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_master_key", (path, r.text)
            assert (await client.get(path, headers=_bearer("sk-the-other-admin-key"))).status_code == 200, path
        env.delenv("OTHER_ADMIN_KEY")
        r = await client.get("/sluice/v1/cache/stats", headers=_bearer("sk-the-other-admin-key"))
        assert r.status_code == 403 and "OTHER_ADMIN_KEY" in r.json()["error"]["message"]


async def test_spend_report_team_keys_still_see_their_team(tmp_path: Path, mock: Any,
                                                           env: pytest.MonkeyPatch) -> None:
    """The report's other principal (a team's key) is unchanged, with or without a master key."""
    env.setenv(ENV, MASTER)
    async with _running(_config(tmp_path, mock)) as (_app, client):
        admin = _bearer(MASTER)
        team = (await client.post("/sluice/v1/teams", json={"name": "fin"}, headers=admin)).json()
        key = (await client.post("/sluice/v1/keys", json={"team": "fin"}, headers=admin)).json()["key"]
        env.delenv(ENV)  # the admin view is refused now; a team's view is not an admin one
        r = await client.get("/sluice/v1/spend/report", headers=_bearer(key))
        assert r.status_code == 200 and r.json()["team"] == team["id"]
        r = await client.get("/sluice/v1/spend/report", headers=_bearer("sk-sluice-not-a-key"))
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


def test_the_master_key_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    from gateway.api import deps

    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    monkeypatch.setenv(ENV, MASTER)

    class _Auth:
        master_key_env = ENV

    class _Cfg:
        auth = _Auth()

    class _Gw:
        config = _Cfg()

    deps.check_master(_Gw(), {"Authorization": f"Bearer {MASTER}"})
    assert calls == [(MASTER.encode(), MASTER.encode())]


async def test_with_auth_off_the_admin_routes_still_need_the_master_key(tmp_path: Path, mock: Any,
                                                                      env: pytest.MonkeyPatch) -> None:
    """The embedded demo runs with auth off: the spend report, prompts and cache admin are not open
    because of that (no master key configured -> 403; with one, only its holder gets in)."""
    cfg = _config(tmp_path, mock)
    cfg.auth.enabled = False
    async with _running(cfg) as (app, client):
        routes = admin_routes(app)
        assert ("GET", "/sluice/v1/spend/report") in routes
        for method, path in routes:
            r = await _call(client, method, path, {})
            assert r.status_code == 403 and r.json()["error"]["code"] == "master_key_not_configured", (path, r.text)
        env.setenv(ENV, MASTER)
        r = await client.get("/sluice/v1/spend/report")
        assert r.status_code == 401
        assert (await client.get("/sluice/v1/spend/report", headers=_bearer(MASTER))).status_code == 200
