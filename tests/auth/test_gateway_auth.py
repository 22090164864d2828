
import pytest

from gateway.clock import FakeClock
from gateway.mock_upstream import MockUpstream
from gateway.spend.reserve import prompt_bound
from tests.spend.gw import gateway_config, running

MASTER = "master-key-for-tests"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Tell me about rivers"}]}


@pytest.fixture(scope="module")
def mock():
    with MockUpstream() as m:
        yield m


@pytest.fixture
def m(mock):
    mock.reset()
    return mock


@pytest.fixture(autouse=True)
def master(monkeypatch):
    monkeypatch.setenv("SLUICE_MASTER_KEY", MASTER)
    monkeypatch.setenv("SLUICE_KEY_SECRET", "hmac-secret-for-tests")


ADMIN = {"authorization": f"Bearer {MASTER}"}


def cfg(tmp_path, m, **kw):
    return gateway_config(tmp_path, m.base_url, auth={"enabled": True, **kw})


async def new_key(client, **body):
    r = await client.post("/sluice/v1/keys", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    return r.json()


async def test_admin_api_needs_the_master_key(tmp_path, m):
    async with running(cfg(tmp_path, m)) as (_app, client):
        r = await client.get("/sluice/v1/keys")
        assert r.status_code == 401 and r.json()["error"]["code"] == "missing_api_key"
        key = (await new_key(client))["key"]
        r = await client.get("/sluice/v1/keys", headers={"authorization": f"Bearer {key}"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "admin_only"


async def test_admin_api_is_off_without_a_master_key(tmp_path, m, monkeypatch):
    monkeypatch.delenv("SLUICE_MASTER_KEY")
    async with running(cfg(tmp_path, m)) as (_app, client):
        r = await client.get("/sluice/v1/keys", headers=ADMIN)
        assert r.status_code == 403 and "SLUICE_MASTER_KEY" in r.json()["error"]["message"]


async def test_key_lifecycle_over_the_admin_api(tmp_path, m):
    async with running(cfg(tmp_path, m)) as (_app, client):
        r = await client.post("/sluice/v1/teams", json={"name": "ml", "budget_usd": 50}, headers=ADMIN)
        assert r.status_code == 201 and r.json()["budget_period"] == "month"
        created = await new_key(client, name="svc", team="ml", models=["gpt-*"], rpm=100)
        assert created["key"].startswith("sk-sluice-") and "not shown again" in created["note"]
        shown = (await client.get(f"/sluice/v1/keys/{created['id']}", headers=ADMIN)).json()
        assert "key" not in shown and shown["allowed_models"] == ["gpt-*"]
        listed = (await client.get("/sluice/v1/keys?team=ml", headers=ADMIN)).json()["data"]
        assert [k["id"] for k in listed] == [created["id"]]
        ok = await client.post("/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {created['key']}"})
        assert ok.status_code == 200
        rot = (await client.post(f"/sluice/v1/keys/{created['id']}/rotate", headers=ADMIN)).json()
        old = await client.post("/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {created['key']}"})
        assert old.status_code == 401 and old.json()["error"]["code"] == "key_revoked"
        new = await client.post("/v1/chat/completions", json=CHAT, headers={"x-api-key": rot["key"]})
        assert new.status_code == 200
        r = await client.patch("/sluice/v1/teams/ml", json={"budget_usd": 75}, headers=ADMIN)
        assert r.json()["budget_usd"] == 75
        assert (await client.get("/sluice/v1/keys/key_nope", headers=ADMIN)).status_code == 404
        r = await client.post("/sluice/v1/keys", json={"team": "nope"}, headers=ADMIN)
        assert r.status_code == 404 and "sluice teams create" in r.json()["error"]["message"]
        r = await client.post("/sluice/v1/keys", json={"bogus": 1}, headers=ADMIN)
        assert r.status_code == 400
        audit = (await client.get("/sluice/v1/audit", headers=ADMIN)).json()["data"]
        assert [a["action"] for a in audit][::-1] == ["team.create", "key.create", "key.rotate", "key.revoke",
                                                     "team.update"]


async def test_401_for_missing_and_unknown_keys(tmp_path, m):
    async with running(cfg(tmp_path, m)) as (_app, client):
        r = await client.post("/v1/chat/completions", json=CHAT)
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
        r = await client.post("/v1/chat/completions", json=CHAT, headers={"authorization": "Bearer sk-sluice-nope"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
        assert m.requests_seen == 0  # refused before the upstream


async def test_expired_key(tmp_path, m):
    clock = FakeClock(wall=1_763_942_400.0)
    async with running(cfg(tmp_path, m), clock=clock) as (_app, client):
        key = (await new_key(client, expires_in_days=1))["key"]
        h = {"authorization": f"Bearer {key}"}
        assert (await client.post("/v1/chat/completions", json=CHAT, headers=h)).status_code == 200
        clock.advance(86400 + 10)
        r = await client.post("/v1/chat/completions", json=CHAT, headers=h)
        assert r.status_code == 401 and r.json()["error"]["code"] == "key_expired"


async def test_403_model_not_allowed(tmp_path, m):
    async with running(cfg(tmp_path, m)) as (_app, client):
        key = (await new_key(client, models=["cheap"]))["key"]
        r = await client.post("/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {key}"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "model_not_allowed"
        assert m.requests_seen == 0


async def test_rpm_429_exact_with_retry_after(tmp_path, m):
    clock = FakeClock(wall=1_763_942_400.0 + 10)
    async with running(cfg(tmp_path, m), clock=clock) as (_app, client):
        key = (await new_key(client, rpm=3))["key"]
        h = {"authorization": f"Bearer {key}"}
        codes = [(await client.post("/v1/chat/completions", json=CHAT, headers=h)).status_code for _ in range(3)]
        r = await client.post("/v1/chat/completions", json=CHAT, headers=h)
        assert codes == [200, 200, 200]
        assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit_error"
        assert r.headers["retry-after"] == "50"
        clock.advance(50)
        assert (await client.post("/v1/chat/completions", json=CHAT, headers=h)).status_code == 200


async def test_tpm_counts_real_usage(tmp_path, m):
    clock = FakeClock(wall=1_763_942_400.0 + 10)
    async with running(cfg(tmp_path, m), clock=clock) as (_app, client):
        body = {**CHAT, "max_tokens": 30}
        probe = await client.post("/v1/chat/completions", json=body, headers=ADMIN)
        per_request = probe.json()["usage"]["total_tokens"]
        worst = prompt_bound(body) + 30  # what each request reserves until its real usage settles it
        assert worst > per_request
        key = (await new_key(client, tpm=per_request * 3 + worst))["key"]
        h = {"authorization": f"Bearer {key}"}
        codes = []
        for _ in range(6):
            codes.append((await client.post("/v1/chat/completions", json=body, headers=h)).status_code)
        # the window holds real usage once settled: the 4th request's worst case still fits, the 5th's not
        assert codes == [200, 200, 200, 200, 429, 429]


async def test_budget_exceeded_says_which_budget_and_when_it_resets(tmp_path, m):
    clock = FakeClock(wall=1_763_942_400.0 + 10)  # 2025-11-24
    async with running(cfg(tmp_path, m), clock=clock) as (_app, client):
        await client.post("/sluice/v1/teams", json={"name": "fin", "budget_usd": 1.0, "budget_period": "day"},
                          headers=ADMIN)
        key = (await new_key(client, team="fin", budget_usd=0.003, budget_period="day"))["key"]
        h = {"authorization": f"Bearer {key}"}
        spent, n = 0.0, 0
        body = {**CHAT, "max_tokens": 20}
        while True:
            r = await client.post("/v1/chat/completions", json=body, headers=h)
            if r.status_code != 200:
                break
            spent += float(r.headers["x-sluice-cost-usd"])
            n += 1
            assert n < 100
        err = r.json()["error"]
        assert r.status_code == 429 and err["type"] == "insufficient_quota" and err["code"] == "budget_exceeded"
        assert "daily budget of key" in err["message"] and "2025-11-25T00:00:00Z" in err["message"]
        assert err["budget"]["scope"] == "key" and err["budget"]["period"] == "2025-11-24"
        # never over the budget; refused only when this request's worst case no longer fits
        worst = err["budget"]["request_max_usd"]
        assert n > 1 and 0.003 - worst < spent <= 0.003
        assert err["budget"]["spent_usd"] == pytest.approx(spent, abs=1e-9)
        clock.advance(86400)
        assert (await client.post("/v1/chat/completions", json=body, headers=h)).status_code == 200


async def test_a_budgeted_key_is_refused_a_model_without_a_price(tmp_path, m):
    async with running(cfg(tmp_path, m)) as (_app, client):
        budgeted = (await new_key(client, budget_usd=5.0))["key"]
        unbudgeted = (await new_key(client))["key"]
        body = {**CHAT, "model": "mystery"}  # its deployment (mock-claude) has no price anywhere
        r = await client.post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {budgeted}"})
        err = r.json()["error"]
        assert r.status_code == 403 and err["code"] == "model_unpriced" and err["param"] == "model"
        assert "mock-claude" in err["message"] and "spend.prices" in err["message"]
        assert m.requests_seen == 0  # refused before the upstream call
        # priced models still work for that key; keys without a budget may use unpriced models
        assert (await client.post("/v1/chat/completions", json=CHAT,
                                  headers={"authorization": f"Bearer {budgeted}"})).status_code == 200
        r = await client.post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {unbudgeted}"})
        assert r.status_code == 200 and r.headers["x-sluice-cost-usd"] == "unpriced"


async def test_unpriced_with_budget_allow_serves_and_records_unpriced(tmp_path, m):
    config = gateway_config(tmp_path, m.base_url, auth={"enabled": True}, spend={"unpriced_with_budget": "allow"})
    async with running(config) as (_app, client):
        key = (await new_key(client, budget_usd=5.0))["key"]
        r = await client.post("/v1/chat/completions", json={**CHAT, "model": "mystery"},
                              headers={"authorization": f"Bearer {key}"})
        assert r.status_code == 200 and r.headers["x-sluice-cost-usd"] == "unpriced"


async def test_auth_disabled_needs_no_key(tmp_path, m):
    async with running(gateway_config(tmp_path, m.base_url)) as (_app, client):
        assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 200


async def test_workers_with_memory_counters_refuse_to_start(tmp_path, m):
    from gateway.errors import ConfigError

    c = gateway_config(tmp_path, m.base_url, auth={"enabled": True}, server={"workers": 2})
    with pytest.raises(ConfigError, match="redis"):
        async with running(c):
            pass


async def test_budget_use_is_exported_as_a_gauge(tmp_path, m):
    async with running(cfg(tmp_path, m)) as (_app, client):
        key = (await new_key(client, name="gauge", budget_usd=1.0, budget_period="day"))["key"]
        r = await client.post("/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {key}"})
        assert r.status_code == 200
        cost = float(r.headers["x-sluice-cost-usd"])
        lines = [x for x in (await client.get("/metrics", headers=ADMIN)).text.splitlines()
                 if x.startswith("sluice_budget_utilization_ratio{") and 'scope="key"' in x]
    assert len(lines) == 1 and float(lines[0].split()[-1]) == pytest.approx(cost / 1.0)
