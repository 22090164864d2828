"""/ui: sign in with the master key (everything) or a team's virtual key (its team only), sign out,
the stylesheet; the pages themselves live in one module each and add their routes here."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway.api.deps import configured_master_key
from gateway.errors import AuthenticationError
from gateway.spend.auth import is_master_key
from gateway.spend.keystore import KEY_PREFIX
from gateway.spend.service import spend_service
from gateway.ui import evals, keys, live, prompts, spend
from gateway.ui.console import COOKIE, HERE, Console
from gateway.ui.sessions import SessionStore

PAGES = (spend, keys, prompts, evals, live)


async def _principal(gateway: Any, key: str) -> tuple[str | None, str] | None:
    """(team id or None for the admin, a label) for a key that may use the console, else None."""
    if not key:
        return None
    if is_master_key(key, configured_master_key(gateway)):  # constant-time
        return None, "admin"
    if not key.startswith(KEY_PREFIX) or not gateway.config.auth.enabled or not gateway.config.spend.enabled:
        return None
    svc = spend_service(gateway)
    try:
        principal, rec = await svc.authenticator.authenticate({"authorization": f"Bearer {key}"})
    except AuthenticationError:
        return None
    if principal.is_admin or rec is None or rec.team_id is None:
        return None
    return rec.team_id, f"team {rec.team_id}"


def build_ui_router(gateway: Any, *, idle_s: float | None = None) -> APIRouter:
    store = SessionStore(gateway.clock.monotonic) if idle_s is None else SessionStore(gateway.clock.monotonic, idle_s)
    console = Console(gateway, store)
    r = console.router
    r.sessions = store  # type: ignore[attr-defined]  # tests and the app reach the store through the router

    @r.get("/static/console.css")
    async def css() -> Response:
        return Response((HERE / "static" / "console.css").read_bytes(), media_type="text/css",
                        headers={"cache-control": "max-age=300", "x-content-type-options": "nosniff"})

    @r.get("", response_class=HTMLResponse)
    @r.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        return RedirectResponse("/ui/spend" if console.session_of(request) else "/ui/login", status_code=303)

    @r.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request) -> Response:
        if console.session_of(request):
            return RedirectResponse("/ui/spend", status_code=303)
        return console.page("login.html", error=None)

    @r.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        form = await console.form(request)
        who = await _principal(request.app.state.gateway, form.get("key", "").strip())
        if who is None:
            return console.page("login.html", 401, error="That key cannot sign in here: use the master key or a "
                                                          "virtual key that belongs to a team.")
        s = store.create(*who)
        resp = RedirectResponse("/ui/spend", status_code=303)
        resp.set_cookie(COOKIE, s.sid, httponly=True, samesite="strict", path="/ui",
                        secure=request.url.scheme == "https")
        return resp

    @r.post("/logout")
    async def logout(request: Request) -> Response:
        got = await console.change(request)
        if isinstance(got, Response):
            return got
        store.drop(got[0].sid)
        resp = console.to_login()
        resp.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
        return resp

    for module in PAGES:
        module.add_routes(console)
    return r
