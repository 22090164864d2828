"""Traces (OpenTelemetry, GenAI semantic conventions) and metrics for the request pipeline.

One `Telemetry` per app instance (own TracerProvider and Prometheus registry; nothing global).

Per request: a root span `chat {model}` / `embeddings {model}` (kind SERVER), created lazily by
the first child span or hook with the request's own start time, and ended by `TelemetryHook`
(gateway/telemetry/hooks.py) in `finished` with the GenAI attributes (gen_ai.operation.name, gen_ai.request.model,
gen_ai.response.model, gen_ai.usage.*, gen_ai.provider.name, ...) and sluice.* attributes.
Children: one span per hook phase (`TracedHook`: auth, guardrails, cache, spend/ledger) and one per
upstream attempt, which the router opens with the module-level helper:

    from gateway.telemetry import tracing as telemetry
    with telemetry.span(ctx, "upstream.attempt", **{"sluice.deployment": dep_id,
                                                    "server.address": host}) as sp:
        ...
        sp.set("http.response.status_code", status)

`span()` returns a shared no-op object when tracing is off (a dict lookup, no allocation).
Spans are scrubbed of secrets/PII by the exporter wrapper (gateway/telemetry/export.py) before
they leave the process; prompt
and completion text is recorded only when `telemetry.record_content` is on, and then redacted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Self

import orjson
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from gateway.clock import Clock, SystemClock
from gateway.context import RequestContext
from gateway.errors import SluiceError
from gateway.telemetry.config import TelemetryConfig
from gateway.telemetry.export import ScrubbingExporter, make_exporter
from gateway.telemetry.logs import bind_request
from gateway.telemetry.metrics import GatewayMetrics, is_unpriced
from gateway.telemetry.scrub import scrub_text

log = logging.getLogger("sluice.telemetry")

_SCRATCH = "telemetry"  # ctx.scratch key holding the request's _RequestTrace
_OPERATION = {"chat.completions": "chat", "embeddings": "embeddings"}
_PROPAGATOR = TraceContextTextMapPropagator()


# --------------------------------------------------------------------------------------------
# span handles
class _NoopSpan:
    """What `span()` yields when tracing is off: every method does nothing."""

    __slots__ = ()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def set(self, key: str, value: Any) -> None:
        return None

    set_attribute = set

    def add_event(self, name: str, **attrs: Any) -> None:
        return None

    @property
    def recording(self) -> bool:
        return False


NOOP_SPAN = _NoopSpan()


class SpanHandle:
    """A live span. Values are kept to OTel's attribute types; None is dropped."""

    __slots__ = ("_clock", "_span")

    def __init__(self, span: trace.Span, clock: Clock) -> None:
        self._span = span
        self._clock = clock

    def set(self, key: str, value: Any) -> None:
        if value is not None:
            self._span.set_attribute(key, _attr(value))

    set_attribute = set

    def add_event(self, name: str, **attrs: Any) -> None:
        self._span.add_event(name, {k: _attr(v) for k, v in attrs.items() if v is not None},
                             timestamp=_ns(self._clock.time()))

    @property
    def recording(self) -> bool:
        return True


def _attr(value: Any) -> Any:
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    return str(value)


def _attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: _attr(v) for k, v in attrs.items() if v is not None}


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


class _RequestTrace:
    """Per-request tracing state stored in ctx.scratch."""

    __slots__ = ("otel_ctx", "root", "telemetry")

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self.root: trace.Span | None = None
        self.otel_ctx: Any = None


