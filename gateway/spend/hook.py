"""The two pipeline hooks of gateway/spend.

AuthHook (first): verify the virtual key, fill ctx.principal.
AdmissionHook (after prompts are rendered): the allow-list over every group the request may reach,
the RPM/TPM limits and the budgets, reserving the request's worst case (gateway/spend/reserve.py).
SpendHook (last): price the usage, put the cost in headers (whole responses) or in a `sluice`
extension field beside `usage` in the final chunk (streams), and after the response charge the
budgets, correct the TPM reservation and spool the ledger row.
"""

from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from gateway.context import Principal, RequestContext
from gateway.errors import PermissionDenied
from gateway.hooks import Chunk, Completion, Hook, StreamFilter
from gateway.spend.budgets import Budget, Reservation
from gateway.spend.keystore import KeyRecord
from gateway.spend.pricing import Usage, cost_usd, price_usage
from gateway.spend.reserve import Route, WorstCase, route_of
from gateway.spend.rows import ledger_row
from gateway.spend.service import SpendService
from gateway.spend.tokens import count_messages, count_text

if TYPE_CHECKING:
    from gateway.config import ModelGroup

log = logging.getLogger("sluice.spend")

_SCRATCH = "spend"


def budgets_for(rec: KeyRecord) -> list[Budget]:
    out: list[Budget] = []
    if rec.budget_usd is not None:
        out.append(Budget("key", rec.id, f"key {rec.name or rec.id}", rec.budget_usd, rec.budget_period or "month"))
    t = rec.team
    if t is not None and t.budget_usd is not None:
        out.append(Budget("team", t.id, f"team {t.name}", t.budget_usd, t.budget_period or "month"))
    return out


def model_allowed(model: str, allowed: list[str] | None) -> bool:
    return allowed is None or any(fnmatch.fnmatchcase(model, pat) for pat in allowed)


@dataclass(slots=True)
class _State:
    """Per-request state shared by both hooks (kept in ctx.scratch)."""

    record: KeyRecord | None = None
    budgets: list[Budget] = field(default_factory=list)
    held: list[Reservation] = field(default_factory=list)
    reservation: str | None = None
    estimate: int = 0
    priced: bool = False
    usage: Usage | None = None
    usage_source: str = "none"
    cost: float | None = None
    unpriced: bool = False
    partial: tuple[str, ...] = ()  # token classes charged at the plain rate (no rate of their own)
    streamed_text: list[str] = field(default_factory=list)
    recorded: bool = False  # the ledger row is spooled


def _state(ctx: RequestContext) -> _State:
    st = ctx.scratch.get(_SCRATCH)
    if st is None:
        st = ctx.scratch[_SCRATCH] = _State()
    return st  # type: ignore[no-any-return]


class AuthHook(Hook):
    """Who is calling: verifies the virtual key (first stage, before any work)."""

    name = "auth"

    def __init__(self, service: SpendService) -> None:
        self.svc = service

    async def before(self, ctx: RequestContext) -> None:
        self.svc.ensure_running()
        if not self.svc.config.auth.enabled:
            if ctx.principal is None:
                ctx.principal = Principal()
            return
        principal, rec = await self.svc.authenticator.authenticate(ctx.headers)
        ctx.principal = principal
        if rec is not None:  # None: the master key (admin, no limits)
            _state(ctx).record = rec


