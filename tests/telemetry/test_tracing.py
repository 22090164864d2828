"""Spans: names and GenAI attributes, the parent/child tree, no-op when off, no secrets exported."""

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from gateway.telemetry import export as tx
from gateway.telemetry import hooks as th
from gateway.telemetry import tracing as tm
from gateway.telemetry.config import TelemetryConfig

from .conftest import SECRETS, AuthHook, CacheHook, GuardHook, SpendHook, all_span_text, make_ctx, run_request


def _by_name(exporter):
    return {s.name: s for s in exporter.get_finished_spans()}


async def test_one_root_span_with_genai_attributes_and_children(traced, exporter, clock) -> None:
    hooks = th.instrument_hooks([AuthHook(clock), GuardHook(), CacheHook(), SpendHook()], traced)
    ctx = make_ctx(clock)
    await run_request(hooks, ctx, clock)
    spans = _by_name(exporter)
    root = spans["chat smart"]
    assert root.kind == SpanKind.SERVER and root.parent is None
    a = root.attributes
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == "smart"
    assert a["gen_ai.response.model"] == "gpt-x-1"
    assert a["gen_ai.provider.name"] == "openai" and a["gen_ai.system"] == "openai"
    assert a["gen_ai.usage.input_tokens"] == 11 and a["gen_ai.usage.output_tokens"] == 7
    assert a["gen_ai.usage.cache_read.input_tokens"] == 3
    assert a["sluice.key_id"] == "key_abc" and a["sluice.team_id"] == "team-a"
    assert a["sluice.cache_status"] == "miss"
    assert a["sluice.cost_usd"] == pytest.approx(0.0042)
    assert "sluice.unpriced" not in a
    assert [e.attributes["action"] for e in root.events if e.name == "sluice.guardrail"] == ["redact"]
    # children: each hook phase and the upstream attempt, all under the root
    for name in ("auth", "guardrails", "cache", "upstream.attempt", "spend.finished"):
        assert spans[name].parent.span_id == root.context.span_id, name
        assert spans[name].context.trace_id == root.context.trace_id
    # phases a hook does not implement get no span (they would cost without telling anything)
    assert "auth.finished" not in spans and "cache.after" not in spans and "spend" not in spans
    attempt = spans["upstream.attempt"]
    assert attempt.kind == SpanKind.CLIENT
    assert attempt.attributes["server.address"] == "upstream.local"
    # the root covers the request's own clock: 1 ms auth + 50 ms upstream + 10 ms after
    assert (root.end_time - root.start_time) / 1e6 == pytest.approx(61.0, abs=0.01)
    assert spans["upstream.attempt"].end_time - spans["upstream.attempt"].start_time == pytest.approx(50e6, abs=1000)


async def test_retried_attempts_are_separate_spans(traced, exporter, clock) -> None:
    hooks = th.instrument_hooks([AuthHook(clock)], traced)
    ctx = make_ctx(clock)
    await run_request(hooks, ctx, clock, fail_first_attempt=True)
    attempts = [s for s in exporter.get_finished_spans() if s.name == "upstream.attempt"]
    assert [s.attributes["sluice.attempt"] for s in attempts] == [1, 2]
    assert attempts[0].attributes["error.type"] == "503"
    root = _by_name(exporter)["chat smart"]
    assert root.attributes["sluice.attempts"] == 2


async def test_hook_error_marks_span_and_root_carries_status(traced, exporter, clock) -> None:
    hooks = th.instrument_hooks([AuthHook(clock, reject=True)], traced)
    ctx = make_ctx(clock)
    await run_request(hooks, ctx, clock)
    spans = _by_name(exporter)
    assert spans["auth"].status.status_code == StatusCode.ERROR
    assert spans["auth"].attributes["error.type"] == "invalid_api_key"
    assert spans["chat smart"].attributes["http.response.status_code"] == 401
    assert spans["chat smart"].attributes["error.type"] == "invalid_api_key"


async def test_planted_secrets_never_reach_exported_spans(clock, exporter) -> None:
    t = tm.Telemetry(TelemetryConfig(exporter="console", record_content=True), clock=clock,
                     exporter=exporter, simple=True)
    hooks = th.instrument_hooks([AuthHook(clock), GuardHook(), CacheHook()], t)
    ctx = make_ctx(clock)
    # even code that writes a secret straight onto a span is caught at export
    with tm.span(ctx, "careless", note=f"Authorization: Bearer {SECRETS[0]}", email=SECRETS[2]):
        pass
    await run_request(hooks, ctx, clock, completion_text=f"sure, {SECRETS[2]} noted with {SECRETS[1]}")
    text = all_span_text(exporter)
    assert "gen_ai.input.messages" in text and "gen_ai.output.messages" in text  # content was recorded
    for secret in SECRETS:
        assert secret not in text, secret
    assert "[REDACTED]" in text and "[EMAIL]" in text
    t.shutdown()


