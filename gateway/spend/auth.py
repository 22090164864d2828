"""Virtual key verification: keyed hashes, microseconds per check, cached.

A key is a 256-bit random token, so a slow password hash buys nothing: HMAC-SHA256 with a server
secret (the database alone cannot be used to test guesses) costs ~1 µs. Verified keys are cached
for `auth.cache_ttl_s` seconds; a revocation therefore reaches every process within that time.
The master key (env SLUICE_MASTER_KEY) is compared in constant time and grants admin.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.clock import Clock, SystemClock
from gateway.context import Principal
from gateway.errors import AuthenticationError, ConfigError

if TYPE_CHECKING:
    from gateway.spend.config import AuthConfig
    from gateway.spend.keystore import KeyRecord, KeyStore


class KeyHasher:
    def __init__(self, secret: str | bytes) -> None:
        if not secret:
            raise ConfigError("the key hashing secret is empty; set SLUICE_KEY_SECRET or SLUICE_MASTER_KEY")
        self._secret = secret.encode() if isinstance(secret, str) else secret

    def hash(self, plaintext: str) -> str:
        return hmac.new(self._secret, plaintext.encode(), hashlib.sha256).hexdigest()

    @classmethod
    def from_env(cls, cfg: AuthConfig) -> KeyHasher:
        secret = os.environ.get(cfg.key_secret_env) or os.environ.get(cfg.master_key_env)
        if not secret:
            raise ConfigError(f"virtual keys need a server secret: set ${cfg.key_secret_env} "
                              f"(or ${cfg.master_key_env}) to a long random string")
        return cls(secret)


def bearer_token(headers: dict[str, str]) -> str | None:
    """The key from `Authorization: Bearer ...` or `x-api-key` (lower-cased header names)."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    key = headers.get("x-api-key")
    return key.strip() if key else None


def is_master_key(token: str | None, master_key: str | None) -> bool:
    return bool(token and master_key and hmac.compare_digest(token.encode(), master_key.encode()))


@dataclass(slots=True)
class _Cached:
    record: KeyRecord | None
    until: float


class KeyAuthenticator:
    """Turns a presented key into a Principal, or raises AuthenticationError (401)."""

    def __init__(self, store: KeyStore, hasher: KeyHasher, *, master_key: str | None = None,
                 cache_ttl_s: float = 5.0, clock: Clock | None = None, max_cache: int = 100_000) -> None:
        self.store = store
        self.hasher = hasher
        self.master_key = master_key
        self.cache_ttl_s = cache_ttl_s
        self.clock = clock or SystemClock()
        self._cache: dict[str, _Cached] = {}
        self._max_cache = max_cache

    async def lookup(self, token: str) -> KeyRecord | None:
        h = self.hasher.hash(token)
        now = self.clock.monotonic()
        hit = self._cache.get(h)
        if hit is not None and hit.until > now:
            return hit.record
        rec = await asyncio.to_thread(self.store.find_by_hash, h)
        if len(self._cache) >= self._max_cache:
            self._cache.clear()  # bounded; a full cache is rebuilt from the database
        self._cache[h] = _Cached(rec, now + self.cache_ttl_s)
        return rec

    def invalidate(self) -> None:
        self._cache.clear()

    async def authenticate(self, headers: dict[str, str]) -> tuple[Principal, KeyRecord | None]:
        token = bearer_token(headers)
        if not token:
            raise AuthenticationError("no API key: send `Authorization: Bearer <virtual key>` "
                                      "(create one with `sluice keys create`)", code="missing_api_key")
        if is_master_key(token, self.master_key):
            return Principal(key_id="master", is_admin=True), None
        rec = await self.lookup(token)
        if rec is None:
            raise AuthenticationError("the API key is not valid; check it or create a new one with "
                                      "`sluice keys create`", code="invalid_api_key")
        if rec.revoked_at is not None:
            raise AuthenticationError(f"API key {rec.id} was revoked; ask an admin for a new key",
                                      code="key_revoked")
        if rec.expires_at is not None and rec.expires_at <= self.clock.time():
            raise AuthenticationError(f"API key {rec.id} expired; ask an admin to rotate it "
                                      f"(`sluice keys rotate {rec.id}`)", code="key_expired")
        return Principal(key_id=rec.id, team_id=rec.team_id, user_id=rec.user_id), rec
