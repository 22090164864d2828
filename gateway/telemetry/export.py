"""Span export: the configured exporter behind a scrubbing wrapper (secrets never leave the process)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter, SpanExportResult
from opentelemetry.trace import Status

from gateway.telemetry.config import TelemetryConfig
from gateway.telemetry.scrub import scrub_text, scrub_value


class ScrubbingExporter(SpanExporter):
    """Rewrites every attribute and event of a span through the secret scrubber, then exports.

    The scrub runs in the batch processor's thread, off the request path, and covers attributes
    set by any code (router, hooks) without each caller having to remember to scrub.
    """

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([_scrubbed(s) for s in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def _scrubbed(s: ReadableSpan) -> ReadableSpan:
    """The span itself when nothing in it needs scrubbing (the common case), else a scrubbed copy."""
    from opentelemetry.sdk.trace import Event

    original = dict(s.attributes or {})
    attrs = scrub_value(original)
    events = [Event(e.name, scrub_value(dict(e.attributes or {})), e.timestamp) for e in s.events]
    status = s.status
    if status.description:
        status = Status(status.status_code, scrub_text(status.description))
    name = scrub_text(s.name)
    if (attrs == original and name == s.name and status is s.status
            and all(dict(e.attributes or {}) == dict(o.attributes or {}) for e, o in zip(events, s.events))):
        return s
    return ReadableSpan(name=name, context=s.context, parent=s.parent, resource=s.resource,
                        attributes=attrs, events=events, links=s.links, kind=s.kind, status=status,
                        start_time=s.start_time, end_time=s.end_time,
                        instrumentation_scope=s.instrumentation_scope)


def _otlp_headers(env_name: str | None) -> dict[str, str] | None:
    if not env_name:
        return None
    raw = os.environ.get(env_name, "")
    pairs = (p.split("=", 1) for p in raw.split(",") if "=" in p)
    return {k.strip(): v.strip() for k, v in pairs}


def make_exporter(config: TelemetryConfig) -> SpanExporter | None:
    if config.exporter == "console":
        return ConsoleSpanExporter(service_name=config.service_name)
    if config.exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=config.otlp_endpoint, headers=_otlp_headers(config.otlp_headers_env))
    return None