class AdmissionHook(Hook):
    """Allow-lists, rate limits and budgets, on what the request resolved to (after a `prompt:` was
    rendered): every model group it may reach, primary and fallbacks, and its worst-case cost and
    tokens there (gateway/spend/reserve.py), held until the response settles them."""

    name = "admission"

    def __init__(self, service: SpendService) -> None:
        self.svc = service
        cfg = service.config
        self.worst = WorstCase(service.prices, service.deployment_prices, cfg.spend.reserve_max_output_tokens)
        self._routes: dict[str, Route] = {}  # per model name (a hook lives for one config generation)

    def _route(self, model: str, body: dict[str, Any]) -> Route:
        if model.startswith("rag:"):  # its context depends on the query API's top_k
            return route_of(self.svc.config, model, body, query_api="question" in body)
        route = self._routes.get(model)
        if route is None:
            route = route_of(self.svc.config, model, body)
            if len(self._routes) < 10_000:  # names are client input: only known ones resolve to groups
                self._routes[model] = route
        return route

    def _permitted(self, ctx: RequestContext, rec: KeyRecord, model: str, route: Route,
                   budgets: list[Budget]) -> list[ModelGroup]:
        """The groups the request may be served by. The model asked for, and the primary group of
        each upstream call it makes, must be allowed (403); a fallback the key may not use, or one
        without a price under a budget, is skipped by the router."""
        if not model_allowed(model, rec.allowed_models):
            raise PermissionDenied(f"key {rec.id} may not use model {model!r}; allowed: "
                                   f"{', '.join(rec.allowed_models or [])}", code="model_not_allowed", param="model")
        refuse_unpriced = bool(budgets) and self.svc.config.spend.unpriced_with_budget != "allow"
        out: list[ModelGroup] = []
        for chain in (*route.chains, *route.embedding_chains):
            for i, g in enumerate(chain):
                if not model_allowed(g.name, rec.allowed_models):
                    if i == 0:
                        raise PermissionDenied(
                            f"key {rec.id} may not use model {g.name!r}, which {model!r} is served by; allowed: "
                            f"{', '.join(rec.allowed_models or [])}", code="model_not_allowed", param="model")
                    continue
                unpriced = self._unpriced(g) if refuse_unpriced else None
                if unpriced is not None:
                    if i == 0:
                        via = "" if g.name == model else f" (which serves {model!r})"
                        raise PermissionDenied(
                            f"model {g.name!r}{via} has a deployment without a price ({unpriced}), so the "
                            f"{budgets[0].label} budget could not count its spend; an admin must add the price "
                            "under spend.prices or the deployment's `price` (or set spend.unpriced_with_budget: "
                            "allow)", code="model_unpriced", param="model")
                    continue
                out.append(g)
        return out

    def _unpriced(self, g: ModelGroup) -> str | None:
        for i, d in enumerate(g.deployments):
            if self.worst.price_of(g, i) is None:
                return f"{d.provider}/{d.model}"
        return None

    async def before(self, ctx: RequestContext) -> None:
        st = _state(ctx)
        rec = st.record
        if rec is None:
            return
        model = ctx.requested_model or str(ctx.body.get("model") or "")
        route = self._route(model, ctx.body)
        st.budgets = budgets_for(rec)
        permitted = self._permitted(ctx, rec, model, route, st.budgets)
        if route.chains or route.embedding_chains:
            ctx.groups_allowed = frozenset(g.name for g in permitted)
        if not (st.budgets or rec.tpm is not None or rec.rpm is not None):
            return
        chat = ctx.kind == "chat" or (ctx.kind == "retrieval" and ctx.body.get("generate") is not False)
        usd, tokens = self.worst.bound(route, permitted, ctx.body, chat=chat)
        if rec.rpm is not None or rec.tpm is not None:
            st.estimate = tokens if rec.tpm is not None else 0
            st.reservation = await self.svc.limiter.check(rec.id, rpm=rec.rpm, tpm=rec.tpm, tokens=st.estimate)
        if st.budgets:  # a refusal here leaves the TPM reservation to `finished`, which settles it to 0
            st.held = await self.svc.budgets.admit(st.budgets, usd)


class _SpendStream(StreamFilter):
    rewrites = False  # it reads the chunks (and adds the cost extension beside the usage): no content changes

    def __init__(self, hook: SpendHook, ctx: RequestContext) -> None:
        self.hook = hook
        self.ctx = ctx
        self.st = _state(ctx)
        self.sent = False
        self.shape: dict[str, Any] = {}

    def on_chunk(self, chunk: Chunk) -> list[Chunk]:
        if not self.shape:  # the closing chunk we may add copies the stream's id/created/model
            self.shape = {k: chunk[k] for k in ("id", "created", "model", "system_fingerprint") if k in chunk}
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if isinstance(text, str):
                self.st.streamed_text.append(text)  # for counting if the upstream reports no usage
            for call in delta.get("tool_calls") or ():
                args = (call.get("function") or {}).get("arguments") if isinstance(call, dict) else None
                if isinstance(args, str):
                    self.st.streamed_text.append(args)
        if chunk.get("usage") is not None:
            self.hook.price(self.ctx, chunk["usage"], "upstream")
            self.sent = True
            if self.ctx.client_wants_usage:
                chunk["sluice"] = self.hook.extension(self.ctx)
            # else the pipeline drops the usage chunk: a client that did not ask for usage gets no
            # extra chunk with empty `choices` (naive clients index choices[0]); the ledger has the cost
        return [chunk]

    def _closing(self) -> Chunk:
        out: Chunk = {"id": self.ctx.request_id, "object": "chat.completion.chunk",
                      "created": int(self.ctx.started_wall), "model": self.ctx.requested_model,
                      **self.shape, "choices": [], "sluice": self.hook.extension(self.ctx)}
        out["object"] = "chat.completion.chunk"
        return out

    def on_end(self) -> list[Chunk]:
        if self.sent:
            self.hook.record(self.ctx)  # before [DONE]: a stream the client saw end has its row
            return []
        # No usage chunk came: count the tokens ourselves and send the cost in a closing chunk.
        usage = self.hook.counted_usage(self.ctx)
        self.hook.price(self.ctx, usage, "counted")
        self.sent = True
        self.hook.record(self.ctx)
        if not self.ctx.client_wants_usage:
            return []
        out = self._closing()
        out["usage"] = usage
        return [out]


