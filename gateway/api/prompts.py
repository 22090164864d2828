"""Prompt registry API under /sluice/v1/prompts: list, show, render, history, promote, rollback.

Admin only: every call needs `Authorization: Bearer <master key>` (gateway/api/deps.py
`require_admin`; the key is the env var `auth.master_key_env` names, and with none configured the
API refuses with 403 master_key_not_configured instead of being open). Promote and rollback run
the same gate as `sluice prompts` (signed attestations, the suite and dataset the prompt declares,
this generation's label policy); the actor recorded is the authenticated identity, not a claim.
Errors are OpenAI-shaped and never carry a file path or file content.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import require_admin
from gateway.api.schemas import error_responses
from gateway.errors import InvalidRequest, NotFound, SluiceError
from gateway.integrations.prompts import _map_error, suite_fingerprint
from prompts import (
    IntegrityError,
    InvalidName,
    PromotionRefused,
    PromptError,
    PromptFileError,
    PromptNotFound,
    PromptRegistry,
    attestations_for,
    promote,
    rollback,
)
from prompts.config import PromptsConfig

# Only the master key reaches these routes (require_admin); it is the identity recorded.
ADMIN_ACTOR = "admin:master-key"


class PromoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=999_999_999)
    label: str = "production"
    reason: str = Field(default="", max_length=2000)
    force: bool = False


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = "production"
    reason: str = Field(default="", max_length=2000)
    force: bool = False


class PromotionRefusedError(SluiceError):
    status = 409
    type = "invalid_request_error"
    code = "promotion_refused"


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


def current_config(request: Request) -> PromptsConfig:
    return request.app.state.gateway.generation.config.prompts  # type: ignore[no-any-return]


Registry = Annotated[PromptRegistry, Depends(current_registry)]
Settings = Annotated[PromptsConfig, Depends(current_config)]




def _refused(e: PromotionRefused) -> JSONResponse:
    att = e.details.get("attestation")
    extra = {"attestation": {"id": att.id, "scores": att.scores, "thresholds": att.thresholds,
                             "failures": att.failures[:5]}} if att is not None else {}
    return _error(PromotionRefusedError(e.message, extra=extra))


def _move_body(move: Any) -> dict[str, Any]:
    return move.to_record()  # type: ignore[no-any-return]


def build_router() -> APIRouter:
    router = APIRouter(prefix="/sluice/v1/prompts", tags=["prompts"], dependencies=[Depends(require_admin)],
                       responses=error_responses(400, 401, 403, 404, 409, 500))

    @router.get("")
    def list_prompts(registry: Registry) -> dict[str, Any]:
        data = []
        for name in registry.names():
            try:
                description = registry.latest(name).description
            except PromptError:
                description = None  # a broken latest file: listed, with its releases, never a 500
            moves = registry.current_moves(name)
            data.append({"name": name, "versions": registry.versions(name), "labels": registry.labels(name),
                         "forced": sorted(label for label, m in moves.items() if m.forced),
                         "description": description})
        problems = registry.problems()
        return {"object": "list", "data": data, "integrity": {"verified": not problems, "problems": problems}}

    @router.get("/{name}")
    def show(name: str, registry: Registry, ref: str | None = None) -> Any:
        try:
            spec = registry.resolve(name, ref)
            moves = registry.current_moves(name)
        except PromptError as e:
            return _error(_map_error(e, name, ref))
        return {"ref": spec.ref, "content_hash": spec.content_hash(), "labels": registry.labels(name),
                "forced": sorted(label for label, m in moves.items() if m.forced),
                "prompt": spec.model_dump(mode="json", exclude_none=True)}

    @router.post("/{name}/render")
    def render(name: str, payload: Annotated[dict[str, Any], Body()], registry: Registry) -> Any:
        label, version = payload.get("label"), payload.get("version")
        if (label is not None and not isinstance(label, str)) or (version is not None and (
                not isinstance(version, int) or isinstance(version, bool))):
            return _error(InvalidRequest("label must be a string and version an integer", param="label",
                                         code="invalid_value"))
        ref = label or (str(version) if version is not None else None)
        variables = payload.get("variables") or {}
        if not isinstance(variables, dict):
            return _error(InvalidRequest("variables must be an object", param="variables", code="invalid_value"))
        try:
            rendered = registry.render(name, ref, variables)
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

    @router.post("/{name}/promote")
    def promote_route(name: str, payload: PromoteBody, registry: Registry, settings: Settings) -> Any:
        try:
            move = promote(registry, name, payload.version, payload.label, actor=ADMIN_ACTOR, reason=payload.reason,
                           force=payload.force, policy=settings.policy_for(payload.label), fingerprint=suite_fingerprint,
                           actor_claimed=False)
        except PromotionRefused as e:
            return _refused(e)
        except PromptError as e:
            return _error(_gate_error(e, name))
        return _move_body(move)

    @router.post("/{name}/rollback")
    def rollback_route(name: str, payload: RollbackBody, registry: Registry, settings: Settings) -> Any:
        try:
            move = rollback(registry, name, payload.label, actor=ADMIN_ACTOR, reason=payload.reason,
                            force=payload.force, policy=settings.policy_for(payload.label), fingerprint=suite_fingerprint,
                            actor_claimed=False)
        except PromotionRefused as e:
            return _refused(e)
        except PromptError as e:
            return _error(_gate_error(e, name))
        return _move_body(move)

    return router


def _gate_error(e: PromptError, name: str) -> SluiceError:
    """A gate error that is not a refusal: an unknown prompt, a bad name, --force without a reason."""
    if isinstance(e, PromptNotFound | PromptFileError | InvalidName | IntegrityError):
        return _map_error(e, name, None)
    return InvalidRequest(e.message, code="prompt_move_invalid")
