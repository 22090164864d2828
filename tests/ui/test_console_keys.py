"""/ui/keys over HTTP: teams, keys (plaintext once), revoke, rotate, audit; team sessions and CSRF refused."""

import re

from gateway.mock_upstream import MockUpstream
from tests.spend.gw import gateway_config, running

MASTER = "console-keys-master"
ADMIN = {"authorization": f"Bearer {MASTER}"}
FORM = {"content-type": "application/x-www-form-urlencoded"}
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


async def _sign_in(client, key):
    r = await client.post("/ui/login", content=f"key={key}", headers=FORM)
    assert r.status_code == 303
    page = await client.get("/ui/spend")
    return _csrf(page.text)


def _ctx(tmp_path, monkeypatch):
    monkeypatch.setenv("SLUICE_MASTER_KEY", MASTER)
    m = MockUpstream().__enter__()
    return m, running(gateway_config(tmp_path, m.base_url, auth={"enabled": True}))


async def _post(client, path, body):
    return await client.post(path, content=body, headers=FORM)


async def _chat(client, key):
    return (await client.post("/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {key}"})).status_code


def _plaintext(html):
    return re.search(r'id="plaintext"[^>]*value="([^"]+)"', html).group(1)


async def test_create_team_and_key_plaintext_once_revoke_rotate_audit(tmp_path, monkeypatch):
    m, ctx = _ctx(tmp_path, monkeypatch)
    with m:
        async with ctx as (app, client):
            csrf = await _sign_in(client, MASTER)
            r = await _post(client, "/ui/keys/teams", f"csrf={csrf}&name=finance&budget_usd=50&budget_period=day")
            assert r.status_code == 303 and r.headers["location"].startswith("/ui/keys")
            team = (await client.get("/sluice/v1/teams", headers=ADMIN)).json()["data"][0]
            assert team["name"] == "finance" and team["budget_usd"] == 50 and team["budget_period"] == "day"
            r = await _post(client, f"/ui/keys/teams/{team['id']}", f"csrf={csrf}&budget_usd=75&budget_period=month")
            assert r.status_code == 303
            team = (await client.get(f"/sluice/v1/teams/{team['id']}", headers=ADMIN)).json()
            assert team["budget_usd"] == 75 and team["budget_period"] == "month"

            r = await _post(client, "/ui/keys/new", f"csrf={csrf}&name=fin-bot&team={team['id']}&rpm=100")
            assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
            plain = _plaintext(r.text)
            assert plain.startswith("sk-sluice-")
            assert await _chat(client, plain) == 200
            keys = (await client.get("/sluice/v1/keys", headers=ADMIN)).json()["data"]
            assert len(keys) == 1 and keys[0]["team_id"] == team["id"] and keys[0]["rpm"] == 100
            kid = keys[0]["id"]
            # never shown again: not in the list, the audit page, nor any row of the key store
            for path in ("/ui/keys", "/ui/keys/audit", "/ui/keys?done=created"):
                page = await client.get(path)
                assert page.status_code == 200 and plain not in page.text
            assert kid in (await client.get("/ui/keys")).text
            from gateway.spend.schema import audit
            from gateway.spend.schema import keys as keys_table
            with app.gateway.services.spend.engine.connect() as conn:
                dump = repr([tuple(r) for r in conn.execute(keys_table.select())])
                dump += repr([tuple(r) for r in conn.execute(audit.select())])
            assert plain not in dump and plain[10:] not in dump

            # rotate: new plaintext once, old key 401, new works
            r = await _post(client, f"/ui/keys/{kid}/rotate", f"csrf={csrf}")
            assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
            new = _plaintext(r.text)
            assert new != plain
            assert await _chat(client, plain) == 401
            assert await _chat(client, new) == 200
            (live,) = (await client.get("/sluice/v1/keys", headers=ADMIN)).json()["data"]
            assert live["rotated_from"] == kid
            new_id = live["id"]

            # revoke needs the confirm box
            r = await _post(client, f"/ui/keys/{new_id}/revoke", f"csrf={csrf}")
            assert r.status_code == 400 and "confirm" in r.text
            assert await _chat(client, new) == 200
            r = await _post(client, f"/ui/keys/{new_id}/revoke", f"csrf={csrf}&confirm=yes")
            assert r.status_code == 303
            assert await _chat(client, new) == 401

            audit = (await client.get("/sluice/v1/audit", headers=ADMIN)).json()["data"]
            actions = [(e["action"], e["actor"]) for e in audit]
            assert actions == [("key.revoke", "master"), ("key.revoke", "master"), ("key.rotate", "master"),
                               ("key.create", "master"), ("team.update", "master"), ("team.create", "master")]
            page = await client.get("/ui/keys/audit")
            assert page.status_code == 200
            shown = re.findall(r'class="audit-action">([^<]+)<', page.text)
            assert shown == [a for a, _ in actions]
            assert page.text.count('class="audit-actor">master<') == 6
            page = await client.get("/ui/keys/audit?limit=2")
            assert len(re.findall(r'class="audit-action">', page.text)) == 2
            assert (await client.get("/ui/keys/audit?limit=0")).status_code == 400
            assert (await client.get("/ui/keys/audit?limit=abc")).status_code == 400


