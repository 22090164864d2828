"""Serves RAG pipelines as models (`rag:<pipeline>` on /v1/chat/completions) and backs the RAG query API.

Composition only: retrieval and prompting live in `rag/`; this module hands it the gateway's own
router for generation (and for the query embedding when the pipeline names an embedding model),
the local MiniLM otherwise. The answer carries a `citations` list (source, chunk id, score), in the
completion and, for streams, in the chunk that carries `finish_reason`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from gateway.context import GuardrailOutcome, RequestContext
from gateway.errors import ConfigError, InvalidRequest, NotFound, SluiceError, UpstreamError
from rag.config import PipelineConfig
from rag.filters import FilterError
from rag.pipeline import Pipeline, PipelineError
from rag.retrieval import BM25Cache, Retriever
from rag.store import ChromaStore, CollectionNotFound, StoreError

if TYPE_CHECKING:
    from gateway.engine.router import Router
    from gateway.runtime import Gateway

log = logging.getLogger("sluice.rag")

PREFIX = "rag:"
# Handed in per generation by the capabilities built before RAG (gateway/composition.py):
# `(text, threshold=None) -> bool`, True when the text is an injection (`threshold` is passed only for
# pipelines that set scan_injection_threshold)
Scanner = Callable[..., bool]
RenderPrompt = Callable[[str, dict[str, Any]], list[dict[str, Any]]]  # (ref "name@label", variables) -> messages


def default_embedder(gateway: Gateway) -> Callable[[list[str]], Any]:
    """The local MiniLM model, loaded once per gateway process."""
    emb = gateway.services.local_embedder
    if emb is None:
        from gateway.providers.minilm import get_embedder

        emb = get_embedder().embed  # shared with /v1/embeddings and the semantic cache
        gateway.services.local_embedder = emb
    return emb


def prompt_renderer(registry: Any) -> Callable[[str, dict[str, Any]], list[dict[str, Any]]]:
    """A pipeline's `prompt: name@label` rendered from its released snapshot (never the live file,
    as for chat requests); its errors become 4xx."""
    from prompts import render as render_prompt
    from prompts.errors import PromptError, PromptNotFound
    from prompts.registry import parse_ref

    def render(ref: str, variables: dict[str, Any]) -> list[dict[str, Any]]:
        name, label = parse_ref(ref)
        try:
            return list(render_prompt(registry.serve(name, label).spec, variables).messages)
        except PromptNotFound as e:
            raise NotFound(f"rag answer prompt {ref!r}: {e}", code="prompt_not_found") from e
        except PromptError as e:
            raise InvalidRequest(f"rag answer prompt {ref!r}: {e}", code="prompt_render_error") from e

    return render


def map_error(err: Exception, pipeline: str) -> SluiceError:
    if isinstance(err, FilterError):
        return InvalidRequest(f"rag filter: {err}", param="filters", code="invalid_rag_filter")
    if isinstance(err, CollectionNotFound):
        return NotFound(f"rag pipeline {pipeline!r}: {err}", code="rag_collection_not_found")
    if isinstance(err, StoreError):
        return UpstreamError(f"rag pipeline {pipeline!r}: {err}", code="vector_store_unavailable")
    return InvalidRequest(f"rag pipeline {pipeline!r}: {err}", code="rag_pipeline_error")


def record_dropped(ctx: RequestContext, chunk_ids: list[str]) -> None:
    """Retrieved chunks the injection scanner removed, as a guardrail outcome on the request (for
    logs, spans and audits): one finding per chunk, its source the chunk's id; no text."""
    if not chunk_ids:
        return
    findings = [{"rule": "prompt_injection", "start": None, "end": None,
                 "source": {"path": "documents", "id": cid}} for cid in chunk_ids[:32]]
    ctx.guardrails.append(GuardrailOutcome("rag_injection", "input", "redact", "prompt_injection",
                                           findings=findings))


def _filters_from(body: dict[str, Any]) -> dict[str, Any] | None:
    """`metadata.rag_filters`: an object, or a JSON string (OpenAI's metadata holds string values)."""
    meta = body.get("metadata")
    raw = meta.get("rag_filters") if isinstance(meta, dict) else None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
        if not isinstance(raw, dict):
            raise InvalidRequest("metadata.rag_filters must be a JSON object, e.g. '{\"source\": \"a.md\"}'",
                                 param="metadata.rag_filters", code="invalid_rag_filter")
    if raw is not None and not isinstance(raw, dict):
        raise InvalidRequest("metadata.rag_filters must be an object", param="metadata.rag_filters",
                             code="invalid_rag_filter")
    return raw


