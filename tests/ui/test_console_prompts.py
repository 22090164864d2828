"""/ui/prompts over a tmp registry: listing, detail, diff, and promote/rollback through the same
gate as the admin API (same refusal message, label unmoved; accepted moves seen through the API)."""

import re
from pathlib import Path

import pytest

from gateway.mock_upstream import MockUpstream
from prompts import Attestation, PromptRegistry, promote, record_attestation
from prompts import rollout as rollouts
from tests.prompts.conftest import TEST_ATTEST_KEY
from tests.prompts.helpers import binding, guard_suite, write_prompt
from tests.spend.gw import gateway_config, running

MASTER = "console-prompts-master"
ADMIN = {"authorization": f"Bearer {MASTER}"}
FORM = {"content-type": "application/x-www-form-urlencoded"}


def seed(root: Path) -> PromptRegistry:
    suite = guard_suite(root)
    write_prompt(root, "support", 1, system="Policy v1\nkeep it short", model="gpt-4o", suite=suite)
    write_prompt(root, "support", 2, system="Policy v2 <b>bold</b>\nkeep it short", model="gpt-4o", suite=suite)
    write_prompt(root, "other", 1, model="gpt-4o", suite=suite)
    reg = PromptRegistry(root)
    attest(reg, 1, passed=True)
    promote(reg, "support", 1, "production", actor="ann", reason="first release")
    return reg


def attest(reg: PromptRegistry, version: int, passed: bool) -> Attestation:
    return record_attestation(reg, Attestation(
        prompt="support", version=version, content_hash=reg.get("support", version).content_hash(), suite="guard",
        **binding(reg), passed=passed, scores={"pass_rate": 1.0 if passed else 0.25}, time=1_764_000_000.0 + version))


def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("SLUICE_MASTER_KEY", MASTER)
    monkeypatch.setenv("SLUICE_ATTEST_KEY", TEST_ATTEST_KEY)
    root = tmp_path / "registry"
    root.mkdir()
    reg = seed(root)
    m = MockUpstream().__enter__()
    config = gateway_config(tmp_path, m.base_url, auth={"enabled": True}, prompts={"registry_dir": str(root)})
    yield m, config, reg
    m.__exit__(None, None, None)


async def sign_in(client, key):
    r = await client.post("/ui/login", content=f"key={key}", headers=FORM)
    assert r.status_code == 303, r.text
    return csrf((await client.get("/ui/prompts")).text)


async def api_label(client, name="support", label="production"):
    return (await client.get(f"/sluice/v1/prompts/{name}", headers=ADMIN)).json()["labels"].get(label)


async def test_listing_and_detail_show_versions_labels_history_and_attestations(env):
    _m, config, reg = env
    async with running(config) as (_app, client):
        await sign_in(client, MASTER)
        page = await client.get("/ui/prompts")
        assert page.status_code == 200
        row = re.search(r'<tr id="prompt-support">(.*?)</tr>', page.text, re.DOTALL).group(1)
        assert "production → v1" in row and '<td class="num">2</td>' in row
        other = re.search(r'<tr id="prompt-other">(.*?)</tr>', page.text, re.DOTALL).group(1)
        assert '<td class="num">1</td>' in other and "<em>none</em>" in other
        d = await client.get("/ui/prompts/support")
        assert d.status_code == 200
        assert d.text.index('id="version-2"') < d.text.index('id="version-1"')  # newest first
        assert reg.get("support", 1).content_hash() in d.text and reg.get("support", 2).content_hash() in d.text
        assert re.search(r'<tr id="label-production"><td>production</td><td data-version="1">', d.text)
        moves = re.search(r'<table id="moves">(.*?)</table>', d.text, re.DOTALL).group(1)
        att_id = reg.current_moves("support")["production"].attestation_id
        assert "ann" in moves and "first release" in moves and att_id and att_id in moves
        atts = re.search(r'<table id="attestations">(.*?)</table>', d.text, re.DOTALL).group(1)
        assert "guard" in atts and "pass_rate 1" in atts and 'class="pass"' in atts and "replay" not in atts
        assert 'id="promote-form"' in d.text and 'id="rollout-production"' not in d.text


async def test_active_rollout_is_shown(env):
    _m, config, reg = env
    attest(reg, 2, passed=True)
    rollouts.start(reg, "support", 2, percent=10, actor="bea")
    async with running(config) as (_app, client):
        await sign_in(client, MASTER)
        row = re.search(r'<tr id="prompt-support">(.*?)</tr>', (await client.get("/ui/prompts")).text, re.DOTALL).group(1)
        assert "production: v2 at 10% over v1" in row
        d = (await client.get("/ui/prompts/support")).text
        box = re.search(r'<div class="rollout" id="rollout-production">(.*?)</div>', d, re.DOTALL).group(1)
        assert "Candidate v2 at 10% over baseline v1" in box and "bea" in box


