"""Teams, virtual keys and the admin audit log, stored in the spend database.

Keys are stored only as keyed hashes (HMAC-SHA256 with a server secret, see gateway/spend/auth.py);
the plaintext is returned once, at creation or rotation. Every change writes an audit row.
Synchronous (SQLAlchemy Core): the admin API calls it through a thread, the CLI directly.
"""

from __future__ import annotations

import math
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
import sqlalchemy as sa

from gateway.clock import Clock, SystemClock
from gateway.spend.schema import audit, keys, teams

Period = Literal["day", "month"]
KEY_PREFIX = "sk-sluice-"


class StoreError(Exception):
    """A store request cannot be done (unknown id, duplicate name); the message says why."""


@dataclass(slots=True)
class Team:
    id: str
    name: str
    budget_usd: float | None = None
    budget_period: str | None = None
    created_at: float = 0.0


@dataclass(slots=True)
class KeyRecord:
    id: str
    prefix: str
    name: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    allowed_models: list[str] | None = None
    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None
    budget_period: str | None = None
    expires_at: float | None = None
    revoked_at: float | None = None
    created_at: float = 0.0
    rotated_from: str | None = None
    team: Team | None = field(default=None, repr=False)

    def public(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__slots__ if k != "team"}  # type: ignore[attr-defined]
        return d


def _key_from_row(r: Any) -> KeyRecord:
    m = r._mapping
    return KeyRecord(
        id=m["id"], prefix=m["prefix"], name=m["name"], team_id=m["team_id"], user_id=m["user_id"],
        allowed_models=orjson.loads(m["allowed_models"]) if m["allowed_models"] else None,
        rpm=m["rpm"], tpm=m["tpm"], budget_usd=m["budget_usd"], budget_period=m["budget_period"],
        expires_at=m["expires_at"], revoked_at=m["revoked_at"], created_at=m["created_at"],
        rotated_from=m["rotated_from"],
    )


def _team_from_row(r: Any) -> Team:
    m = r._mapping
    return Team(id=m["id"], name=m["name"], budget_usd=m["budget_usd"], budget_period=m["budget_period"],
                created_at=m["created_at"])


# What a key row can hold and a JSON response can carry back: the row and its plaintext are one
# unit, so a value that would fail after the insert (an infinite expiry, an int past SQLite's
# 64-bit INTEGER) is refused before it.
_MAX_INT = 2**63 - 1


def _check_key_values(*, rpm: int | None, tpm: int | None, budget_usd: float | None,
                      expires_at: float | None) -> None:
    for name, n in (("rpm", rpm), ("tpm", tpm)):
        if n is not None and not 0 < n <= _MAX_INT:
            raise StoreError(f"{name} must be a positive integer of at most {_MAX_INT}")
    if budget_usd is not None and not (math.isfinite(budget_usd) and budget_usd >= 0):
        raise StoreError("budget_usd must be a finite number of dollars, 0 or more")
    if expires_at is not None and not math.isfinite(expires_at):
        raise StoreError("the expiry must be a finite time; give a number of days")


