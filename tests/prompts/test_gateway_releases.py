"""Issue 16 and 17 regressions through the in-process gateway: what a prompt request serves, how
forced releases show, crafted names, a rewritten journal, and promote/rollback over the admin API."""

from __future__ import annotations

import os

import pytest

from gateway.context import RequestContext
from gateway.integrations.prompts import PromptHook
from prompts import Attestation, PromptRegistry, promote, record_attestation
from prompts.config import PromptsConfig
from tests.gateway_fixtures import gateway_client, mock_config
from tests.prompts.helpers import binding, guard_suite, write_prompt

MASTER = {"authorization": "Bearer sk-master"}


@pytest.fixture
def registry_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SLUICE_MASTER_KEY", "sk-master")
    suite = guard_suite(tmp_path)
    for v in (1, 2):
        write_prompt(tmp_path, "support", v, system=f"Policy v{v}", model="mock-chat", suite=suite)
    return tmp_path


def attest(reg, version, passed=True):
    return record_attestation(reg, Attestation(
        prompt="support", version=version, content_hash=reg.get("support", version).content_hash(), suite="s",
        **binding(reg), passed=passed, scores={"pass_rate": 1.0}, time=1.0))


def overwrite_in_place(path, data):
    with open(path, "r+b") as f:
        f.write(data)
        f.truncate()


def config(mock, registry_dir, telemetry=None, **prompts):
    extra = {"telemetry": telemetry} if telemetry else {}
    return mock_config(mock, prompts={"registry_dir": str(registry_dir), **prompts}, **extra)


def ask(ref="production"):
    return {"model": f"prompt:support@{ref}", "variables": {"question": "refunds?"}}


async def test_an_edit_after_promotion_does_not_reach_production(mock, registry_dir):
    reg = PromptRegistry(registry_dir)
    attest(reg, 1)
    promote(reg, "support", 1, "production", actor="ann")
    path = registry_dir / "support" / "v1.yaml"
    path.write_text(path.read_text().replace("Policy v1", "Policy v1, edited behind the gate"))
    os.utime(path, ns=(9, 9))
    async with gateway_client(config(mock, registry_dir)) as (_app, client):
        r = await client.post("/v1/chat/completions", json=ask())
    assert r.status_code == 200, r.text
    assert mock.last_body["messages"][0]["content"] == "Policy v1" and r.headers["x-sluice-prompt"] == "support@1"


async def test_a_prompt_with_no_release_is_404_not_released(mock, registry_dir):
    async with gateway_client(config(mock, registry_dir)) as (_app, client):
        bare = await client.post("/v1/chat/completions", json={"prompt": {"name": "support", "variables": {"question": "x"}}})
        pinned = await client.post("/v1/chat/completions", json=ask(2))
    for r in (bare, pinned):
        assert r.status_code == 404 and r.json()["error"]["code"] == "prompt_not_released", r.text
    assert mock.requests_seen == 0
    async with gateway_client(config(mock, registry_dir, serve_unreleased=True)) as (_app, client):
        dev = await client.post("/v1/chat/completions", json={"prompt": {"name": "support", "variables": {"question": "x"}}})
    assert dev.status_code == 200 and dev.headers["x-sluice-prompt"] == "support@2; unreleased"


async def test_version_pins_can_be_turned_off(mock, registry_dir):
    reg = PromptRegistry(registry_dir)
    attest(reg, 1)
    promote(reg, "support", 1, "production", actor="ann")
    async with gateway_client(config(mock, registry_dir, version_pins=False)) as (_app, client):
        pinned = await client.post("/v1/chat/completions", json=ask(1))
        labelled = await client.post("/v1/chat/completions", json=ask())
    assert pinned.status_code == 400 and pinned.json()["error"]["code"] == "prompt_pin_disabled"
    assert labelled.status_code == 200


async def test_a_forced_release_is_marked_in_the_header_and_the_context(mock, registry_dir):
    reg = PromptRegistry(registry_dir)
    promote(reg, "support", 2, "production", actor="ann", force=True, reason="incident 42")
    async with gateway_client(config(mock, registry_dir)) as (_app, client):
        r = await client.post("/v1/chat/completions", json=ask())
    assert r.status_code == 200 and r.headers["x-sluice-prompt"] == "support@2; forced"
    ctx = RequestContext(request_id="r1", route="chat.completions", body=ask(), headers={}, started_mono=0.0,
                         started_wall=0.0)
    await PromptHook(PromptRegistry(registry_dir), PromptsConfig()).before(ctx)
    assert ctx.prompt_forced is True and ctx.prompt_hash == reg.get("support", 2).content_hash()


