import csv
import io
import re

from gateway.clock import FakeClock
from gateway.mock_upstream import MockUpstream
from gateway.spend.ledger import insert_rows
from gateway.ui.format import usd
from tests.spend.gw import gateway_config, running
from tests.spend.test_ledger import row

MASTER = "console-master-key"
DAY0 = 1_763_942_400.0
ADMIN = {"authorization": f"Bearer {MASTER}"}


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


async def _setup(tmp_path, monkeypatch, clock=None):
    monkeypatch.setenv("SLUICE_MASTER_KEY", MASTER)
    m = MockUpstream().__enter__()
    config = gateway_config(tmp_path, m.base_url, auth={"enabled": True})
    return m, running(config, clock=clock)


async def _seed(app, client):
    svc = app.gateway.services.spend
    fin = (await client.post("/sluice/v1/teams", json={"name": "finance"}, headers=ADMIN)).json()
    ml = (await client.post("/sluice/v1/teams", json={"name": "ml"}, headers=ADMIN)).json()
    key = (await client.post("/sluice/v1/keys", json={"team": "finance", "name": "fin-bot"}, headers=ADMIN)).json()
    insert_rows(svc.engine, [
        row("a1", ts=DAY0, cost=0.000046, team_id=fin["id"], key_id=key["id"], requested_model="gpt-4o"),
        row("a2", ts=DAY0 + 1, cost=2.5, team_id=ml["id"], requested_model="claude"),
        row("a3", ts=DAY0 + 2, cost=0.75, team_id=ml["id"], requested_model="gpt-4o"),
    ])
    return fin, ml, key


async def _sign_in(client, key):
    return await client.post("/ui/login", content=f"key={key}",
                             headers={"content-type": "application/x-www-form-urlencoded"})


def test_usd_keeps_small_amounts_visible():
    assert usd(0.000046) == "$0.000046"
    assert usd(0.0012345) == "$0.0012"
    assert usd(1234.5) == "$1,234.50"
    assert usd(0) == "$0.00" and usd(None) == "unpriced"


async def test_sign_in_cookie_flags_csrf_and_sign_out(tmp_path, monkeypatch):
    m, ctx = await _setup(tmp_path, monkeypatch)
    with m:
        async with ctx as (_app, client):
            r = await client.get("/ui/spend")
            assert r.status_code == 303 and r.headers["location"] == "/ui/login"
            assert (await client.get("/ui/login")).status_code == 200
            bad = await _sign_in(client, "not-the-key")
            assert bad.status_code == 401 and "cannot sign in" in bad.text and "set-cookie" not in bad.headers
            bad = await _sign_in(client, "sk-sluice-unknown")
            assert bad.status_code == 401
            r = await _sign_in(client, MASTER)
            assert r.status_code == 303 and r.headers["location"] == "/ui/spend"
            cookie = r.headers["set-cookie"].lower()
            assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
            sid = r.cookies["sluice_ui"]
            assert len(sid) >= 40
            page = await client.get("/ui/spend")
            assert page.status_code == 200 and "admin" in page.text
            # every POST needs the session's CSRF token
            r = await client.post("/ui/logout", content="", headers={"content-type": "application/x-www-form-urlencoded"})
            assert r.status_code == 403
            r = await client.post("/ui/logout", content="csrf=wrong",
                                  headers={"content-type": "application/x-www-form-urlencoded"})
            assert r.status_code == 403
            assert (await client.get("/ui/spend")).status_code == 200  # still signed in
            r = await client.post("/ui/logout", content=f"csrf={_csrf(page.text)}",
                                  headers={"content-type": "application/x-www-form-urlencoded"})
            assert r.status_code == 303
            client.cookies.set("sluice_ui", sid, path="/ui")  # the old id is dead server-side too
            assert (await client.get("/ui/spend")).status_code == 303


async def test_secure_cookie_over_https(tmp_path, monkeypatch):
    m, ctx = await _setup(tmp_path, monkeypatch)
    with m:
        async with ctx as (_app, client):
            r = await client.post("https://gw/ui/login", content=f"key={MASTER}",
                                  headers={"content-type": "application/x-www-form-urlencoded"})
            assert r.status_code == 303 and "secure" in r.headers["set-cookie"].lower()


async def test_idle_session_expires(tmp_path, monkeypatch):
    clock = FakeClock(wall=DAY0)
    m, ctx = await _setup(tmp_path, monkeypatch, clock=clock)
    with m:
        async with ctx as (_app, client):
            assert (await _sign_in(client, MASTER)).status_code == 303
            clock.advance(29 * 60)
            assert (await client.get("/ui/spend")).status_code == 200  # use resets the idle timer
            clock.advance(29 * 60)
            assert (await client.get("/ui/spend")).status_code == 200
            clock.advance(31 * 60)
            r = await client.get("/ui/spend")
            assert r.status_code == 303 and r.headers["location"] == "/ui/login"


async def test_admin_sees_names_team_key_sees_only_its_team_and_csv_equals_api(tmp_path, monkeypatch):
    m, ctx = await _setup(tmp_path, monkeypatch)
    with m:
        async with ctx as (app, client):
            fin, ml, key = await _seed(app, client)
            await _sign_in(client, MASTER)
            page = (await client.get("/ui/spend")).text
            assert "finance" in page and "ml" in page and "fin-bot" in page
            assert fin["id"] in page and ml["id"] in page
            assert "$0.000046" in page and "$3.25" in page
            for by in ("team", "key", "model", "team,model"):
                mine = await client.get(f"/ui/spend.csv?by={by}")
                api = await client.get(f"/sluice/v1/spend/report?by={by}&format=csv", headers=ADMIN)
                assert mine.status_code == 200 and mine.headers["content-type"].startswith("text/csv")
                assert mine.text == api.text
            bad = await client.get("/ui/spend.csv?by=colour")
            assert bad.status_code == 400 and "choose from" in bad.json()["error"]["message"]
            client.cookies.clear()

            r = await _sign_in(client, key["key"])
            assert r.status_code == 303
            page = (await client.get("/ui/spend")).text
            assert "finance" in page and fin["id"] in page
            assert ml["id"] not in page and "$2.50" not in page and "claude" not in page
            rows = list(csv.DictReader(io.StringIO((await client.get("/ui/spend.csv?by=team")).text)))
            assert [r["team"] for r in rows] == [fin["id"]]
            api = await client.get("/sluice/v1/spend/report?by=team&format=csv",
                                   headers={"authorization": f"Bearer {key['key']}"})
            assert (await client.get("/ui/spend.csv?by=team")).text == api.text
            client.cookies.clear()
            assert (await client.get("/ui/spend.csv?by=team")).status_code == 401


async def test_a_key_without_a_team_cannot_sign_in(tmp_path, monkeypatch):
    m, ctx = await _setup(tmp_path, monkeypatch)
    with m:
        async with ctx as (_app, client):
            lone = (await client.post("/sluice/v1/keys", json={}, headers=ADMIN)).json()["key"]
            assert (await _sign_in(client, lone)).status_code == 401
            r = await client.post("/ui/login", content=b"\xff\xfe", headers={"content-type": "application/x-www-form-urlencoded"})
            assert r.status_code == 400
