"""/ui/prompts: the prompt registry of the generation serving now. Every session may look (team
sessions too: prompts carry no team ownership, and the pages only read); only the master key's
session may promote a version to a label or roll a label back, and it does so through exactly the
gate the CLI and the admin API use (`prompts.gate.promote` / `rollback` with this generation's
label policy and the gateway's suite fingerprint). A refusal shows the gate's own message with the
API's status (409 promotion_refused, 400/404 for a bad request) and changes nothing."""

from __future__ import annotations

import asyncio
import difflib
from typing import Any

import yaml
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway.api.prompts import ADMIN_ACTOR, _gate_error
from gateway.errors import SluiceError
from gateway.integrations.prompts import _map_error, suite_fingerprint
from gateway.ui.console import Console, PageError, when
from gateway.ui.sessions import Session
from prompts import PromotionRefused, PromptError, PromptRegistry, attestations_for, promote, rollback
from prompts import rollout as rollouts_mod

MAX_VERSION = 999_999_999
MAX_REASON = 2000


def parse_version(text: str | None, what: str) -> int:
    text = (text or "").strip().lstrip("v")
    if not text.isdigit() or not 1 <= int(text) <= MAX_VERSION:
        raise PageError(400, f"{what} must be a version number from 1 to {MAX_VERSION}")
    return int(text)


def _from_prompt_error(e: PromptError, name: str) -> PageError:
    mapped: SluiceError = _map_error(e, name, None)
    # a broken file or journal is the registry's state, not a server crash: a 409 page, never a 500
    return PageError(mapped.status if mapped.status < 500 else 409, mapped.message)


def spec_text(registry: PromptRegistry, name: str, version: int) -> list[str]:
    spec = registry.get(name, version)
    return yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False,
                          allow_unicode=True).splitlines()


def diff_lines(registry: PromptRegistry, name: str, a: int, b: int) -> list[tuple[str, str]]:
    """(css class, text) per line of a unified diff of version a to version b."""
    out: list[tuple[str, str]] = []
    for line in difflib.unified_diff(spec_text(registry, name, a), spec_text(registry, name, b),
                                     fromfile=f"{name} v{a}", tofile=f"{name} v{b}", lineterm=""):
        if line.startswith(("+++", "---")):
            kind = "hdr"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        out.append((kind, line))
    return out


def _active_rollouts(registry: PromptRegistry, name: str, labels: list[str]) -> list[Any]:
    found = []
    for label in sorted(set(labels) | {"production"}):
        ro = rollouts_mod.active(registry, name, label)
        if ro is not None:
            found.append(ro)
    return found


def overview(registry: PromptRegistry) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for name in registry.names():
        try:
            versions = registry.versions(name)
            labels = registry.labels(name)
            ros = _active_rollouts(registry, name, list(labels))
        except PromptError as e:
            rows.append({"name": name, "error": _from_prompt_error(e, name).message, "versions": [], "labels": {},
                         "rollouts": []})
            continue
        rows.append({"name": name, "error": None, "versions": versions, "labels": labels, "rollouts": ros})
    return {"prompts": rows, "problems": registry.problems()}


def detail(registry: PromptRegistry, name: str, a: int | None, b: int | None) -> dict[str, Any]:
    try:
        versions = registry.versions(name)
    except PromptError as e:
        raise _from_prompt_error(e, name) from None
    for v, what in ((a, "the first version"), (b, "the second version")):
        if v is not None and v not in versions:
            raise PageError(400, f"{what} (v{v}) is not a version of {name}; it has {', '.join(map(str, versions))}")
    try:
        rows = []
        for v in sorted(versions, reverse=True):
            try:
                spec = registry.get(name, v)
                rows.append({"version": v, "hash": spec.content_hash(), "description": spec.description, "error": None})
            except PromptError as e:
                rows.append({"version": v, "hash": "", "description": "", "error": _from_prompt_error(e, name).message})
        labels = registry.labels(name)
        moves = sorted(registry.label_moves(name), key=lambda m: m.time, reverse=True)
        atts = sorted(attestations_for(registry, name), key=lambda x: x.time, reverse=True)
        ros = _active_rollouts(registry, name, list(labels))
        diff = diff_lines(registry, name, a, b) if a is not None and b is not None else None
    except PromptError as e:
        raise _from_prompt_error(e, name) from None
    return {"name": name, "versions": rows, "version_numbers": sorted(versions, reverse=True), "labels": labels,
            "moves": moves, "attestations": atts, "rollouts": ros, "diff": diff, "a": a, "b": b}