async def test_a_journal_overwritten_in_place_never_makes_requests_500(mock, registry_dir, caplog):
    reg = PromptRegistry(registry_dir)
    attest(reg, 1)
    attest(reg, 2)
    promote(reg, "support", 1, "production", actor="ann")
    journal = registry_dir / ".sluice" / "labels.jsonl"
    backup = journal.read_bytes()
    promote(reg, "support", 2, "production", actor="ann")
    async with gateway_client(config(mock, registry_dir, telemetry={"metrics": True})) as (_app, client):
        assert (await client.post("/v1/chat/completions", json=ask())).headers["x-sluice-prompt"] == "support@2"
        assert "sluice_prompt_journal_unverified 0.0" in (await client.get("/metrics", headers=MASTER)).text
        overwrite_in_place(journal, backup)  # `cp backup labels.jsonl`: same inode
        caplog.set_level("ERROR", logger="sluice.prompts")
        for _ in range(3):
            r = await client.post("/v1/chat/completions", json=ask())
            assert r.status_code == 200 and r.headers["x-sluice-prompt"] == "support@2", r.text
        listing = (await client.get("/sluice/v1/prompts", headers=MASTER)).json()
        assert "sluice_prompt_journal_unverified 1.0" in (await client.get("/metrics", headers=MASTER)).text
    assert listing["integrity"]["verified"] is False and "rewritten" in listing["integrity"]["problems"][0]
    assert [r for r in caplog.records if "does not verify" in r.getMessage()]  # logged once, not per request
    assert len([r for r in caplog.records if "does not verify" in r.getMessage()]) == 1


@pytest.mark.parametrize("model", ["prompt:summ@²", "prompt:" + "s" * 300 + "@1", "prompt:ABS@1",
                                   "prompt:../outside-REL@1", "prompt:support@" + "9" * 40, "prompt:@1"])
async def test_crafted_prompt_names_are_4xx_without_paths(mock, registry_dir, model):
    # a version file outside the registry, named by an absolute path and by a ../ name
    outside = registry_dir.parent / f"outside-{registry_dir.name}"
    write_prompt(outside.parent, outside.name, 1)
    model = model.replace("ABS", str(outside)).replace("REL", registry_dir.name)
    async with gateway_client(config(mock, registry_dir)) as (_app, client):
        r = await client.post("/v1/chat/completions", json={"model": model, "variables": {"question": "x"}})
    assert 400 <= r.status_code < 500, r.text
    err = r.json()["error"]
    assert set(err) >= {"message", "type", "param", "code"} and err["type"] == "invalid_request_error"
    assert str(registry_dir.parent) not in r.text and len(err["message"]) < 400


async def test_admin_show_with_a_300_character_name_is_400(mock, registry_dir):
    async with gateway_client(config(mock, registry_dir)) as (_app, client):
        r = await client.get("/sluice/v1/prompts/" + "p" * 300, headers=MASTER)
        h = await client.get("/sluice/v1/prompts/" + "p" * 300 + "/history", headers=MASTER)
    for resp in (r, h):
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "prompt_name_invalid", resp.text


async def test_promote_and_rollback_through_the_admin_api_run_the_gate(mock, registry_dir):
    reg = PromptRegistry(registry_dir)
    async with gateway_client(config(mock, registry_dir)) as (_app, client):
        refused = await client.post("/sluice/v1/prompts/support/promote", headers=MASTER, json={"version": 1})
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "promotion_refused"
        attest(reg, 1)
        ok = await client.post("/sluice/v1/prompts/support/promote", headers=MASTER, json={"version": 1})
        assert ok.status_code == 200, ok.text
        assert ok.json()["actor"] == "admin:master-key" and ok.json()["actor_claimed"] is False
        forced = await client.post("/sluice/v1/prompts/support/promote", headers=MASTER,
                                   json={"version": 2, "force": True, "reason": "incident"})
        assert forced.json()["forced"] is True
        no_reason = await client.post("/sluice/v1/prompts/support/promote", headers=MASTER,
                                      json={"version": 2, "force": True})
        assert no_reason.status_code == 400
        back = await client.post("/sluice/v1/prompts/support/rollback", headers=MASTER, json={"label": "production"})
        assert back.status_code == 200 and back.json()["to"] == 1 and back.json()["forced"] is False
        unauth = await client.post("/sluice/v1/prompts/support/promote", json={"version": 1})
        assert unauth.status_code == 401
        served = await client.post("/v1/chat/completions", json=ask())
    assert served.headers["x-sluice-prompt"] == "support@1"