class RagService:
    """One per config generation: pipelines built lazily, stores and BM25 indexes shared."""

    def __init__(self, gateway: Gateway, router: Router, *, render_prompt: RenderPrompt | None = None,
                 scanner: Scanner | None = None) -> None:
        self.gateway, self.router = gateway, router
        self.render_prompt, self.scanner = render_prompt, scanner  # this generation's
        self.config = router.config
        self._stores: dict[tuple[str, str, int, str], ChromaStore] = {}
        self._stores_lock = threading.Lock()
        # BM25 indexes outlive config generations: rebuilding one costs ~10 s at 100k chunks
        if gateway.services.bm25 is None:
            gateway.services.bm25 = BM25Cache()
        self._bm25: BM25Cache = gateway.services.bm25

    def warm(self) -> None:
        """Seed empty collections that name documents (`seed:`), then build the BM25 index of every
        pipeline's (shared) collection off the request path, so the first query does not pay for it.
        Per-tenant collections are built on their first query."""
        for name, cfg in self.config.rag.pipelines.items():
            if cfg.seed is not None:
                try:
                    self._seed(name, cfg)
                except (OSError, StoreError) as e:  # the pipeline still serves; queries find nothing
                    log.error("RAG pipeline %r: seeding collection %r failed: %s", name, cfg.collection, e)
            if cfg.retriever.mode == "dense":
                continue
            try:
                self._bm25.get(self._store(name), cfg.collection)
            except CollectionNotFound:
                continue  # nothing ingested yet
            except Exception as e:  # noqa: BLE001 - a background nicety: logged, never fatal
                log.warning("RAG pipeline %r: BM25 index not pre-built (%s); the first query builds it", name, e)

    def _seed(self, name: str, cfg: PipelineConfig) -> None:
        from rag.ingest import Ingestor

        assert cfg.seed is not None
        store = self._store(name)
        if store.count(cfg.collection) > 0:
            return
        base = self.config.base_dir
        paths = [base / p for p in cfg.seed.paths]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise FileNotFoundError(f"RAG pipeline {name!r}: seed paths not found: {', '.join(missing)}")
        root = base / cfg.seed.root if cfg.seed.root else (paths[0] if paths[0].is_dir() else None)
        embed = default_embedder(self.gateway)
        owner = getattr(embed, "__self__", None)
        count = getattr(owner, "count_tokens", None)
        if not callable(count):
            from rag.tokens import minilm_token_counter

            count = minilm_token_counter()
        res = Ingestor(store, cfg.collection, embed, count, self.config.rag.chunking).ingest_paths(paths, root=root)
        log.info("RAG pipeline %r: seeded collection %r with %d chunks from %d files", name, cfg.collection,
                 res.chunks, len(res.added), extra={"failed": res.failed} if res.failed else None)

    def names(self) -> list[str]:
        return [PREFIX + n for n in self.config.rag.pipelines]

    def _cfg(self, name: str) -> PipelineConfig:
        cfg = self.config.rag.pipeline(name)
        if cfg is None:
            known = ", ".join(self.names()) or "none configured"
            raise NotFound(f"RAG pipeline {name!r} is not configured; available: {known}",
                           param="model", code="rag_pipeline_not_found")
        return cfg

    def _store(self, name: str) -> ChromaStore:
        sc = self.config.rag.store_for(name)
        key = (sc.mode, sc.host, sc.port, sc.path)
        with self._stores_lock:  # the warm-up thread and the first requests may ask at once
            if key not in self._stores:
                self._stores[key] = ChromaStore(sc, base_dir=self.config.base_dir)
            return self._stores[key]

    def pipeline(self, name: str, ctx: RequestContext) -> Pipeline:
        cfg = self._cfg(name)
        tenant = ctx.principal.team_id if ctx.principal else None
        local = None if cfg.embedding_model else default_embedder(self.gateway)
        embed_fn = local or (lambda texts: np.zeros((len(texts), 1)))  # unused: queries go through embed_query
        try:
            retriever = Retriever(self._store(name), cfg.collection_for(tenant), embed_fn, cfg.retriever, self._bm25)
            return Pipeline(name, cfg, retriever, embed_query=self._query_embedder(cfg, ctx),
                            chat=lambda body: self._chat(ctx, cfg, body),
                            render_prompt=self.render_prompt,
                            scanner=self._scanner(cfg))
        except (StoreError, PipelineError) as e:
            raise map_error(e, name) from e

    def _scanner(self, cfg: PipelineConfig) -> Callable[[str], bool] | None:
        scan = self.scanner
        if scan is None or cfg.scan_injection_threshold is None:
            return scan
        threshold = cfg.scan_injection_threshold
        return lambda text: bool(scan(text, threshold=threshold))

    def _query_embedder(self, cfg: PipelineConfig, ctx: RequestContext) -> Callable[[str], Any] | None:
        if not cfg.embedding_model:
            return None  # the retriever's local embedder, off the event loop

        async def embed(text: str) -> list[float]:
            sub = dataclasses.replace(ctx, model_group=cfg.embedding_model, usage=None, scratch={})
            out = await self.router.embed(sub, {"model": cfg.embedding_model, "input": [text]})
            ctx.scratch.setdefault("rag", {})["embedding_usage"] = out.get("usage")
            return out["data"][0]["embedding"]  # type: ignore[no-any-return]

        return embed

    async def _chat(self, ctx: RequestContext, cfg: PipelineConfig, body: dict[str, Any]) -> dict[str, Any]:
        ctx.model_group = cfg.model
        return await self.router.chat(ctx, body)

    # ---- the virtual model -------------------------------------------------------------------
    async def handle(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any] | AsyncIterator[dict[str, Any]]:
        name = str(body.get("model", ""))[len(PREFIX):]
        cfg = self._cfg(name)
        if not cfg.model:
            raise InvalidRequest(f"RAG pipeline {name!r} has no `model` to write answers; set rag.pipelines."
                                 f"{name}.model to a chat model group", code="rag_pipeline_has_no_model")
        ctx.rag_pipeline = name
        pipe = self.pipeline(name, ctx)
        where = _filters_from(body)
        # what the client may set on the answer; the output limits are what its budget reserved for
        passthrough: dict[str, Any] = {k: body[k] for k in ("temperature", "max_tokens", "max_completion_tokens",
                                                            "top_p", "stop", "seed") if k in body}
        try:
            prep = await pipe.prepare({"messages": body.get("messages") or [], **passthrough}, where=where)
        except (PipelineError, FilterError, StoreError) as e:
            raise map_error(e, name) from e
        record_dropped(ctx, prep.dropped)
        upstream: dict[str, Any] = {**prep.body, **passthrough}
        if "max_completion_tokens" in passthrough and "max_tokens" not in passthrough:
            upstream.pop("max_tokens", None)  # the client's limit, not the pipeline's default beside it
        ctx.model_group = cfg.model
        if not ctx.stream:
            completion = await self.router.chat(ctx, upstream)
            text = ((completion.get("choices") or [{}])[0].get("message") or {}).get("content") or ""
            completion["model"] = PREFIX + name
            completion["citations"] = [c.as_dict() for c in pipe.citations(text, prep.contexts)]
            return completion
        upstream["stream"] = True
        upstream["stream_options"] = {"include_usage": True}
        source = await self.router.stream_chat(ctx, upstream)
        return self._stream(source, pipe, prep.contexts, PREFIX + name)

    async def _stream(self, source: AsyncIterator[dict[str, Any]], pipe: Pipeline, contexts: list[Any],
                      model: str) -> AsyncIterator[dict[str, Any]]:
        parts: list[str] = []
        held: dict[str, Any] | None = None  # the finish chunk waits for the whole text
        tail: list[dict[str, Any]] = []
        async for chunk in source:
            chunk["model"] = model
            choices = chunk.get("choices") or []
            for ch in choices:
                piece = (ch.get("delta") or {}).get("content")
                if piece:
                    parts.append(piece)
            if held is not None:
                tail.append(chunk)  # usage chunk after the finish chunk
            elif any(ch.get("finish_reason") for ch in choices):
                held = chunk
            else:
                yield chunk
        cites = [c.as_dict() for c in pipe.citations("".join(parts), contexts)]
        if held is None:
            held = {"object": "chat.completion.chunk", "model": model,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        held["citations"] = cites
        yield held
        for c in tail:
            yield c


def register(config: Any, gateway: Gateway, router: Router, *, render_prompt: RenderPrompt | None = None,
             scanner: Scanner | None = None) -> RagService | None:
    """Wire `rag:<pipeline>` models into the router (called from gateway/composition.py)."""
    if not config.rag.pipelines:
        return None
    import importlib.util

    local = [n for n, p in config.rag.pipelines.items() if not p.embedding_model]
    if local and gateway.services.local_embedder is None and importlib.util.find_spec("gateway.providers.minilm") is None:
        raise ConfigError(f"RAG pipelines {local} need an embedding model: set `embedding_model:` on them "
                          "(an embedding model group) or install the local MiniLM provider")
    for name, p in config.rag.pipelines.items():
        if p.scan_injection and scanner is None:
            raise ConfigError(f"rag pipeline {name!r} has scan_injection: true but no injection scanner is "
                              "configured; enable the guardrails injection scanner or set scan_injection: false")
        if p.prompt and render_prompt is None:
            raise ConfigError(f"rag pipeline {name!r} uses prompt {p.prompt!r} but no prompt registry is "
                              "configured; configure prompts: or use prompt_template")
        if p.model and p.model not in router.groups:
            raise ConfigError(f"rag pipeline {name!r}: model {p.model!r} is not a configured model group")
        if p.embedding_model and p.embedding_model not in router.groups:
            raise ConfigError(f"rag pipeline {name!r}: embedding_model {p.embedding_model!r} is not a configured "
                              "model group")
    service = RagService(gateway, router, render_prompt=render_prompt, scanner=scanner)
    router.register_virtual(PREFIX, service.handle, service.names())
    gateway.warmups.start("rag", service.warm)
    return service


def service_of(router: Router) -> RagService | None:
    """The RagService serving this router's generation (the query API uses the current one)."""
    handler = router.virtual_handler(PREFIX)
    owner = getattr(handler, "__self__", None)
    return owner if isinstance(owner, RagService) else None
