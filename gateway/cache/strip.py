"""With the cache off, its only job: sluicegate's own `cache` body field never reaches the upstream.
Kept apart from gateway/cache/hook.py so a gateway without a cache imports none of it (numpy, redis)."""

from __future__ import annotations

from gateway.context import RequestContext
from gateway.hooks import Hook, HookResult


class StripCacheField(Hook):
    name = "cache"

    async def before(self, ctx: RequestContext) -> HookResult:
        if ctx.kind == "chat":
            ctx.body.pop("cache", None)
        return None
