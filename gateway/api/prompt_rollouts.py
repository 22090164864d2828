"""Rollout API under /sluice/v1/prompts/{name}/rollout: start, step, abort, promote, and the
status with the per-variant comparison (prompts/rollout_stats.py) read from the ledger.

Admin only, like the rest of /sluice/v1/prompts; start and promote run the same gate as
`sluice prompts rollout` and `promote`. The status answers without a comparison when spend is off
(no ledger to read)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import require_admin
from gateway.api.prompts import ADMIN_ACTOR, Registry, Settings, _error, _gate_error, _refused
from gateway.api.schemas import error_responses
from gateway.errors import NotFound
from gateway.integrations.prompts import suite_fingerprint
from gateway.integrations.rollout_health import _plain, rollout_report
from prompts import PromotionRefused, PromptError
from prompts import rollout as rollouts


class StartBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidate: int = Field(ge=1, le=999_999_999)
    label: str = "production"
    percent: int = Field(ge=1, le=100)


class StepBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = "production"
    percent: int = Field(ge=1, le=100)


class EndBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = "production"
    reason: str = Field(default="", max_length=2000)


def _summary(ro: rollouts.Rollout) -> dict[str, Any]:
    return {"id": ro.id, "prompt": ro.prompt, "label": ro.label, "state": ro.state, "percent": ro.percent,
            "baseline": ro.baseline, "candidate": ro.candidate, "started": ro.started, "history": _plain(ro.history)}


def build_rollout_router() -> APIRouter:
    r = APIRouter(prefix="/sluice/v1/prompts", tags=["prompts"], dependencies=[Depends(require_admin)],
                  responses=error_responses(400, 401, 403, 404, 409, 500))

    @r.get("/{name}/rollout")
    def status(name: str, request: Request, registry: Registry, settings: Settings, label: str = "production") -> Any:
        """The label's active rollout, else its latest, with the per-variant comparison."""
        try:
            found = [ro for ro in rollouts.rollouts(registry, name) if ro.label == label] if registry.versions(name) else []
        except PromptError as e:
            return _error(_gate_error(e, name))
        if not found:
            return _error(NotFound(f"prompt {name!r} has no rollout on label {label!r}", code="rollout_not_found"))
        ro = next((x for x in reversed(found) if x.state == "active"), found[-1])
        gw = request.app.state.gateway
        svc = gw.services.spend if gw.config.spend.enabled else None
        if svc is None or not svc.started:
            return {**_summary(ro), "comparison": None, "trips": []}
        return rollout_report(svc.engine, ro, settings.rollout_guards)

    @r.post("/{name}/rollout")
    def start(name: str, payload: StartBody, registry: Registry, settings: Settings) -> Any:
        try:
            ro = rollouts.start(registry, name, payload.candidate, payload.label, percent=payload.percent,
                                actor=ADMIN_ACTOR, policy=settings.policy_for(payload.label),
                                fingerprint=suite_fingerprint)
        except PromotionRefused as e:
            return _refused(e)
        except PromptError as e:
            return _error(_gate_error(e, name))
        return _summary(ro)

    @r.post("/{name}/rollout/step")
    def step(name: str, payload: StepBody, registry: Registry) -> Any:
        try:
            return _summary(rollouts.step(registry, name, payload.label, percent=payload.percent, actor=ADMIN_ACTOR))
        except PromptError as e:
            return _error(_gate_error(e, name))

    @r.post("/{name}/rollout/abort")
    def abort(name: str, payload: EndBody, registry: Registry) -> Any:
        try:
            return _summary(rollouts.abort(registry, name, payload.label, actor=ADMIN_ACTOR, reason=payload.reason))
        except PromptError as e:
            return _error(_gate_error(e, name))

    @r.post("/{name}/rollout/promote")
    def promote(name: str, payload: EndBody, registry: Registry, settings: Settings) -> Any:
        try:
            move = rollouts.promote(registry, name, payload.label, actor=ADMIN_ACTOR, reason=payload.reason,
                                    policy=settings.policy_for(payload.label), fingerprint=suite_fingerprint)
        except PromotionRefused as e:
            return _refused(e)
        except PromptError as e:
            return _error(_gate_error(e, name))
        return move.to_record()

    return r