async def test_bad_input_is_400_with_a_message_and_changes_nothing(tmp_path, monkeypatch):
    m, ctx = _ctx(tmp_path, monkeypatch)
    with m:
        async with ctx as (_app, client):
            await client.post("/sluice/v1/teams", json={"name": "ml"}, headers=ADMIN)
            csrf = await _sign_in(client, MASTER)
            before = (await client.get("/sluice/v1/audit", headers=ADMIN)).json()["data"]
            cases = [
                ("/ui/keys/new", "name=bot&team=nope", "no team"),
                ("/ui/keys/new", "name=&team=ml", "name"),
                ("/ui/keys/new", "name=bot&budget_usd=-1", "budget_usd"),
                ("/ui/keys/new", "name=bot&budget_usd=lots", "budget_usd"),
                ("/ui/keys/new", "name=bot&rpm=1.5", "rpm"),
                ("/ui/keys/new", "name=bot&budget_usd=inf", "budget_usd"),
                ("/ui/keys/new", "name=bot&budget_period=week", "budget_period"),
                ("/ui/keys/teams", "name=", "name"),
                ("/ui/keys/teams", "name=ml", "already exists"),
                ("/ui/keys/teams", "name=x&budget_usd=-5", "budget_usd"),
                ("/ui/keys/teams/team_bogus", "budget_usd=5", "no team"),
                ("/ui/keys/teams/ml", "budget_usd=-5", "budget_usd"),
                ("/ui/keys/key_bogus/revoke", "confirm=yes", "no key"),
                ("/ui/keys/key_bogus/rotate", "", "no key"),
            ]
            for path, body, word in cases:
                r = await _post(client, path, f"csrf={csrf}&{body}")
                assert r.status_code == 400, (path, body, r.status_code, r.text[:300])
                assert 'id="keys-error"' in r.text and word in r.text, (path, body)
            after = (await client.get("/sluice/v1/audit", headers=ADMIN)).json()["data"]
            assert after == before
            assert (await client.get("/sluice/v1/keys", headers=ADMIN)).json()["data"] == []
            ml = (await client.get("/sluice/v1/teams/ml", headers=ADMIN)).json()
            assert ml["budget_usd"] is None


async def test_team_session_gets_403_everywhere_and_csrf_is_required(tmp_path, monkeypatch):
    m, ctx = _ctx(tmp_path, monkeypatch)
    with m:
        async with ctx as (_app, client):
            team = (await client.post("/sluice/v1/teams", json={"name": "ml"}, headers=ADMIN)).json()
            key = (await client.post("/sluice/v1/keys", json={"team": "ml", "name": "ml-bot"}, headers=ADMIN)).json()
            posts = ["/ui/keys/teams", f"/ui/keys/teams/{team['id']}", "/ui/keys/new",
                     f"/ui/keys/{key['id']}/revoke", f"/ui/keys/{key['id']}/rotate"]
            # admin without CSRF: 403, nothing changed
            await _sign_in(client, MASTER)
            before = (await client.get("/sluice/v1/audit", headers=ADMIN)).json()["data"]
            for path in posts:
                for body in ("name=x&confirm=yes&budget_usd=3", "csrf=wrong&name=x&confirm=yes&budget_usd=3"):
                    assert (await _post(client, path, body)).status_code == 403, path
            await client.post("/ui/logout", content=f"csrf={_csrf((await client.get('/ui/spend')).text)}",
                              headers=FORM)
            # a team session: 403 on every GET and POST, even with its CSRF token
            csrf = await _sign_in(client, key["key"])
            for path in ("/ui/keys", "/ui/keys/audit", "/ui/keys?done=x"):
                assert (await client.get(path)).status_code == 403, path
            for path in posts:
                r = await _post(client, path, f"csrf={csrf}&name=x&confirm=yes&budget_usd=3")
                assert r.status_code == 403, path
            assert 'id="nav-keys"' not in (await client.get("/ui/spend")).text
            assert (await client.get("/sluice/v1/audit", headers=ADMIN)).json()["data"] == before
            assert await _chat(client, key["key"]) == 200  # neither revoked nor rotated


async def test_keys_routes_without_a_session_go_to_sign_in(tmp_path, monkeypatch):
    m, ctx = _ctx(tmp_path, monkeypatch)
    with m:
        async with ctx as (_app, client):
            for path in ("/ui/keys", "/ui/keys/audit"):
                r = await client.get(path)
                assert r.status_code == 303 and r.headers["location"] == "/ui/login"
            r = await _post(client, "/ui/keys/new", "name=x")
            assert r.status_code == 303 and r.headers["location"] == "/ui/login"
