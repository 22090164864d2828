"""/ui: sign in with the master key (everything) or a team's virtual key (its team only); the
spend overview; a CSV export equal to GET /sluice/v1/spend/report?format=csv."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jinja2
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from gateway.api.deps import configured_master_key
from gateway.errors import AuthenticationError, InvalidRequest, NotFound
from gateway.spend.auth import is_master_key
from gateway.spend.keystore import KEY_PREFIX
from gateway.spend.reports import ReportError, ReportQuery, grouped, totals
from gateway.spend.reports_render import to_csv
from gateway.spend.service import spend_service
from gateway.ui.format import usd
from gateway.ui.sessions import Session, SessionStore, csrf_ok

COOKIE = "sluice_ui"
_HERE = Path(__file__).parent
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(_HERE / "templates"),
                          autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined)
_ENV.filters["usd"] = usd
_MAX_FORM = 16_384


def _page(name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    return HTMLResponse(_ENV.get_template(name).render(**ctx), status_code=status,
                        headers={"cache-control": "no-store", "x-frame-options": "DENY",
                                 "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"})


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > _MAX_FORM:
        raise InvalidRequest("the form is too large", code="form_too_large")
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise InvalidRequest("the form is not UTF-8", code="invalid_form") from None
    return {k: v[0] for k, v in parsed.items()}


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
    r = APIRouter(prefix="/ui", include_in_schema=False)
    store = SessionStore(gateway.clock.monotonic, **({} if idle_s is None else {"idle_s": idle_s}))
    r.sessions = store  # type: ignore[attr-defined]  # tests and the app reach the store through the router

    def session_of(request: Request) -> Session | None:
        return store.get(request.cookies.get(COOKIE))

    def to_login() -> RedirectResponse:
        return RedirectResponse("/ui/login", status_code=303)

    @r.get("/static/console.css")
    async def css() -> Response:
        return Response((_HERE / "static" / "console.css").read_bytes(), media_type="text/css",
                        headers={"cache-control": "max-age=300"})

    @r.get("", response_class=HTMLResponse)
    @r.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        return RedirectResponse("/ui/spend" if session_of(request) else "/ui/login", status_code=303)

    @r.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request) -> Response:
        if session_of(request):
            return RedirectResponse("/ui/spend", status_code=303)
        return _page("login.html", error=None)

    @r.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        form = await _form(request)
        who = await _principal(request.app.state.gateway, form.get("key", "").strip())
        if who is None:
            return _page("login.html", 401, error="That key cannot sign in here: use the master key or a "
                                                  "virtual key that belongs to a team.")
        s = store.create(*who)
        resp = RedirectResponse("/ui/spend", status_code=303)
        resp.set_cookie(COOKIE, s.sid, httponly=True, samesite="strict", path="/ui",
                        secure=request.url.scheme == "https")
        return resp

    @r.post("/logout")
    async def logout(request: Request) -> Response:
        s = session_of(request)
        if s is None:
            return to_login()
        form = await _form(request)
        if not csrf_ok(s, form.get("csrf")):
            return PlainTextResponse("missing or wrong CSRF token; reload the page and try again", status_code=403)
        store.drop(s.sid)
        resp = to_login()
        resp.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
        return resp

    def query(s: Session, by: list[str]) -> ReportQuery:
        try:
            return ReportQuery(by=by, team_id=s.team_id)
        except ReportError as exc:
            raise InvalidRequest(str(exc), code="invalid_report") from None

    def spend_svc(request: Request) -> Any:
        gw = request.app.state.gateway
        if not gw.config.spend.enabled:
            raise NotFound("spend is off in this gateway's config (spend.enabled: false)", code="capability_disabled")
        return spend_service(gw)

    @r.get("/spend", response_class=HTMLResponse)
    async def spend(request: Request) -> Response:
        s = session_of(request)
        if s is None:
            return to_login()
        svc = spend_svc(request)

        def load() -> dict[str, Any]:
            out: dict[str, Any] = {"total": totals(svc.engine, query(s, []))}
            for dim in ("team", "key", "model"):
                out[dim] = grouped(svc.engine, query(s, [dim]))
            return out

        data = await asyncio.to_thread(load)
        return _page("spend.html", session=s, data=data)

    @r.get("/spend.csv")
    async def spend_csv(request: Request, by: str = Query(default="team")) -> Response:
        s = session_of(request)
        if s is None:
            raise AuthenticationError("sign in at /ui/login first", code="missing_session")
        svc = spend_svc(request)
        dims = [b.strip() for b in by.split(",") if b.strip()]
        q = query(s, dims)
        body = await asyncio.to_thread(lambda: to_csv(grouped(svc.engine, q), q.by))
        return PlainTextResponse(body, media_type="text/csv; charset=utf-8",
                                 headers={"content-disposition": f'attachment; filename="spend-{"-".join(dims)}.csv"'})

    return r