async def test_content_is_not_recorded_by_default(traced, exporter, clock) -> None:
    hooks = th.instrument_hooks([AuthHook(clock)], traced)
    ctx = make_ctx(clock)
    await run_request(hooks, ctx, clock, completion_text="unique-completion-words")
    text = all_span_text(exporter)
    assert "gen_ai.input.messages" not in text and "unique-completion-words" not in text


async def test_streamed_content_recorded_when_enabled(clock, exporter) -> None:
    t = tm.Telemetry(TelemetryConfig(exporter="console", record_content=True, content_max_chars=50),
                     clock=clock, exporter=exporter, simple=True)
    ctx = make_ctx(clock, stream=True)
    await run_request(th.instrument_hooks([], t), ctx, clock, completion_text="alpha beta gamma delta")
    root = _by_name(exporter)["chat smart"]
    out = root.attributes["gen_ai.output.messages"]
    assert out == '[{"role":"assistant","content":"alpha beta gamma d'  # truncated to 50 characters
    assert len(root.attributes["gen_ai.input.messages"]) == 50
    assert "[REDACTED]" in root.attributes["gen_ai.input.messages"]  # scrubbed, then truncated
    assert root.attributes["sluice.ttft_ms"] == pytest.approx(70.0)
    t.shutdown()


async def test_incoming_traceparent_is_continued(traced, exporter, clock) -> None:
    parent_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    ctx = make_ctx(clock, traceparent=f"00-{parent_trace}-00f067aa0ba902b7-01")
    await run_request(th.instrument_hooks([], traced), ctx, clock)
    root = _by_name(exporter)["chat smart"]
    assert format(root.context.trace_id, "032x") == parent_trace
    assert root.parent is not None and format(root.parent.span_id, "016x") == "00f067aa0ba902b7"


async def test_tracing_off_is_a_noop(clock) -> None:
    t = tm.Telemetry(TelemetryConfig(exporter="none", metrics=False), clock=clock)
    assert not t.tracing and t.metrics is None
    auth = AuthHook(clock)
    hooks = th.instrument_hooks([auth], t)
    assert hooks[1] is auth  # hooks are not wrapped when tracing is off
    ctx = make_ctx(clock)
    await run_request(hooks, ctx, clock)
    with tm.span(ctx, "upstream.attempt", x=1) as sp:
        assert sp is tm.NOOP_SPAN and not sp.recording
    # a context that never met telemetry gets the no-op too, and counting calls are harmless
    other = make_ctx(clock, rid="r2")
    assert tm.span(other, "x") is tm.NOOP_SPAN
    tm.upstream_error(other, "d", "500")
    tm.cooldown(other, "d")


async def test_background_span_is_its_own_trace(traced, exporter) -> None:
    with traced.background_span("ledger.flush", rows=25) as sp:
        sp.set("sluice.ledger.backend", "postgresql")
    (s,) = exporter.get_finished_spans()
    assert s.name == "ledger.flush" and s.parent is None and s.attributes["rows"] == 25


def test_config_rejects_otlp_without_endpoint_and_unknown_keys() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="otlp_endpoint"):
        TelemetryConfig(exporter="otlp")
    with pytest.raises(ValidationError, match="extra"):
        TelemetryConfig.model_validate({"exporter": "none", "endpoint": "x"})


def test_otlp_exporter_is_built_with_headers_from_env(monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_OTLP_HEADERS", "x-honeycomb-team=abc123, other = v")
    cfg = TelemetryConfig(exporter="otlp", otlp_endpoint="http://127.0.0.1:9/v1/traces",
                          otlp_headers_env="SLUICE_OTLP_HEADERS")
    exp = tx.make_exporter(cfg)
    assert type(exp).__name__ == "OTLPSpanExporter"
    assert exp._endpoint == "http://127.0.0.1:9/v1/traces"
    assert tx._otlp_headers("SLUICE_OTLP_HEADERS") == {"x-honeycomb-team": "abc123", "other": "v"}
    assert tx._otlp_headers(None) is None
    exp.shutdown()


async def test_sampled_out_requests_export_nothing_but_still_count(clock, exporter) -> None:
    t = tm.Telemetry(TelemetryConfig(exporter="console", sample_ratio=0.0), clock=clock,
                     exporter=exporter, simple=True)
    ctx = make_ctx(clock)
    await run_request(th.instrument_hooks([AuthHook(clock), CacheHook()], t), ctx, clock)
    assert exporter.get_finished_spans() == ()
    assert tm.span(ctx, "upstream.attempt") is tm.NOOP_SPAN
    assert t.metrics.registry.get_sample_value(
        "sluice_requests_total", {"route": "chat.completions", "model": "smart", "status": "200"}) == 1
    # an incoming sampled parent wins over the local ratio (ParentBased sampler)
    parented = make_ctx(clock, rid="r2", traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    await run_request(th.instrument_hooks([], t), parented, clock)
    assert [s.name for s in exporter.get_finished_spans() if s.parent and s.name == "chat smart"]
    t.shutdown()