def new_plaintext_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class KeyStore:
    def __init__(self, engine: sa.Engine, hasher: Any, *, clock: Clock | None = None) -> None:
        """`hasher` has `.hash(plaintext) -> str` (gateway.spend.auth.KeyHasher)."""
        self.engine = engine
        self.hasher = hasher
        self.clock = clock or SystemClock()

    def _audit(self, conn: sa.Connection, actor: str, action: str, target: str | None, details: Any) -> None:
        conn.execute(audit.insert().values(ts=self.clock.time(), actor=actor, action=action, target=target,
                                           details=orjson.dumps(details).decode() if details is not None else None))

    # -- teams -----------------------------------------------------------------------------------
    def create_team(self, name: str, *, budget_usd: float | None = None, budget_period: Period | None = None,
                    actor: str = "admin") -> Team:
        if budget_usd is not None and budget_period is None:
            budget_period = "month"
        team = Team(id="team_" + uuid.uuid4().hex[:12], name=name, budget_usd=budget_usd,
                    budget_period=budget_period, created_at=self.clock.time())
        try:
            with self.engine.begin() as conn:
                conn.execute(teams.insert().values(id=team.id, name=name, budget_usd=budget_usd,
                                                   budget_period=budget_period, created_at=team.created_at))
                self._audit(conn, actor, "team.create", team.id, {"name": name, "budget_usd": budget_usd,
                                                                  "budget_period": budget_period})
        except sa.exc.IntegrityError:
            raise StoreError(f"a team named {name!r} already exists") from None
        return team

    def get_team(self, team_id: str) -> Team | None:
        with self.engine.connect() as conn:
            r = conn.execute(teams.select().where(sa.or_(teams.c.id == team_id, teams.c.name == team_id))).first()
        return _team_from_row(r) if r else None

    def list_teams(self) -> list[Team]:
        with self.engine.connect() as conn:
            return [_team_from_row(r) for r in conn.execute(teams.select().order_by(teams.c.created_at))]

    def update_team(self, team_id: str, *, actor: str = "admin", **changes: Any) -> Team:
        team = self.get_team(team_id)
        if team is None:
            raise StoreError(f"no team {team_id!r}; list them with `sluice teams list`")
        allowed = {"budget_usd", "budget_period", "name"}
        bad = set(changes) - allowed
        if bad:
            raise StoreError(f"cannot change {sorted(bad)} on a team; changeable: {sorted(allowed)}")
        if not changes:  # nothing to change (an UPDATE with no SET is not SQL)
            return team
        with self.engine.begin() as conn:
            conn.execute(teams.update().where(teams.c.id == team.id).values(**changes))
            self._audit(conn, actor, "team.update", team.id, changes)
        return self.get_team(team.id)  # type: ignore[return-value]

    # -- keys ------------------------------------------------------------------------------------
    def create_key(
        self,
        *,
        name: str | None = None,
        team_id: str | None = None,
        user_id: str | None = None,
        allowed_models: list[str] | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        budget_usd: float | None = None,
        budget_period: Period | None = None,
        expires_at: float | None = None,
        actor: str = "admin",
        _rotated_from: str | None = None,
    ) -> tuple[KeyRecord, str]:
        """Returns the record and the plaintext key, which is never stored or shown again."""
        _check_key_values(rpm=rpm, tpm=tpm, budget_usd=budget_usd, expires_at=expires_at)
        if team_id is not None:
            team = self.get_team(team_id)
            if team is None:
                raise StoreError(f"no team {team_id!r}; create it with `sluice teams create NAME`")
            team_id = team.id
        if budget_usd is not None and budget_period is None:
            budget_period = "month"
        plaintext = new_plaintext_key()
        rec = KeyRecord(
            id="key_" + uuid.uuid4().hex[:16], prefix=plaintext[: len(KEY_PREFIX) + 4], name=name, team_id=team_id,
            user_id=user_id, allowed_models=allowed_models, rpm=rpm, tpm=tpm, budget_usd=budget_usd,
            budget_period=budget_period, expires_at=expires_at, created_at=self.clock.time(),
            rotated_from=_rotated_from,
        )
        values = rec.public()
        values["allowed_models"] = orjson.dumps(allowed_models).decode() if allowed_models is not None else None
        values["key_hash"] = self.hasher.hash(plaintext)
        with self.engine.begin() as conn:
            conn.execute(keys.insert().values(**values))
            self._audit(conn, actor, "key.rotate" if _rotated_from else "key.create", rec.id,
                        {k: v for k, v in rec.public().items() if k not in ("id", "created_at")})
        return rec, plaintext

    def get_key(self, key_id: str) -> KeyRecord | None:
        with self.engine.connect() as conn:
            r = conn.execute(keys.select().where(keys.c.id == key_id)).first()
        return _key_from_row(r) if r else None

    def find_by_hash(self, key_hash: str) -> KeyRecord | None:
        with self.engine.connect() as conn:
            r = conn.execute(keys.select().where(keys.c.key_hash == key_hash)).first()
            if r is None:
                return None
            rec = _key_from_row(r)
            if rec.team_id:
                t = conn.execute(teams.select().where(teams.c.id == rec.team_id)).first()
                rec.team = _team_from_row(t) if t else None
        return rec

    def list_keys(self, *, team_id: str | None = None, include_revoked: bool = False) -> list[KeyRecord]:
        q = keys.select().order_by(keys.c.created_at)
        if team_id:
            q = q.where(keys.c.team_id == team_id)
        if not include_revoked:
            q = q.where(keys.c.revoked_at.is_(None))
        with self.engine.connect() as conn:
            return [_key_from_row(r) for r in conn.execute(q)]

    def revoke_key(self, key_id: str, *, actor: str = "admin") -> KeyRecord:
        rec = self.get_key(key_id)
        if rec is None:
            raise StoreError(f"no key {key_id!r}; list them with `sluice keys list`")
        if rec.revoked_at is None:
            now = self.clock.time()
            with self.engine.begin() as conn:
                conn.execute(keys.update().where(keys.c.id == key_id).values(revoked_at=now))
                self._audit(conn, actor, "key.revoke", key_id, None)
            rec.revoked_at = now
        return rec

    def rotate_key(self, key_id: str, *, actor: str = "admin") -> tuple[KeyRecord, str]:
        """Revoke a key and issue a new one with the same owner, limits and budget."""
        old = self.get_key(key_id)
        if old is None:
            raise StoreError(f"no key {key_id!r}; list them with `sluice keys list`")
        if old.revoked_at is not None:
            raise StoreError(f"key {key_id} is revoked; create a new key instead of rotating it")
        new, plaintext = self.create_key(
            name=old.name, team_id=old.team_id, user_id=old.user_id, allowed_models=old.allowed_models,
            rpm=old.rpm, tpm=old.tpm, budget_usd=old.budget_usd, budget_period=old.budget_period,  # type: ignore[arg-type]
            expires_at=old.expires_at, actor=actor, _rotated_from=old.id,
        )
        self.revoke_key(old.id, actor=actor)
        return new, plaintext

    def audit_log(self, *, limit: int = 100) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(audit.select().order_by(audit.c.id.desc()).limit(limit))
            return [
                {**r._mapping, "details": orjson.loads(r.details) if r.details else None} for r in rows
            ]
