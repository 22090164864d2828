"""Admin API for virtual keys, teams and the audit log, under /sluice/v1/ (master key only).

Every route is behind gateway/api/deps.py's `require_admin`: the master key from the env var that
`auth.master_key_env` names (SLUICE_MASTER_KEY by default); without it the admin API refuses (403).
A key's plaintext is in the response to create/rotate only; it is never stored or shown again.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import require_admin
from gateway.errors import InvalidRequest, NotFound
from gateway.spend.keystore import StoreError
from gateway.spend.service import SpendService, spend_service


class _Body(BaseModel):
    # allow_inf_nan=False: Python's JSON parser accepts `Infinity` and `NaN`, which the database
    # would store and no JSON response could carry back.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# Bounds the database and the JSON responses can hold: an unbounded int overflows SQLite's
# INTEGER, and an expiry past year 9999 is not a date. Checked before anything is written.
_MAX_RATE = 2**31 - 1
_MAX_USD = 1e12
_MAX_EXPIRY_DAYS = 36_500  # 100 years
_Text = Annotated[str, Field(max_length=256)]


class KeyCreate(_Body):
    name: _Text | None = None
    team: _Text | None = Field(default=None, description="team id or name")
    user: _Text | None = None
    models: list[_Text] | None = Field(default=None, max_length=1000,
                                       description="allowed model names or glob patterns; null: all")
    rpm: int | None = Field(default=None, gt=0, le=_MAX_RATE)
    tpm: int | None = Field(default=None, gt=0, le=_MAX_RATE)
    budget_usd: float | None = Field(default=None, ge=0, le=_MAX_USD)
    budget_period: Literal["day", "month"] | None = None
    expires_in_days: float | None = Field(default=None, gt=0, le=_MAX_EXPIRY_DAYS)


class TeamCreate(_Body):
    name: str = Field(min_length=1, max_length=128)
    budget_usd: float | None = Field(default=None, ge=0, le=_MAX_USD)
    budget_period: Literal["day", "month"] | None = None


class TeamUpdate(_Body):
    budget_usd: float | None = Field(default=None, ge=0, le=_MAX_USD)
    budget_period: Literal["day", "month"] | None = None


def admin_spend(request: Request) -> SpendService:
    """The gateway's SpendService, for routes already behind `require_admin`. Mounted once, the
    router answers from the live config: with keys and spend both off there is nothing to manage."""
    gateway = request.app.state.gateway
    if not (gateway.config.auth.enabled or gateway.config.spend.enabled):
        raise NotFound("keys and spend are off in this gateway's config (auth.enabled and spend.enabled "
                       "are false)", code="capability_disabled")
    return spend_service(gateway)


def _store_call(fn: Any, *args: Any, **kw: Any) -> Any:
    try:
        return fn(*args, **kw)
    except StoreError as exc:
        msg = str(exc)
        raise (NotFound(msg) if msg.startswith("no ") else InvalidRequest(msg)) from None


def build_admin_router(gateway: Any) -> APIRouter:
    r = APIRouter(prefix="/sluice/v1", tags=["admin"], dependencies=[Depends(require_admin)])

    @r.post("/keys", status_code=201)
    async def create_key(body: KeyCreate, svc: SpendService = Depends(admin_spend)) -> JSONResponse:
        expires = svc.clock.time() + body.expires_in_days * 86400 if body.expires_in_days else None
        rec, plaintext = await asyncio.to_thread(
            _store_call, svc.store.create_key, name=body.name, team_id=body.team, user_id=body.user,
            allowed_models=body.models, rpm=body.rpm, tpm=body.tpm, budget_usd=body.budget_usd,
            budget_period=body.budget_period, expires_at=expires, actor="master")
        return JSONResponse({"key": plaintext, "note": "store this key now: it is not shown again", **rec.public()},
                            status_code=201)

    @r.get("/keys")
    async def list_keys(team: str | None = None, include_revoked: bool = False,
                        svc: SpendService = Depends(admin_spend)) -> dict[str, Any]:
        team_id = None
        if team:
            t = await asyncio.to_thread(svc.store.get_team, team)
            if t is None:
                raise NotFound(f"no team {team!r}")
            team_id = t.id
        recs = await asyncio.to_thread(svc.store.list_keys, team_id=team_id, include_revoked=include_revoked)
        return {"data": [k.public() for k in recs]}

    @r.get("/keys/{key_id}")
    async def show_key(key_id: str, svc: SpendService = Depends(admin_spend)) -> dict[str, Any]:
        rec = await asyncio.to_thread(svc.store.get_key, key_id)
        if rec is None:
            raise NotFound(f"no key {key_id!r}; list them with GET /sluice/v1/keys")
        return rec.public()

    @r.post("/keys/{key_id}/revoke")
    async def revoke_key(key_id: str, svc: SpendService = Depends(admin_spend)) -> dict[str, Any]:
        rec = await asyncio.to_thread(_store_call, svc.store.revoke_key, key_id, actor="master")
        svc.authenticator.invalidate()
        return rec.public()  # type: ignore[no-any-return]

    @r.post("/keys/{key_id}/rotate")
    async def rotate_key(key_id: str, svc: SpendService = Depends(admin_spend)) -> JSONResponse:
        rec, plaintext = await asyncio.to_thread(_store_call, svc.store.rotate_key, key_id, actor="master")
        svc.authenticator.invalidate()
        return JSONResponse({"key": plaintext, "note": "store this key now: it is not shown again", **rec.public()},
                            status_code=201)

    @r.post("/teams", status_code=201)
    async def create_team(body: TeamCreate, svc: SpendService = Depends(admin_spend)) -> dict[str, Any]:
        t = await asyncio.to_thread(_store_call, svc.store.create_team, body.name, budget_usd=body.budget_usd,
                                    budget_period=body.budget_period, actor="master")
        return vars_of(t)

    @r.get("/teams")
    async def list_teams(svc: SpendService = Depends(admin_spend)) -> dict[str, Any]:
        return {"data": [vars_of(t) for t in await asyncio.to_thread(svc.store.list_teams)]}

    @r.get("/teams/{team_id}")
    async def show_team(team_id: str, svc: SpendService = Depends(admin_spend)) -> dict[str, Any]:
        t = await asyncio.to_thread(svc.store.get_team, team_id)
        if t is None:
            raise NotFound(f"no team {team_id!r}; list them with GET /sluice/v1/teams")
        return vars_of(t)

    @r.patch("/teams/{team_id}")
    async def update_team(team_id: str, body: TeamUpdate, svc: SpendService = Depends(admin_spend)) -> dict[str, Any]:
        changes = body.model_dump(exclude_unset=True)
        if not changes:  # nothing to change: answer the team as it is (an UPDATE with no columns is invalid SQL)
            return await show_team(team_id, svc)
        t = await asyncio.to_thread(_store_call, svc.store.update_team, team_id, actor="master", **changes)
        svc.authenticator.invalidate()
        return vars_of(t)

    @r.get("/audit")
    async def audit_log(limit: int = Query(default=100, ge=1, le=10_000),
                        svc: SpendService = Depends(admin_spend)) -> dict[str, Any]:
        return {"data": await asyncio.to_thread(svc.store.audit_log, limit=limit)}

    return r


def vars_of(obj: Any) -> dict[str, Any]:
    return {k: getattr(obj, k) for k in obj.__slots__}
