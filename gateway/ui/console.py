"""What every console page shares: the session of a request, page rendering with the security
headers, form parsing, the CSRF check for changes, and the spend service when spend is on.

Page modules (spend.py, keys.py, prompts.py, ...) each add their routes to the console's router
with `add_routes(console)`; routes.py wires sign-in, sign-out and those modules together."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from gateway.errors import AuthenticationError, InvalidRequest, NotFound
from gateway.spend.service import spend_service
from gateway.ui.format import usd
from gateway.ui.sessions import Session, SessionStore, csrf_ok

COOKIE = "sluice_ui"
HERE = Path(__file__).parent
MAX_FORM = 16_384
SECURITY_HEADERS = {"cache-control": "no-store", "x-frame-options": "DENY", "x-content-type-options": "nosniff",
                    "referrer-policy": "same-origin",
                    "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                                               "form-action 'self'; base-uri 'none'"}

ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                         autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined)
ENV.filters["usd"] = usd


class PageError(Exception):
    """A 4xx page: its status and a message for people."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.http_status = status
        self.message = message


def when(t: float | None) -> str:
    """An epoch time as the console shows it (UTC)."""
    if t is None:
        return ""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class Console:
    """The console's router and the helpers its pages use."""

    def __init__(self, gateway: Any, store: SessionStore) -> None:
        self.gateway = gateway
        self.sessions = store
        self.router = APIRouter(prefix="/ui", include_in_schema=False)

    def session_of(self, request: Request) -> Session | None:
        return self.sessions.get(request.cookies.get(COOKIE))

    @staticmethod
    def to_login() -> RedirectResponse:
        return RedirectResponse("/ui/login", status_code=303)

    @staticmethod
    def page(name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        ctx.setdefault("session", None)
        ctx.setdefault("active", "")
        return HTMLResponse(ENV.get_template(name).render(**ctx), status_code=status, headers=SECURITY_HEADERS)

    @staticmethod
    async def form(request: Request) -> dict[str, str]:
        body = await request.body()
        if len(body) > MAX_FORM:
            raise InvalidRequest("the form is too large", code="form_too_large")
        try:
            parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise InvalidRequest("the form is not UTF-8", code="invalid_form") from None
        return {k: v[0] for k, v in parsed.items()}

    async def change(self, request: Request, *, admin: bool = False) -> tuple[Session, dict[str, str]] | Response:
        """The session and form of a POST that changes something, or the response that refuses it:
        no session (to sign-in), a missing or wrong CSRF token (403), a team session where the
        change needs the master key (403)."""
        s = self.session_of(request)
        if s is None:
            return self.to_login()
        form = await self.form(request)
        if not csrf_ok(s, form.get("csrf")):
            return PlainTextResponse("missing or wrong CSRF token; reload the page and try again", status_code=403)
        if admin and not s.is_admin:
            return PlainTextResponse("this change needs the master key's session", status_code=403)
        return s, form

    def require_session(self, request: Request) -> Session:
        """For endpoints that return data rather than a page (CSV): 401 without a session."""
        s = self.session_of(request)
        if s is None:
            raise AuthenticationError("sign in at /ui/login first", code="missing_session")
        return s

    def spend(self) -> Any:
        gw = self.gateway
        if not gw.config.spend.enabled:
            raise NotFound("spend is off in this gateway's config (spend.enabled: false)", code="capability_disabled")
        return spend_service(gw)
