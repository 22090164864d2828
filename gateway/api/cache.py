"""Cache admin under /sluice/v1/cache: stats and purge by tenant / model group.

Master key only, through the one admin guard (gateway/api/deps.py `require_admin`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.api.deps import require_admin
from gateway.errors import NotFound

if TYPE_CHECKING:
    from gateway.cache.service import CacheService


class PurgeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str | None = Field(default=None, description='"team:<id>", "key:<id>" or "public"')
    model: str | None = Field(default=None, description="model group (alias)")
    all: bool = Field(default=False, description="purge everything; required when neither is given")

    @model_validator(mode="after")
    def _something(self) -> PurgeRequest:
        if self.tenant is None and self.model is None and not self.all:
            raise ValueError("give tenant and/or model, or all: true to purge the whole cache")
        return self


def cache_router(get_service: Callable[[], CacheService | None]) -> APIRouter:
    router = APIRouter(prefix="/sluice/v1/cache", tags=["cache"], dependencies=[Depends(require_admin)])

    def service() -> CacheService:
        svc = get_service()
        if svc is None:
            raise NotFound("the cache is off; set cache.enabled: true in the config", code="cache_disabled")
        return svc

    @router.get("/stats")
    async def stats() -> dict[str, Any]:
        return await service().stats()

    @router.post("/purge")
    async def purge(req: PurgeRequest) -> dict[str, Any]:
        return {"purged": await service().purge(req.tenant, req.model), "tenant": req.tenant, "model": req.model}

    return router