def _counted_prompt(ctx: RequestContext, model: str | None) -> int:
    """Prompt tokens counted with tiktoken when the upstream reported none: the messages, and the
    tool schemas and response format sent with them."""
    if ctx.kind != "chat":
        return 0
    n = count_messages(ctx.body.get("messages"), model)
    for key in ("tools", "functions", "response_format"):
        if ctx.body.get(key):
            n += count_text(orjson.dumps(ctx.body[key]).decode(), model)
    return n


def _price_state(st: _State) -> str:
    """`priced`, `unpriced`, or `partial: <classes>` (those tokens were charged at the plain rate)."""
    if st.unpriced:
        return "unpriced"
    return "partial: " + ",".join(st.partial) if st.partial else "priced"


class _AuditSampler:
    """Logs refused unauthenticated requests at most once per `every_s`, with how many it skipped."""

    def __init__(self, clock: Any, every_s: float = 10.0) -> None:
        self.clock, self.every_s = clock, every_s
        self.next_at = 0.0
        self.skipped = 0

    def note(self, ctx: RequestContext) -> None:
        now = self.clock.monotonic()
        if now < self.next_at:
            self.skipped += 1
            return
        more = f" (and {self.skipped} more since the last such line)" if self.skipped else ""
        log.warning("refused an unauthenticated request: route %s, status %s, code %s, request id %s%s",
                    ctx.route, ctx.status_code, ctx.error_code, ctx.request_id, more)
        self.next_at, self.skipped = now + self.every_s, 0


