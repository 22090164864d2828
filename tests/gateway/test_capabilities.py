"""Capabilities as units (gateway/capability.py, gateway/composition.py): stages run in their
declared slots; admin routers are mounted once and answer from the live generation, so a reload
that turns a capability on is served at once; per-generation parts (the prompt registry RAG and
the prompts API read) are rebuilt on reload; a reload that changes a start-up-only setting says
which one, per capability."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from gateway.capability import Build, Capability, Slot
from gateway.composition import CAPABILITIES, CORE_RESTART_ONLY, RESTART_ONLY
from gateway.config import Config
from gateway.hooks import Hook
from gateway.mock_upstream import MockUpstream
from tests.gateway_fixtures import _mock_session, gateway_client, mock, mock_config  # noqa: F401

MASTER = "sk-master-capabilities"
ADMIN = {"authorization": f"Bearer {MASTER}"}


@pytest.fixture(autouse=True)
def _master(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_MASTER_KEY", MASTER)
    monkeypatch.setenv("SLUICE_KEY_SECRET", "hmac-secret-capabilities")


def _write_prompt(registry: Path, text: str) -> None:
    (registry / "greet").mkdir(parents=True, exist_ok=True)
    (registry / "greet" / "v1.yaml").write_text(
        f"name: greet\nversion: 1\nmodel: mock-chat\nmessages:\n  - {{role: user, content: '{text}'}}\n")
    from prompts import LabelMove, PromptRegistry

    reg = PromptRegistry(registry)  # released: the gateway serves snapshots only
    reg.record_move(LabelMove("greet", "production", None, 1, "test", "", 1.0, "promote",
                              reg.get("greet", 1).content_hash()))


def _cfg(mock: MockUpstream, tmp: Path, **sections: Any) -> Config:  # noqa: F811
    sections.setdefault("spend", {"enabled": False})
    return mock_config(mock, prompts={"registry_dir": str(tmp / "prompts-a")}, **sections)


def test_stages_run_in_their_slot_whatever_the_build_order() -> None:
    class Named(Hook):
        def __init__(self, name: str) -> None:
            self.name = name

    b = Build(config=None, gateway=None, router=None)  # type: ignore[arg-type]
    for slot in (Slot.LEDGER, Slot.CACHE, Slot.AUTH, Slot.GUARDRAILS, Slot.PROMPTS):
        b.add(slot, Named(slot.name))
    assert [h.name for h in b.ordered_hooks()] == ["AUTH", "PROMPTS", "GUARDRAILS", "CACHE", "LEDGER"]


def test_every_capability_is_a_unit_with_its_restart_only_settings() -> None:
    assert all(isinstance(c, Capability) for c in CAPABILITIES)
    names = [c.name for c in CAPABILITIES]
    assert len(set(names)) == len(names) == 7
    assert set(RESTART_ONLY) == set(CORE_RESTART_ONLY) | {p for c in CAPABILITIES for p in c.restart_only}
    for path in RESTART_ONLY:  # each names a real config setting
        node: Any = Config()
        for part in path.split("."):
            node = getattr(node, part)


async def test_a_reload_that_turns_spend_on_serves_its_report_at_once(mock: MockUpstream, tmp_path: Path) -> None:  # noqa: F811
    off = _cfg(mock, tmp_path)
    async with gateway_client(off) as (app, client):
        r = await client.get("/sluice/v1/spend/report", headers=ADMIN)
        assert r.status_code == 404 and r.json()["error"]["code"] == "capability_disabled"
        on = _cfg(mock, tmp_path, spend={"ledger": {"path": str(tmp_path / "spend.db"),
                                                    "spool_dir": str(tmp_path / "spool")}})
        assert await app.gateway.reload(on) is True
        assert (await client.post("/v1/chat/completions", json={
            "model": "mock-chat", "messages": [{"role": "user", "content": "hi"}]})).status_code == 200
        r = await client.get("/sluice/v1/spend/report?format=json&by=model", headers=ADMIN)
        assert r.status_code == 200, r.text


async def test_a_reload_rebuilds_the_prompt_registry_for_requests_rag_and_the_api(
        mock: MockUpstream, tmp_path: Path) -> None:  # noqa: F811
    _write_prompt(tmp_path / "prompts-a", "from registry A")
    _write_prompt(tmp_path / "prompts-b", "from registry B")
    async with gateway_client(_cfg(mock, tmp_path)) as (app, client):
        r = await client.get("/sluice/v1/prompts/greet", headers=ADMIN)
        assert "from registry A" in r.text
        moved = _cfg(mock, tmp_path)
        moved.prompts.registry_dir = str(tmp_path / "prompts-b")
        assert await app.gateway.reload(moved) is True
        r = await client.get("/sluice/v1/prompts/greet", headers=ADMIN)
        assert r.status_code == 200 and "from registry B" in r.text  # the API follows the live generation
        assert app.gateway.generation.prompt_registry is not None
        r = await client.post("/v1/chat/completions", json={"model": "prompt:greet@1"})
        assert r.status_code == 200 and "registry B" in str(mock.last_body["messages"])
        off = _cfg(mock, tmp_path)
        off.prompts.enabled = False
        assert await app.gateway.reload(off) is True
        r = await client.get("/sluice/v1/prompts/greet", headers=ADMIN)
        assert r.status_code == 404 and r.json()["error"]["code"] == "capability_disabled"


@pytest.mark.parametrize("change, names", [
    (lambda c: setattr(c.spend.ledger, "batch_size", 7), "spend.ledger"),
    (lambda c: setattr(c.auth.counters, "key_prefix", "other:"), "auth.counters"),
    (lambda c: setattr(c.telemetry, "service_name", "renamed"), "telemetry.service_name"),
    (lambda c: setattr(c.server, "port", 4999), "server"),
])
async def test_a_reload_names_the_start_up_setting_it_cannot_change(
        mock: MockUpstream, tmp_path: Path, caplog: pytest.LogCaptureFixture, change: Any, names: str) -> None:  # noqa: F811
    async with gateway_client(_cfg(mock, tmp_path)) as (app, _client):
        new = _cfg(mock, tmp_path)
        change(new)
        with caplog.at_level(logging.WARNING, logger="sluice.runtime"):
            assert await app.gateway.reload(new) is True
    assert f"{names} changed; those settings apply at the next restart" in caplog.text


async def test_a_reload_that_renames_the_master_key_variable_applies_to_model_requests(
        mock: MockUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """The master key on /v1 routes (admin: no limits) is the one the live config names, as on
    the admin routes (gateway/api/deps.py)."""
    monkeypatch.setenv("OTHER_MASTER", "sk-other-master")
    spend = {"ledger": {"path": str(tmp_path / "spend.db"), "spool_dir": str(tmp_path / "spool")}}
    chat = {"model": "mock-chat", "messages": [{"role": "user", "content": "hi"}]}
    async with gateway_client(_cfg(mock, tmp_path, auth={"enabled": True}, spend=spend)) as (app, client):
        assert (await client.post("/v1/chat/completions", json=chat, headers=ADMIN)).status_code == 200
        renamed = _cfg(mock, tmp_path, auth={"enabled": True, "master_key_env": "OTHER_MASTER"}, spend=spend)
        assert await app.gateway.reload(renamed) is True
        r = await client.post("/v1/chat/completions", json=chat, headers=ADMIN)
        assert r.status_code == 401, r.text  # the old variable's value is no longer the master key
        ok = await client.post("/v1/chat/completions", json=chat, headers={"authorization": "Bearer sk-other-master"})
        assert ok.status_code == 200


async def test_with_auth_on_and_the_ledger_off_budgets_are_still_settled(
        mock: MockUpstream, tmp_path: Path) -> None:  # noqa: F811
    """Auth reserves an upper bound per request; pricing must replace it with the real cost even
    when no ledger rows are written, or the reservations pile up and refuse a key that has spent
    a fraction of its budget (reproduced: $0.000463 held after 3 requests that cost $0.0000324)."""
    models = [{"name": "mock-chat", "deployments": [{"provider": "openai", "model": "gpt-4o-mini",
                                                     "api_base": mock.base_url,
                                                     "price": {"input_per_mtok": 1.0, "output_per_mtok": 1.0}}]}]
    cfg = mock_config(mock, models=models, auth={"enabled": True},
                      spend={"enabled": False, "ledger": {"path": str(tmp_path / "spend.db"),
                                                          "spool_dir": str(tmp_path / "spool")}})
    chat = {"model": "mock-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50}
    async with gateway_client(cfg) as (_app, client):
        r = await client.post("/sluice/v1/keys", json={"budget_usd": 0.0004}, headers=ADMIN)
        key = {"authorization": f"Bearer {r.json()['key']}"}
        codes = [(await client.post("/v1/chat/completions", json=chat, headers=key)).status_code for _ in range(10)]
    # ~$0.000025 each against $0.0004; each reserves its worst case, $0.000063, up front (10 unsettled: $0.00063)
    assert codes == [200] * 10


async def test_spend_turned_off_and_on_again_by_reload_keeps_writing_the_ledger(
        mock: MockUpstream, tmp_path: Path) -> None:  # noqa: F811
    """The last generation using the spend service closes it; a later reload that turns spend on
    again must get an open one (the closed one refused every row: 'record() before open()')."""
    import asyncio

    import sqlalchemy as sa

    from gateway.spend.schema import ledger

    spend = {"ledger": {"path": str(tmp_path / "spend.db"), "spool_dir": str(tmp_path / "spool")}}
    on = _cfg(mock, tmp_path, spend=spend, server={"drain_timeout_s": 0})
    off = _cfg(mock, tmp_path, server={"drain_timeout_s": 0})
    chat = {"model": "mock-chat", "messages": [{"role": "user", "content": "hi"}]}
    async with gateway_client(on) as (app, client):
        first = app.gateway.services.spend
        assert first is not None and first.started
        assert await app.gateway.reload(off) is True
        for _ in range(200):  # the spend generation retires (drain 0 s) and closes the service
            await asyncio.sleep(0.02)
            if not first.started:
                break
        assert not first.started
        assert await app.gateway.reload(on) is True
        r = await client.post("/v1/chat/completions", json=chat, headers={"x-request-id": "after-reload"})
        assert r.status_code == 200
        svc = app.gateway.services.spend
        assert svc is not None and svc.started
        await svc.writer.flush()
        with svc.engine.connect() as c:
            ids = [row.request_id for row in c.execute(sa.select(ledger.c.request_id))]
    assert "after-reload" in ids


async def test_a_reload_that_fails_unexpectedly_keeps_serving_and_watching(
        mock: MockUpstream, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    """Only config errors used to be caught: any other exception from a build escaped reload()
    and ended the config-file watch (and the SIGHUP task) for good."""
    async with gateway_client(_cfg(mock, tmp_path)) as (app, _client):
        gen = app.gateway.generation
        real = app.gateway._build_generation

        async def broken(gateway: Any, config: Config) -> Any:
            raise RuntimeError("a bug while building")

        app.gateway._build_generation = broken
        with caplog.at_level(logging.ERROR, logger="sluice.runtime"):
            assert await app.gateway.reload(_cfg(mock, tmp_path)) is False
        assert app.gateway.generation is gen and "still serving the previous config" in caplog.text
        app.gateway._build_generation = real
        assert await app.gateway.reload(_cfg(mock, tmp_path)) is True
