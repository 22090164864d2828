"""Cache admin under /sluice/v1/cache: stats and purge by tenant / model group. Master key only."""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.errors import AuthenticationError, NotFound, PermissionDenied

if TYPE_CHECKING:
    from gateway.cache.service import CacheService

MASTER_KEY_ENV = "SLUICE_MASTER_KEY"


def require_master_key(request: Request) -> None:
    """`Authorization: Bearer <SLUICE_MASTER_KEY>`, compared in constant time."""
    expected = os.environ.get(MASTER_KEY_ENV)
    if not expected:
        raise PermissionDenied(f"admin routes are disabled: set {MASTER_KEY_ENV} on the gateway",
                               code="master_key_not_configured")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("send the master key as 'Authorization: Bearer <key>'", code="missing_api_key")
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise AuthenticationError("the key is not the master key; admin routes need SLUICE_MASTER_KEY",
                                  code="invalid_master_key")


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
    router = APIRouter(prefix="/sluice/v1/cache", tags=["cache"], dependencies=[Depends(require_master_key)])

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