async def test_diff_shows_added_and_removed_lines_escaped(env):
    _m, config, _reg = env
    async with running(config) as (_app, client):
        await sign_in(client, MASTER)
        d = await client.get("/ui/prompts/support?a=1&b=2")
        assert d.status_code == 200
        diff = re.search(r'<pre class="diff" id="diff">(.*?)</pre>', d.text, re.DOTALL).group(1)
        removed = re.findall(r'<span class="del">(.*?)</span>', diff)
        added = re.findall(r'<span class="add">(.*?)</span>', diff)
        assert any("Policy v1" in line for line in removed) and not any("Policy v2" in line for line in removed)
        assert any("Policy v2 &lt;b&gt;bold&lt;/b&gt;" in line for line in added)
        assert "<b>" not in diff
        assert not any("keep it short" in line for line in added + removed)  # unchanged line is context
        same = await client.get("/ui/prompts/support?a=2&b=2")
        assert same.status_code == 200 and "No difference." in same.text


@pytest.mark.parametrize("query", ["a=x&b=1", "a=1&b=0", "a=1&b=99", "a=1", "a=1&b=" + "9" * 40, "a=-1&b=2"])
async def test_bad_versions_are_400(env, query):
    _m, config, _reg = env
    async with running(config) as (_app, client):
        await sign_in(client, MASTER)
        r = await client.get(f"/ui/prompts/support?{query}")
        assert r.status_code == 400, r.text
        assert 'id="prompt-error"' in r.text


async def test_unknown_or_invalid_prompt_is_4xx_page(env):
    _m, config, _reg = env
    async with running(config) as (_app, client):
        csrf_token = await sign_in(client, MASTER)
        missing = await client.get("/ui/prompts/nosuch")
        assert missing.status_code == 404 and 'id="prompt-error"' in missing.text and "nosuch" in missing.text
        bad = await client.get("/ui/prompts/" + "P" * 300)
        assert bad.status_code == 400
        post = await client.post("/ui/prompts/nosuch/promote", content=f"csrf={csrf_token}&version=1", headers=FORM)
        assert post.status_code == 404
        post = await client.post("/ui/prompts/support/promote", content=f"csrf={csrf_token}&version=abc", headers=FORM)
        assert post.status_code == 400 and "version number" in post.text
        post = await client.post("/ui/prompts/support/promote", content=f"csrf={csrf_token}&version=9", headers=FORM)
        assert 400 <= post.status_code < 500
        post = await client.post("/ui/prompts/support/promote",
                                 content=f"csrf={csrf_token}&version=2&label=BAD%20LABEL", headers=FORM)
        assert post.status_code == 400
        assert await api_label(client) == 1


def _refusal(html: str) -> str:
    import html as h

    return h.unescape(re.search(r'<p class="error" role="alert" id="refusal">(.*?)</p>', html, re.DOTALL).group(1))


async def test_a_refused_promotion_shows_the_gates_message_and_moves_nothing(env):
    _m, config, reg = env
    async with running(config) as (_app, client):
        token = await sign_in(client, MASTER)
        for step in ("no attestation", "failing attestation"):
            if step == "failing attestation":
                attest(reg, 2, passed=False)
            ui = await client.post("/ui/prompts/support/promote", content=f"csrf={token}&version=2&label=production",
                                   headers=FORM)
            api = await client.post("/sluice/v1/prompts/support/promote", headers=ADMIN,
                                    json={"version": 2, "label": "production"})
            assert api.status_code == 409 and ui.status_code == 409, (step, ui.text)
            assert _refusal(ui.text) == api.json()["error"]["message"]
            assert await api_label(client) == 1
            assert reg.labels("support")["production"] == 1
        # force without a reason: the gate's 400, the same as the API's
        ui = await client.post("/ui/prompts/support/promote", content=f"csrf={token}&version=2&force=on", headers=FORM)
        api = await client.post("/sluice/v1/prompts/support/promote", headers=ADMIN, json={"version": 2, "force": True})
        assert ui.status_code == api.status_code == 400
        assert _refusal(ui.text) == api.json()["error"]["message"]
        assert await api_label(client) == 1