# --------------------------------------------------------------------------------------------
class Telemetry:
    """Tracing and metrics for one app instance.

    `exporter` overrides the configured one (tests pass an InMemorySpanExporter); `simple=True`
    exports synchronously on span end instead of batching in a thread (tests).
    """

    def __init__(self, config: TelemetryConfig, *, clock: Clock | None = None,
                 exporter: SpanExporter | None = None, simple: bool = False,
                 deployment_host: Callable[[str], str | None] | None = None,
                 known_model: Callable[[str], bool] | None = None,
                 pricing_active: Callable[[], bool] | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.metrics: GatewayMetrics | None = (
            GatewayMetrics(known_model=known_model, pricing_active=pricing_active) if config.metrics else None)
        self._pricing_active = pricing_active or (lambda: True)
        self._deployment_host = deployment_host
        exp = exporter if exporter is not None else make_exporter(config)
        self.provider: TracerProvider | None = None
        self.tracer: trace.Tracer | None = None
        if exp is not None:
            self.provider = TracerProvider(
                resource=Resource.create({"service.name": config.service_name}),
                sampler=ParentBased(TraceIdRatioBased(config.sample_ratio)),
            )
            wrapped = ScrubbingExporter(exp)
            self.provider.add_span_processor(SimpleSpanProcessor(wrapped) if simple else BatchSpanProcessor(wrapped))
            self.tracer = self.provider.get_tracer("sluicegate")

    def reconfigure(self, config: TelemetryConfig) -> None:
        """A config reload: content recording switches apply at once; exporters, sampling and
        metrics were built at start and stay (gateway.composition.TelemetryCapability.restart_only)."""
        self.config = self.config.model_copy(update={
            k: getattr(config, k) for k in ("record_content", "content_max_chars", "access_log", "log_level")})

    @property
    def tracing(self) -> bool:
        return self.tracer is not None

    # -- per request ----------------------------------------------------------------------------
    def attach(self, ctx: RequestContext) -> _RequestTrace:
        """Make this Telemetry reachable from `ctx` (idempotent) and bind the log request id."""
        state = ctx.scratch.get(_SCRATCH)
        if state is None:
            state = _RequestTrace(self)
            ctx.scratch[_SCRATCH] = state
            bind_request(ctx.request_id)
        return state  # type: ignore[no-any-return]

    def _wall(self, ctx: RequestContext, mono: float) -> int:
        return _ns(ctx.started_wall + (mono - ctx.started_mono))

    def root_span(self, ctx: RequestContext) -> trace.Span | None:
        if self.tracer is None:
            return None
        state = self.attach(ctx)
        if state.root is None:
            parent = _PROPAGATOR.extract(carrier=ctx.headers) if "traceparent" in ctx.headers else None
            op = _OPERATION.get(ctx.route, ctx.route)
            state.root = self.tracer.start_span(
                f"{op} {ctx.requested_model}".strip(), context=parent, kind=SpanKind.SERVER,
                start_time=_ns(ctx.started_wall),
                attributes={"gen_ai.operation.name": op, "gen_ai.request.model": ctx.requested_model,
                            "sluice.request_id": ctx.request_id, "sluice.stream": ctx.stream},
            )
            state.otel_ctx = trace.set_span_in_context(state.root)
            sc = state.root.get_span_context()
            bind_request(ctx.request_id, format(sc.trace_id, "032x"))
        return state.root

    @contextmanager
    def _child(self, ctx: RequestContext, name: str, attrs: dict[str, Any]) -> Iterator[SpanHandle]:
        assert self.tracer is not None
        state: _RequestTrace = ctx.scratch[_SCRATCH]
        kind = SpanKind.CLIENT if name.startswith("upstream") else SpanKind.INTERNAL
        clean = _attrs(attrs)
        dep = attrs.get("sluice.deployment")
        if dep and "server.address" not in attrs and self._deployment_host is not None:
            host = self._deployment_host(dep)
            if host:
                clean["server.address"] = host
        # attributes at start in one call: the SDK takes a lock per set_attribute
        otel_span = self.tracer.start_span(name, context=state.otel_ctx, kind=kind, attributes=clean,
                                           start_time=_ns(self.clock.time()))
        with self._ended(otel_span) as handle:
            yield handle

    def span(self, ctx: RequestContext, name: str, **attrs: Any) -> Any:
        if self.tracer is None:
            return NOOP_SPAN
        root = self.root_span(ctx)
        if root is None or not root.is_recording():  # sampled out: children would not record either
            return NOOP_SPAN
        return self._child(ctx, name, attrs)

    def background_span(self, name: str, **attrs: Any) -> Any:
        """A root span for work done off the request path (e.g. one ledger batch flush)."""
        if self.tracer is None:
            return NOOP_SPAN
        return self._background(name, attrs)

    @contextmanager
    def _background(self, name: str, attrs: dict[str, Any]) -> Iterator[SpanHandle]:
        assert self.tracer is not None
        otel_span = self.tracer.start_span(name, kind=SpanKind.INTERNAL, attributes=_attrs(attrs),
                                           start_time=_ns(self.clock.time()))
        with self._ended(otel_span) as handle:
            yield handle

    @contextmanager
    def _ended(self, otel_span: Any) -> Iterator[SpanHandle]:
        """Yields the span's handle; marks it failed on an exception and always ends it."""
        try:
            yield SpanHandle(otel_span, self.clock)
        except BaseException as exc:
            _mark_error(otel_span, exc)
            raise
        finally:
            otel_span.end(end_time=_ns(self.clock.time()))

    def finish(self, ctx: RequestContext) -> None:
        """Record the request's metrics and end its root span. Called once, after the response."""
        end_mono = ctx.ended_mono if ctx.ended_mono is not None else self.clock.monotonic()
        if self.metrics is not None:
            self.metrics.observe_request(ctx, end_mono)
        if self.tracer is None:
            return
        root = self.root_span(ctx)
        assert root is not None
        if not root.is_recording():
            root.end()
            return
        op = _OPERATION.get(ctx.route, ctx.route)
        if ctx.requested_model:
            root.update_name(f"{op} {ctx.requested_model}")
        h = SpanHandle(root, self.clock)
        root.set_attributes(_attrs(self._request_attributes(ctx, op)))
        for g in ctx.guardrails:
            root.add_event("sluice.guardrail", {"scanner": g.scanner, "direction": g.direction,
                                                "action": g.action, "rule": g.rule or "",
                                                "latency_ms": g.latency_ms})
        if self.config.record_content:
            h.set("gen_ai.input.messages", self._content(ctx.body.get("messages", ctx.body.get("input"))))
            if ctx.completion is not None:
                h.set("gen_ai.output.messages", self._content(_output_messages(ctx.completion)))
        if ctx.status_code >= 500:
            root.set_status(Status(StatusCode.ERROR, ctx.error_code or str(ctx.status_code)))
        root.end(end_time=self._wall(ctx, end_mono))

    def _request_attributes(self, ctx: RequestContext, op: str) -> dict[str, Any]:
        usage = ctx.usage or {}
        p = ctx.principal
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": op,
            "gen_ai.request.model": ctx.requested_model,
            "gen_ai.response.model": ctx.served_model,
            "gen_ai.provider.name": ctx.served_provider,
            "gen_ai.system": ctx.served_provider,
            "gen_ai.usage.input_tokens": usage.get("prompt_tokens"),
            "gen_ai.usage.output_tokens": usage.get("completion_tokens"),
            "http.response.status_code": ctx.status_code,
            "sluice.model_group": ctx.model_group,
            "sluice.deployment": ctx.served_deployment,
            "sluice.attempts": ctx.attempts,
            "sluice.key_id": p.key_id if p else None,
            "sluice.team_id": p.team_id if p else None,
            "sluice.cache_status": ctx.cache_status,
            "sluice.cost_usd": ctx.cost_usd,
            "sluice.cost_saved_usd": ctx.cost_saved_usd,
            "sluice.unpriced": (is_unpriced(ctx) and self._pricing_active()) or None,
            "sluice.prompt_ref": ctx.prompt_ref,
            "sluice.rag_pipeline": ctx.rag_pipeline,
            "sluice.client_disconnected": ctx.client_disconnected or None,
        }
        details = usage.get("prompt_tokens_details")
        if isinstance(details, dict):
            attrs["gen_ai.usage.cache_read.input_tokens"] = details.get("cached_tokens")
        if ctx.stream and ctx.first_byte_mono is not None:
            attrs["sluice.ttft_ms"] = round((ctx.first_byte_mono - ctx.started_mono) * 1000.0, 3)
        if ctx.status_code >= 400:
            attrs["error.type"] = ctx.error_code or str(ctx.status_code)
        if ctx.served_deployment and self._deployment_host is not None:
            attrs["server.address"] = self._deployment_host(ctx.served_deployment)
        return attrs

    def _content(self, value: Any) -> str:
        text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
        # scrub before truncating: a cut could leave half an e-mail address the patterns miss
        return scrub_text(text)[: self.config.content_max_chars]

    def flush(self) -> None:
        if self.provider is not None:
            self.provider.force_flush(5000)

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()


