import hashlib
import hmac
import time

import pytest
import sqlalchemy as sa

from gateway.clock import FakeClock
from gateway.errors import AuthenticationError, ConfigError
from gateway.spend.auth import KeyAuthenticator, KeyHasher, bearer_token
from gateway.spend.config import AuthConfig
from gateway.spend.db import make_engine, migrate
from gateway.spend.keystore import KEY_PREFIX, KeyStore, StoreError
from gateway.spend.schema import keys


@pytest.fixture
def store(tmp_path):
    e = make_engine(f"sqlite:///{tmp_path / 'k.db'}")
    migrate(e)
    yield KeyStore(e, KeyHasher("server-secret"), clock=FakeClock())
    e.dispose()


def test_key_is_stored_only_as_an_hmac(store):
    rec, plaintext = store.create_key(name="ci")
    assert plaintext.startswith(KEY_PREFIX) and len(plaintext) > 40
    with store.engine.connect() as c:
        (stored,) = c.execute(sa.select(keys.c.key_hash).where(keys.c.id == rec.id)).one()
        dump = " ".join(str(v) for r in c.execute(keys.select()) for v in r)
    assert stored == hmac.new(b"server-secret", plaintext.encode(), hashlib.sha256).hexdigest()
    assert plaintext not in dump  # the plaintext is nowhere in the table
    assert store.get_key(rec.id).prefix == plaintext[: len(KEY_PREFIX) + 4]


def test_hasher_needs_a_secret(monkeypatch):
    monkeypatch.delenv("SLUICE_KEY_SECRET", raising=False)
    monkeypatch.delenv("SLUICE_MASTER_KEY", raising=False)
    with pytest.raises(ConfigError, match="SLUICE_KEY_SECRET"):
        KeyHasher.from_env(AuthConfig())
    monkeypatch.setenv("SLUICE_MASTER_KEY", "m")
    assert KeyHasher.from_env(AuthConfig()).hash("x") != KeyHasher("other").hash("x")


def test_bearer_and_x_api_key():
    assert bearer_token({"authorization": "Bearer abc"}) == "abc"
    assert bearer_token({"x-api-key": "xyz"}) == "xyz"
    assert bearer_token({"authorization": "Basic abc"}) is None
    assert bearer_token({}) is None


async def test_verify_valid_unknown_revoked_expired(store):
    clock = store.clock
    auth = KeyAuthenticator(store, store.hasher, master_key="master", cache_ttl_s=0, clock=clock)
    team = store.create_team("ml", budget_usd=10)
    rec, key = store.create_key(team_id="ml", user_id="ann", expires_at=clock.time() + 100)
    p, got = await auth.authenticate({"authorization": f"Bearer {key}"})
    assert (p.key_id, p.team_id, p.user_id, p.is_admin) == (rec.id, team.id, "ann", False)
    assert got.team is not None and got.team.budget_usd == 10
    with pytest.raises(AuthenticationError) as e:
        await auth.authenticate({})
    assert e.value.code == "missing_api_key" and e.value.status == 401
    with pytest.raises(AuthenticationError) as e:
        await auth.authenticate({"authorization": "Bearer sk-sluice-nope"})
    assert e.value.code == "invalid_api_key"
    clock.advance(101)
    with pytest.raises(AuthenticationError) as e:
        await auth.authenticate({"x-api-key": key})
    assert e.value.code == "key_expired"
    rec2, key2 = store.create_key()
    store.revoke_key(rec2.id)
    with pytest.raises(AuthenticationError) as e:
        await auth.authenticate({"x-api-key": key2})
    assert e.value.code == "key_revoked"
    p, _ = await auth.authenticate({"authorization": "Bearer master"})
    assert p.is_admin


async def test_cache_hits_skip_the_database_and_expire(store):
    clock = store.clock
    auth = KeyAuthenticator(store, store.hasher, cache_ttl_s=5, clock=clock)
    rec, key = store.create_key()
    calls = 0
    real = store.find_by_hash

    def counting(h):
        nonlocal calls
        calls += 1
        return real(h)

    store.find_by_hash = counting
    for _ in range(10):
        await auth.authenticate({"x-api-key": key})
    assert calls == 1
    store.revoke_key(rec.id)
    await auth.authenticate({"x-api-key": key})  # still cached: revocation reaches us within the TTL
    clock.advance(5.1)
    with pytest.raises(AuthenticationError):
        await auth.authenticate({"x-api-key": key})
    assert calls == 2


async def test_cached_verification_costs_microseconds(store):
    auth = KeyAuthenticator(store, store.hasher, cache_ttl_s=60, clock=store.clock)
    _, key = store.create_key()
    h = {"authorization": f"Bearer {key}"}
    await auth.authenticate(h)
    n = 2000
    t = time.perf_counter()
    for _ in range(n):
        await auth.authenticate(h)
    per = (time.perf_counter() - t) / n
    assert per < 200e-6, per  # generous bound on a loaded 2-core box; measured ~5-10 µs


def test_rotate_keeps_settings_and_revokes_old(store):
    store.create_team("ops")
    old, _ = store.create_key(name="svc", team_id="ops", rpm=5, tpm=100, allowed_models=["gpt-*"], budget_usd=3)
    new, plaintext = store.rotate_key(old.id)
    assert new.id != old.id and new.rotated_from == old.id
    assert (new.rpm, new.tpm, new.allowed_models, new.budget_usd, new.budget_period) == (5, 100, ["gpt-*"], 3, "month")
    assert store.get_key(old.id).revoked_at is not None
    assert store.find_by_hash(store.hasher.hash(plaintext)).id == new.id
    with pytest.raises(StoreError, match="revoked"):
        store.rotate_key(old.id)


def test_store_errors_say_what_to_do(store):
    store.create_team("a")
    with pytest.raises(StoreError, match="already exists"):
        store.create_team("a")
    with pytest.raises(StoreError, match="sluice teams create"):
        store.create_key(team_id="nope")
    with pytest.raises(StoreError, match="sluice keys list"):
        store.revoke_key("key_nope")
    with pytest.raises(StoreError, match="cannot change"):
        store.update_team("a", secret=1)


def test_a_team_update_with_nothing_to_change_changes_nothing(store):
    """Any caller of the store (not only the admin API) could run `UPDATE ... SET WHERE`, a SQL error."""
    t = store.create_team("same", budget_usd=5, budget_period="day")
    assert store.update_team(t.id) == t
    assert [a["action"] for a in store.audit_log()] == ["team.create"]  # no empty update is audited


def test_every_admin_action_is_audited(store):
    t = store.create_team("fin", budget_usd=5, budget_period="day")
    store.update_team(t.id, budget_usd=6)
    rec, k1 = store.create_key(team_id=t.id)
    _, k2 = store.rotate_key(rec.id)
    actions = [a["action"] for a in store.audit_log()][::-1]
    assert actions == ["team.create", "team.update", "key.create", "key.rotate", "key.revoke"]
    assert all(k not in str(a["details"]) for a in store.audit_log() for k in (k1, k2))
    assert store.list_keys(team_id=t.id)[0].rotated_from == rec.id
    assert len(store.list_keys(include_revoked=True)) == 2