async def test_accepted_promotion_moves_the_label_and_rollback_returns_it(env):
    _m, config, reg = env
    attest(reg, 2, passed=True)
    async with running(config) as (_app, client):
        token = await sign_in(client, MASTER)
        r = await client.post("/ui/prompts/support/promote",
                              content=f"csrf={token}&version=2&label=production&reason=ship+it", headers=FORM)
        assert r.status_code == 303 and r.headers["location"] == "/ui/prompts/support?moved=production"
        assert await api_label(client) == 2
        hist = (await client.get("/sluice/v1/prompts/support/history", headers=ADMIN)).json()["label_moves"]
        assert hist[-1]["actor"] == "admin:master-key" and hist[-1]["reason"] == "ship it"
        assert hist[-1]["actor_claimed"] is False and hist[-1]["forced"] is False
        page = (await client.get(r.headers["location"])).text
        assert 'id="moved"' in page and "ship it" in page
        r = await client.post("/ui/prompts/support/rollback", content=f"csrf={token}&label=production", headers=FORM)
        assert r.status_code == 303
        assert await api_label(client) == 1
        hist = (await client.get("/sluice/v1/prompts/support/history", headers=ADMIN)).json()["label_moves"]
        assert hist[-1]["kind"] == "rollback" and hist[-1]["to"] == 1
        # a prompt that was never released has no label to roll back: the gate says so (400)
        nothing = await client.post("/ui/prompts/other/rollback", content=f"csrf={token}&label=production", headers=FORM)
        assert nothing.status_code == 400 and "no label" in _refusal(nothing.text)


async def test_csrf_and_team_sessions(env):
    _m, config, reg = env
    attest(reg, 2, passed=True)
    async with running(config) as (_app, client):
        await client.post("/sluice/v1/teams", json={"name": "finance"}, headers=ADMIN)
        key = (await client.post("/sluice/v1/keys", json={"team": "finance", "name": "bot"}, headers=ADMIN)).json()
        await sign_in(client, MASTER)
        for path in ("/ui/prompts/support/promote", "/ui/prompts/support/rollback"):
            r = await client.post(path, content="version=2", headers=FORM)
            assert r.status_code == 403
            r = await client.post(path, content="csrf=wrong&version=2", headers=FORM)
            assert r.status_code == 403
        assert await api_label(client) == 1
        client.cookies.clear()

        token = await sign_in(client, key["key"])
        listing = await client.get("/ui/prompts")
        assert listing.status_code == 200 and "support" in listing.text and 'id="read-only"' in listing.text
        d = await client.get("/ui/prompts/support")
        assert d.status_code == 200 and 'id="promote-form"' not in d.text and 'id="read-only"' in d.text
        for path in ("/ui/prompts/support/promote", "/ui/prompts/support/rollback"):
            r = await client.post(path, content=f"csrf={token}&version=2", headers=FORM)
            assert r.status_code == 403 and "master key" in r.text
        assert await api_label(client) == 1
        client.cookies.clear()
        r = await client.get("/ui/prompts/support")
        assert r.status_code == 303 and r.headers["location"] == "/ui/login"


async def test_a_broken_version_file_never_makes_a_500(env):
    _m, config, reg = env
    (reg.dir / "support" / "v3.yaml").write_text("name: support\nversion: 3\nmessages: [unclosed\n")
    (reg.dir / "other" / "v2.yaml").write_text("name: someone-else\nversion: 2\nmessages: []\n")
    async with running(config) as (_app, client):
        token = await sign_in(client, MASTER)
        listing = await client.get("/ui/prompts")
        assert listing.status_code == 200 and 'id="prompt-support"' in listing.text
        d = await client.get("/ui/prompts/support")
        assert d.status_code == 200 and 'id="version-3"' in d.text and "cannot be loaded" in d.text
        assert str(reg.dir) not in d.text
        diff = await client.get("/ui/prompts/support?a=2&b=3")
        assert diff.status_code == 409 and "cannot be loaded" in diff.text
        for path, body in (("/ui/prompts/support/promote", "version=3"), ("/ui/prompts/other/promote", "version=2")):
            r = await client.post(path, content=f"csrf={token}&{body}", headers=FORM)
            assert 400 <= r.status_code < 500, r.text
        assert (await client.get("/ui/prompts/other")).status_code == 200
        assert await api_label(client) == 1


async def test_a_refused_rollback_shows_the_same_message_as_the_api(env):
    _m, config, reg = env
    attest(reg, 2, passed=True)
    promote(reg, "support", 2, "production", actor="ann")
    attest(reg, 1, passed=False)  # v1's latest run failed: rolling back to it needs the gate again
    async with running(config) as (_app, client):
        token = await sign_in(client, MASTER)
        ui = await client.post("/ui/prompts/support/rollback", content=f"csrf={token}&label=production", headers=FORM)
        api = await client.post("/sluice/v1/prompts/support/rollback", headers=ADMIN, json={"label": "production"})
        assert api.status_code == ui.status_code == 409, ui.text
        assert _refusal(ui.text) == api.json()["error"]["message"] and "rollback" in _refusal(ui.text)
        assert await api_label(client) == 2