class SpendHook(Hook):
    name = "spend"

    def __init__(self, service: SpendService) -> None:
        self.svc = service
        self.unauthenticated = _AuditSampler(service.clock)
        service.acquire()

    async def aclose(self) -> None:
        await self.svc.release()

    # -- pricing ---------------------------------------------------------------------------------
    def price(self, ctx: RequestContext, usage_dict: dict[str, Any] | None, source: str) -> None:
        st = _state(ctx)
        usage = Usage.from_openai(usage_dict)
        st.usage, st.usage_source, st.priced = usage, source, True
        if usage.total == 0:
            st.cost, st.unpriced = 0.0, False
            return
        price = self.svc.prices.lookup(
            ctx.served_model or ctx.requested_model, ctx.served_provider,
            self.svc.deployment_prices.get(ctx.served_deployment or ""),
        )
        if ctx.cache_status in ("hit", "semantic-hit"):
            # served from the cache: it costs nothing, priced or not; the saving is what the original cost
            st.cost, st.unpriced = 0.0, False
            ctx.cost_usd = 0.0
            if ctx.cost_saved_usd is None and price is not None:
                ctx.cost_saved_usd = cost_usd(usage, price)
            return
        if price is None:
            self.svc.prices.note_unpriced(ctx.served_model or ctx.requested_model)
            st.cost, st.unpriced = None, True
            ctx.cost_usd = None
            return
        st.cost, st.partial = price_usage(usage, price)
        st.unpriced = False
        ctx.cost_usd = st.cost

    def counted_usage(self, ctx: RequestContext) -> dict[str, Any]:
        st = _state(ctx)
        model = ctx.served_model or ctx.requested_model
        prompt = _counted_prompt(ctx, model)
        completion = count_text("".join(st.streamed_text), model)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def extension(self, ctx: RequestContext) -> dict[str, Any]:
        st = _state(ctx)
        u = st.usage or Usage()
        return {
            "cost_usd": st.cost,
            "unpriced": st.unpriced,
            "partially_priced": bool(st.partial),
            "price_version": self.svc.prices.version,
            "usage": {"prompt_tokens": u.prompt, "completion_tokens": u.completion,
                      "cached_tokens": u.cached, "reasoning_tokens": u.reasoning},
        }

    # -- hook ------------------------------------------------------------------------------------
    async def after(self, ctx: RequestContext, completion: Completion) -> Completion:
        usage = completion.get("usage")
        if isinstance(usage, dict):
            self.price(ctx, usage, "upstream")
        else:
            self.price(ctx, self._count_completion(ctx, completion), "counted")
        st = _state(ctx)
        u = st.usage or Usage()
        h = ctx.response_headers
        if st.cost is not None:
            h["x-sluice-cost-usd"] = f"{st.cost:.10f}"  # fixed point: costs are rounded to 1e-10 USD
        else:
            h["x-sluice-cost-usd"] = "unpriced"
        h["x-sluice-prompt-tokens"] = str(u.prompt)
        h["x-sluice-completion-tokens"] = str(u.completion)
        h["x-sluice-cached-tokens"] = str(u.cached)
        h["x-sluice-reasoning-tokens"] = str(u.reasoning)
        h["x-sluice-cache-write-tokens"] = str(u.cache_write)
        h["x-sluice-price-state"] = _price_state(st)
        self.record(ctx)  # before the response goes out: an answer the client got is never missing a row
        return completion

    def _count_completion(self, ctx: RequestContext, completion: Completion) -> dict[str, Any]:
        model = ctx.served_model or ctx.requested_model
        text = "".join(
            (c.get("message") or {}).get("content") or "" for c in completion.get("choices") or ()
            if isinstance(c, dict)
        )
        prompt = _counted_prompt(ctx, model)
        comp = count_text(text, model)
        return {"prompt_tokens": prompt, "completion_tokens": comp, "total_tokens": prompt + comp}

    def record(self, ctx: RequestContext) -> None:
        """Spool the request's ledger row, once (a local append: ~20 µs, never the database)."""
        st = _state(ctx)
        if st.recorded or not self.svc.config.spend.enabled:
            return
        st.recorded = True
        tags_header = ctx.headers.get(self.svc.config.spend.tags_header)
        if tags_header and not ctx.tags:
            ctx.tags = [t.strip() for t in tags_header.split(",") if t.strip()]
        latency = ctx.latency_ms
        if latency is None:  # recorded as the answer is ready, just before it is sent
            latency = (self.svc.clock.monotonic() - ctx.started_mono) * 1000.0
        self.svc.writer.record(ledger_row(ctx, usage=st.usage or Usage(), usage_source=st.usage_source,
                                          cost_usd=st.cost, unpriced=st.unpriced, price_version=self.svc.prices.version,
                                          partially_priced=bool(st.partial), latency_ms=latency))

    def stream_filter(self, ctx: RequestContext) -> StreamFilter | None:
        return _SpendStream(self, ctx)

    async def finished(self, ctx: RequestContext) -> None:
        if ctx.principal is None and self.svc.config.auth.enabled:
            # Refused before it was known who sent it: no key to charge, so no ledger row (anyone can
            # send these, as many as they like); sluice_requests{status="401"} counts them.
            self.unauthenticated.note(ctx)
            return
        st = _state(ctx)
        if not st.priced:
            # Cut short (client disconnect) or failed before pricing: bill what was produced.
            if ctx.usage is not None:
                self.price(ctx, ctx.usage, "upstream")
            elif st.streamed_text:
                self.price(ctx, self.counted_usage(ctx), "counted")
            elif ctx.attempts and (ctx.client_disconnected or ctx.status_code in (499, 504)):
                # the upstream had the prompt when the client left or the attempt timed out: the
                # provider bills it, so the budget does too
                self.price(ctx, self.counted_usage(ctx), "counted")
            else:
                self.price(ctx, None, "none")
        usage = st.usage or Usage()
        # The row first (a local append that cannot fail on the database or Redis), then the counters:
        # a failing counter store must not lose the record of what was spent. A served answer's row
        # was spooled before it went out (`after`, or the stream's end); this is every other request's.
        self.record(ctx)
        if st.reservation is not None:
            try:
                await self.svc.limiter.reconcile(st.reservation, st.estimate, usage.total)
            except Exception:
                log.exception("could not settle the TPM reservation of request %s", ctx.request_id)
        if st.held:  # replace the reservation with the real cost (0 for a failed request)
            await self.svc.budgets.settle(st.held, st.cost or 0.0)
