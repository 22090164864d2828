"""The long-lived components of one gateway process, typed.

They outlive config generations: a reload reconfigures them (or, for the cache, replaces the
service when its section changed) rather than reopening the ledger, the cache's storage or the
exporters. Per-generation parts (hooks, the router, the RAG prompt renderer and chunk scanner) are
built by gateway/composition.py for each generation and are not here.

Typed fields rather than a string-keyed dict: who provides a service and who reads it is visible
to the type checker, and a misspelt name is an error rather than a silent None.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the heavy modules load only with the capability that needs them
    from gateway.api.responses_store import ResponseStore
    from gateway.cache.service import CacheService
    from gateway.spend.service import SpendService
    from gateway.telemetry.tracing import Telemetry
    from rag.retrieval import BM25Cache

log = logging.getLogger("sluice.services")

EmbedTexts = Callable[[list[str]], Any]  # a sync batch embedder: texts -> (n, dims) array
CacheEmbed = Callable[[Sequence[str]], Any]  # sync or async: texts -> (n, dims) array
BudgetListener = Callable[..., Awaitable[None]]


@dataclass
class Services:
    spend: SpendService | None = None  # keys, limits, budgets, ledger (gateway/spend/service.py)
    cache: CacheService | None = None  # response cache storage + semantic index (gateway/cache/service.py)
    telemetry: Telemetry | None = None  # tracer provider, metrics registry (gateway/telemetry/hooks.py)
    bm25: BM25Cache | None = None  # RAG BM25 indexes: rebuilding one costs ~10 s at 100k chunks
    local_embedder: EmbedTexts | None = None  # the local MiniLM's embed (tests inject a fast one)
    cache_embedder: CacheEmbed | None = None  # the semantic cache's embedder (tests inject one)
    budget_gauge: BudgetListener | None = None  # one budget-utilisation listener however many reloads
    responses: ResponseStore | None = None  # the Responses API's stored responses (gateway/api/responses_store.py)

    async def aclose(self) -> None:
        for f in fields(self):
            service = getattr(self, f.name)
            close = getattr(service, "aclose", None)
            if close is None:
                continue
            try:
                await close()
            except Exception:  # closing one must not leave the others open
                log.exception("closing service %s failed", f.name)