def _output_messages(completion: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for choice in completion.get("choices") or ():
        msg = choice.get("message") or {}
        out.append({"role": msg.get("role", "assistant"), "content": msg.get("content"),
                    "finish_reason": choice.get("finish_reason")})
    return out


def _mark_error(otel_span: trace.Span, exc: BaseException) -> None:
    # The exception's message is not recorded: upstream errors can echo request text.
    code = exc.code if isinstance(exc, SluiceError) else type(exc).__name__
    otel_span.set_attribute("error.type", code)
    otel_span.set_status(Status(StatusCode.ERROR, code))


# --------------------------------------------------------------------------------------------
# what the router and other components call
def span(ctx: RequestContext, name: str, **attrs: Any) -> Any:
    """A child span of the request's root span; the shared no-op when telemetry is not attached."""
    state = ctx.scratch.get(_SCRATCH)
    if state is None:
        return NOOP_SPAN
    return state.telemetry.span(ctx, name, **attrs)


def upstream_error(ctx: RequestContext, deployment: str, reason: str) -> None:
    """Count a failed upstream attempt (reason: an error code such as 'upstream_timeout', '429')."""
    state = ctx.scratch.get(_SCRATCH)
    if state is not None and state.telemetry.metrics is not None:
        state.telemetry.metrics.upstream_error(deployment, reason)


def cooldown(ctx: RequestContext, deployment: str) -> None:
    """Report that a deployment entered its circuit-breaker cooldown during this request."""
    state = ctx.scratch.get(_SCRATCH)
    if state is not None and state.telemetry.metrics is not None:
        state.telemetry.metrics.cooldown(deployment)
