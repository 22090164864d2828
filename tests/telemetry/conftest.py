"""Helpers for telemetry tests: a request context and a tiny stand-in pipeline."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.clock import FakeClock
from gateway.context import GuardrailOutcome, Principal, RequestContext
from gateway.errors import AuthenticationError, UpstreamError
from gateway.hooks import Hook
from gateway.telemetry import tracing as tm
from gateway.telemetry.config import TelemetryConfig

BEARER = "sk-sluice-PLANTEDkey0123456789"
PROMPT_KEY = "sk-proj-PLANTEDprompt987654321"
EMAIL = "planted.person@example.com"
SECRETS = (BEARER, PROMPT_KEY, EMAIL)


def make_ctx(clock: FakeClock, *, stream: bool = False, rid: str = "req-1", **headers: str) -> RequestContext:
    body: dict[str, Any] = {"model": "smart", "stream": stream, "messages": [
        {"role": "user", "content": f"my key is {PROMPT_KEY}, mail me at {EMAIL}"}]}
    hdrs = {"authorization": f"Bearer {BEARER}", "content-type": "application/json"}
    hdrs.update({k.replace("_", "-"): v for k, v in headers.items()})
    return RequestContext(request_id=rid, route="chat.completions", body=body, headers=hdrs,
                          started_mono=clock.monotonic(), started_wall=clock.time(), stream=stream,
                          requested_model="smart")


class AuthHook(Hook):
    name = "auth"

    def __init__(self, clock: FakeClock, reject: bool = False) -> None:
        self.clock = clock
        self.reject = reject

    async def before(self, ctx: RequestContext):
        self.clock.advance(0.001)
        if self.reject:
            raise AuthenticationError("unknown key")
        ctx.principal = Principal(key_id="key_abc", team_id="team-a")


class GuardHook(Hook):
    name = "guardrails"

    async def before(self, ctx: RequestContext):
        ctx.guardrails.append(GuardrailOutcome("pii", "input", "redact", rule="EMAIL_ADDRESS", latency_ms=0.4))


class CacheHook(Hook):
    name = "cache"

    async def before(self, ctx: RequestContext):
        ctx.cache_status = "miss"


class SpendHook(Hook):
    name = "spend"

    async def finished(self, ctx: RequestContext) -> None:
        ctx.scratch["spend"] = "enqueued"


async def run_request(hooks: list[Hook], ctx: RequestContext, clock: FakeClock, *,
                      fail_first_attempt: bool = False, completion_text: str = "the answer") -> None:
    """What the lead's pipeline does, reduced to the calls telemetry relies on."""
    try:
        for h in hooks:
            await h.before(ctx)
        ctx.model_group = "smart"
        for attempt in (1, 2) if fail_first_attempt else (1,):
            with tm.span(ctx, "upstream.attempt", **{"sluice.deployment": "smart/openai/gpt-x#0",
                                                     "sluice.attempt": attempt,
                                                     "server.address": "upstream.local"}) as sp:
                clock.advance(0.050)
                ctx.attempts = attempt
                if fail_first_attempt and attempt == 1:
                    tm.upstream_error(ctx, "smart/openai/gpt-x#0", "503")
                    tm.cooldown(ctx, "smart/openai/gpt-x#0")
                    try:
                        raise UpstreamError("upstream 503", upstream_status=503)
                    except UpstreamError:
                        sp.set("error.type", "503")
                        continue
                sp.set("http.response.status_code", 200)
        ctx.served_deployment, ctx.served_provider, ctx.served_model = "smart/openai/gpt-x#0", "openai", "gpt-x-1"
        ctx.usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18,
                     "prompt_tokens_details": {"cached_tokens": 3}}
        ctx.cost_usd = 0.0042
        completion = {"choices": [{"index": 0, "message": {"role": "assistant", "content": completion_text},
                                   "finish_reason": "stop"}]}
        ctx.completion = completion  # the pipeline aggregates streamed chunks into this too
        if ctx.stream:
            filters = [f for f in (h.stream_filter(ctx) for h in hooks) if f is not None]
            ctx.first_byte_mono = clock.monotonic() + 0.02
            for part in completion_text.split(" "):
                chunk = {"choices": [{"index": 0, "delta": {"content": part + " "}}]}
                for f in filters:
                    f.on_chunk(chunk)
        else:
            for h in reversed(hooks):
                completion = await h.after(ctx, completion)
    except AuthenticationError as exc:
        ctx.status_code, ctx.error_code = exc.status, exc.code
    clock.advance(0.010)
    ctx.ended_mono = clock.monotonic()
    for h in hooks:
        await h.finished(ctx)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced(clock, exporter):
    t = tm.Telemetry(TelemetryConfig(exporter="console"), clock=clock, exporter=exporter, simple=True)
    yield t
    t.shutdown()


def all_span_text(exporter: InMemorySpanExporter) -> str:
    return "\n".join(s.to_json() for s in exporter.get_finished_spans())
