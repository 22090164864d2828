"""/ui/keys: teams, virtual keys and the audit log, for the master key's session only (a team
session gets 403 on every route here). Changes go through the same request models the admin API
validates with (`KeyCreate`, `TeamCreate`, `TeamUpdate` in gateway/api/admin.py), the same store
calls with the API's actor ("master") so the same audit entries are written, and the same
authenticator invalidation. A key's plaintext is rendered once, on the page that answers the
create or rotate POST (no-store), and is never kept in the session or shown again."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from gateway.api.admin import KeyCreate, TeamCreate, TeamUpdate, _store_call
from gateway.errors import SluiceError
from gateway.spend.service import spend_service
from gateway.ui.console import Console, PageError, when
from gateway.ui.sessions import Session

ACTOR = "master"  # the admin API's actor for the master key: UI and API write the same audit entries
AUDIT_LIMIT = 100
AUDIT_MAX = 10_000


def _validated(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model(**data)
    except ValidationError as e:
        parts = [f"{'.'.join(str(x) for x in err['loc']) or 'form'}: {err['msg']}" for err in e.errors()]
        raise PageError(400, "; ".join(parts)) from None


def _number(form: dict[str, str], field: str, kind: type) -> Any:
    text = (form.get(field) or "").strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        word = "a whole number" if kind is int else "a number"
        raise PageError(400, f"{field}: must be {word} (got {text[:40]!r})") from None


def _text(form: dict[str, str], field: str) -> str | None:
    return (form.get(field) or "").strip() or None


def key_body(form: dict[str, str]) -> KeyCreate:
    name = _text(form, "name")
    if name is None:
        raise PageError(400, "name: give the key a name")
    models = [m.strip() for m in (form.get("models") or "").split(",") if m.strip()] or None
    data = {"name": name, "team": _text(form, "team"), "user": _text(form, "user"), "models": models,
            "rpm": _number(form, "rpm", int), "tpm": _number(form, "tpm", int),
            "budget_usd": _number(form, "budget_usd", float), "budget_period": _text(form, "budget_period"),
            "expires_in_days": _number(form, "expires_in_days", float)}
    return _validated(KeyCreate, {k: v for k, v in data.items() if v is not None})


def team_body(form: dict[str, str], model: type[BaseModel]) -> Any:
    data: dict[str, Any] = {"budget_usd": _number(form, "budget_usd", float),
                            "budget_period": _text(form, "budget_period")}
    if model is TeamCreate:
        data["name"] = (form.get("name") or "").strip()
        data = {k: v for k, v in data.items() if v is not None}
    elif form.get("clear_budget") == "on":
        data = {"budget_usd": None, "budget_period": None}
    else:
        data = {k: v for k, v in data.items() if v is not None}
    return _validated(model, data)


def add_routes(console: Console) -> None:
    r = console.router

    def service() -> Any:
        gw = console.gateway
        if not (gw.config.auth.enabled or gw.config.spend.enabled):
            raise PageError(404, "keys and spend are off in this gateway's config (auth.enabled and "
                                 "spend.enabled are false)")
        return spend_service(gw)

    def admin_session(request: Request) -> Session | Response:
        s = console.session_of(request)
        if s is None:
            return console.to_login()
        if not s.is_admin:
            return PlainTextResponse("keys and teams need the master key's session", status_code=403)
        return s

    async def keys_page(s: Session, *, status: int = 200, error: str | None = None,
                        done: str | None = None) -> Response:
        try:
            svc = service()
        except PageError as e:
            return console.page("keys_error.html", status=e.http_status, session=s, active="keys", message=e.message)

        def load() -> tuple[list[Any], list[Any]]:
            return svc.store.list_teams(), svc.store.list_keys(include_revoked=True)

        teams, keys = await asyncio.to_thread(load)
        names = {t.id: t.name for t in teams}
        return console.page("keys.html", status=status, session=s, active="keys", teams=teams, keys=keys,
                            team_names=names, error=error, done=done, when=when)

    async def changed(request: Request, act: Any, *, done: str) -> Response:
        got = await console.change(request, admin=True)
        if isinstance(got, Response):
            return got
        s, form = got
        try:
            svc = service()
            result = await act(svc, form)
        except PageError as e:
            return await keys_page(s, status=e.http_status, error=e.message)
        except SluiceError as e:  # the store's refusal as the API maps it (unknown id, duplicate name)
            return await keys_page(s, status=400 if e.status < 500 else 409, error=e.message)
        if isinstance(result, tuple):  # (record, plaintext): the once-only page, rendered directly
            rec, plaintext = result
            return console.page("keys_created.html", status=201, session=s, active="keys", rec=rec,
                                plaintext=plaintext, action=done)
        return RedirectResponse(f"/ui/keys?done={done}", status_code=303)

    @r.get("/keys", response_class=HTMLResponse)
    async def keys_list(request: Request) -> Response:
        s = admin_session(request)
        if isinstance(s, Response):
            return s
        done = request.query_params.get("done")
        return await keys_page(s, done=done[:40] if done else None)

    @r.get("/keys/audit", response_class=HTMLResponse)
    async def audit_page(request: Request) -> Response:
        s = admin_session(request)
        if isinstance(s, Response):
            return s
        text = request.query_params.get("limit") or str(AUDIT_LIMIT)
        if not text.isdigit() or not 1 <= int(text) <= AUDIT_MAX:
            return console.page("keys_error.html", status=400, session=s, active="keys",
                                message=f"limit must be a whole number from 1 to {AUDIT_MAX}")
        try:
            svc = service()
        except PageError as e:
            return console.page("keys_error.html", status=e.http_status, session=s, active="keys", message=e.message)
        rows = await asyncio.to_thread(svc.store.audit_log, limit=int(text))
        return console.page("audit.html", session=s, active="keys", rows=rows, limit=int(text), when=when)

    async def create_team(svc: Any, form: dict[str, str]) -> None:
        body = team_body(form, TeamCreate)
        await asyncio.to_thread(_store_call, svc.store.create_team, body.name, budget_usd=body.budget_usd,
                                budget_period=body.budget_period, actor=ACTOR)

    @r.post("/keys/teams", response_class=HTMLResponse)
    async def team_create_route(request: Request) -> Response:
        return await changed(request, create_team, done="team-created")

    @r.post("/keys/teams/{team_id}", response_class=HTMLResponse)
    async def team_update_route(request: Request, team_id: str) -> Response:
        async def act(svc: Any, form: dict[str, str]) -> None:
            body = team_body(form, TeamUpdate)
            changes = body.model_dump(exclude_unset=True)
            if await asyncio.to_thread(svc.store.get_team, team_id) is None:
                raise PageError(400, f"no team {team_id[:80]!r}; pick one from the list")
            if changes:  # the API answers an empty PATCH with the team as it is
                await asyncio.to_thread(_store_call, svc.store.update_team, team_id, actor=ACTOR, **changes)
                svc.authenticator.invalidate()
        return await changed(request, act, done="team-updated")

    @r.post("/keys/new", response_class=HTMLResponse)
    async def key_create_route(request: Request) -> Response:
        async def act(svc: Any, form: dict[str, str]) -> Any:
            body = key_body(form)
            expires = svc.clock.time() + body.expires_in_days * 86400 if body.expires_in_days else None
            return await asyncio.to_thread(
                _store_call, svc.store.create_key, name=body.name, team_id=body.team, user_id=body.user,
                allowed_models=body.models, rpm=body.rpm, tpm=body.tpm, budget_usd=body.budget_usd,
                budget_period=body.budget_period, expires_at=expires, actor=ACTOR)
        return await changed(request, act, done="created")

    async def known_key(svc: Any, key_id: str) -> None:
        if await asyncio.to_thread(svc.store.get_key, key_id) is None:
            raise PageError(400, f"no key {key_id[:80]!r}; pick one from the list")

    @r.post("/keys/{key_id}/revoke", response_class=HTMLResponse)
    async def key_revoke_route(request: Request, key_id: str) -> Response:
        async def act(svc: Any, form: dict[str, str]) -> None:
            await known_key(svc, key_id)
            if form.get("confirm") != "yes":
                raise PageError(400, "tick the box to confirm the revocation")
            await asyncio.to_thread(_store_call, svc.store.revoke_key, key_id, actor=ACTOR)
            svc.authenticator.invalidate()
        return await changed(request, act, done="revoked")

    @r.post("/keys/{key_id}/rotate", response_class=HTMLResponse)
    async def key_rotate_route(request: Request, key_id: str) -> Response:
        async def act(svc: Any, form: dict[str, str]) -> Any:
            await known_key(svc, key_id)
            got = await asyncio.to_thread(_store_call, svc.store.rotate_key, key_id, actor=ACTOR)
            svc.authenticator.invalidate()
            return got
        return await changed(request, act, done="rotated")