def add_routes(console: Console) -> None:
    r = console.router

    def registry_of() -> PromptRegistry:
        reg: PromptRegistry | None = console.gateway.generation.prompt_registry
        if reg is None:
            raise PageError(404, "prompts are off in this gateway's config (prompts.enabled: false)")
        return reg

    def error_page(s: Session, e: PageError) -> Response:
        return console.page("prompt_error.html", status=e.http_status, session=s, active="prompts", message=e.message)

    async def detail_page(s: Session, name: str, a: int | None = None, b: int | None = None, *, status: int = 200,
                          refusal: str | None = None, done: str | None = None) -> Response:
        try:
            data = await asyncio.to_thread(detail, registry_of(), name, a, b)
        except PageError as e:
            return error_page(s, e)
        return console.page("prompt.html", status=status, session=s, active="prompts", p=data, when=when,
                            refusal=refusal, done=done)

    @r.get("/prompts", response_class=HTMLResponse)
    async def prompts_page(request: Request) -> Response:
        s = console.session_of(request)
        if s is None:
            return console.to_login()
        try:
            data = await asyncio.to_thread(overview, registry_of())
        except PageError as e:
            return error_page(s, e)
        return console.page("prompts.html", session=s, active="prompts", data=data, when=when)

    @r.get("/prompts/{name}", response_class=HTMLResponse)
    async def prompt_page(request: Request, name: str) -> Response:
        s = console.session_of(request)
        if s is None:
            return console.to_login()
        q = request.query_params
        try:
            a = parse_version(q.get("a"), "the first version") if q.get("a") else None
            b = parse_version(q.get("b"), "the second version") if q.get("b") else None
            if (a is None) != (b is None):
                raise PageError(400, "choose two versions to compare")
        except PageError as e:
            return error_page(s, e)
        done = q.get("moved")
        return await detail_page(s, name, a, b, done=done[:80] if done else None)

    async def move(request: Request, name: str, kind: str) -> Response:
        got = await console.change(request, admin=True)
        if isinstance(got, Response):
            return got
        s, form = got
        label = (form.get("label") or "production").strip()
        reason = form.get("reason", "")
        force = form.get("force") == "on"
        if len(reason) > MAX_REASON:
            return await detail_page(s, name, status=400, refusal=f"the reason is longer than {MAX_REASON} characters")
        try:
            version = parse_version(form.get("version"), "the version") if kind == "promote" else 0
            registry = registry_of()
        except PageError as e:
            return await detail_page(s, name, status=e.http_status, refusal=e.message)
        settings = console.gateway.generation.config.prompts

        def run() -> Any:
            kw: dict[str, Any] = {"actor": ADMIN_ACTOR, "reason": reason, "force": force,
                                  "policy": settings.policy_for(label), "fingerprint": suite_fingerprint,
                                  "actor_claimed": False}
            if kind == "promote":
                return promote(registry, name, version, label, **kw)
            return rollback(registry, name, label, **kw)

        try:
            await asyncio.to_thread(run)
        except PromotionRefused as e:
            return await detail_page(s, name, status=409, refusal=e.message)
        except PromptError as e:
            err = _gate_error(e, name)
            if err.status >= 500:  # a broken file or journal: a conflict with the registry's state, never a 500 page
                return await detail_page(s, name, status=409, refusal=err.message)
            if err.status == 404:
                return error_page(s, PageError(404, err.message))
            return await detail_page(s, name, status=err.status, refusal=err.message)
        return RedirectResponse(f"/ui/prompts/{name}?moved={label}", status_code=303)

    @r.post("/prompts/{name}/promote", response_class=HTMLResponse)
    async def promote_route(request: Request, name: str) -> Response:
        return await move(request, name, "promote")

    @r.post("/prompts/{name}/rollback", response_class=HTMLResponse)
    async def rollback_route(request: Request, name: str) -> Response:
        return await move(request, name, "rollback")
