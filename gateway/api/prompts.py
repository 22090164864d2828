"""Read-only prompt registry API under /sluice/v1/prompts: list, show, render, history.

Admin only: every call needs `Authorization: Bearer <master key>` (gateway/api/deps.py
`require_admin`; the key is the env var `auth.master_key_env` names, and with none configured the
API refuses with 403 master_key_not_configured instead of being open). Changing labels
stays with `sluice prompts promote` (the gate runs there, next to the eval suites).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse

from gateway.api.deps import require_admin
from gateway.api.schemas import error_responses
from gateway.errors import NotFound, SluiceError
from gateway.integrations.prompts import _map_error
from prompts import PromptError, PromptRegistry, attestations_for


def _error(e: SluiceError) -> JSONResponse:
    return JSONResponse(e.body(), status_code=e.status, headers=e.headers)


def current_registry(request: Request) -> PromptRegistry:
    """The prompt registry of the generation serving now (a reload may point it elsewhere or turn
    prompts off); mounted once, this router always answers from the live config."""
    registry: PromptRegistry | None = request.app.state.gateway.generation.prompt_registry
    if registry is None:
        raise NotFound("prompts are off in this gateway's config (prompts.enabled: false)",
                       code="capability_disabled")
    return registry


Registry = Annotated[PromptRegistry, Depends(current_registry)]


def build_router() -> APIRouter:
    router = APIRouter(prefix="/sluice/v1/prompts", tags=["prompts"], dependencies=[Depends(require_admin)],
                       responses=error_responses(400, 401, 403, 404, 500))

    @router.get("")
    def list_prompts(registry: Registry) -> dict[str, Any]:
        data = []
        for name in registry.names():
            latest = registry.latest(name)
            data.append({"name": name, "versions": registry.versions(name), "labels": registry.labels(name),
                         "description": latest.description})
        return {"object": "list", "data": data}

    @router.get("/{name}")
    def show(name: str, registry: Registry, ref: str | None = None) -> Any:
        try:
            spec = registry.resolve(name, ref)
        except PromptError as e:
            return _error(_map_error(e, name, ref))
        return {"ref": spec.ref, "content_hash": spec.content_hash(), "labels": registry.labels(name),
                "prompt": spec.model_dump(mode="json", exclude_none=True)}

    @router.post("/{name}/render")
    def render(name: str, payload: Annotated[dict[str, Any], Body()], registry: Registry) -> Any:
        ref = payload.get("label") or (str(payload["version"]) if payload.get("version") is not None else None)
        try:
            rendered = registry.render(name, ref, payload.get("variables") or {})
        except PromptError as e:
            return _error(_map_error(e, name, ref))
        return {"ref": rendered.ref, "content_hash": rendered.content_hash, "body": rendered.request_body()}

    @router.get("/{name}/history")
    def history(name: str, registry: Registry) -> Any:
        try:
            registry.versions(name)
        except PromptError as e:
            return _error(_map_error(e, name, None))
        moves = [m.to_record() for m in registry.label_moves(name)]
        atts = [a.model_dump(mode="json") for a in attestations_for(registry, name)]
        return {"label_moves": moves, "attestations": atts}

    return router
