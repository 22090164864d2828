"""Per-request CPU cost of telemetry on the hot path, as deltas against a baseline in the same run.

Drives a stand-in pipeline (three trivial hooks, one upstream attempt, finished hooks) over a
RequestContext, N times per variant, and measures process CPU time:

  baseline      no telemetry at all
  off           telemetry attached, exporter none, metrics off (every span() is the shared no-op)
  metrics       exporter none, metrics on (the default config)
  tracing       OTLP-like batch export to a discarding exporter + metrics (spans per hook phase)
  sampled10     as tracing, with telemetry.sample_ratio 0.1 (unsampled spans do not record)

Run: .venv/bin/python bench/telemetry_bench.py [N]   (budget for the whole gateway: ~0.5 ms/request)
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from gateway.clock import SystemClock
from gateway.context import Principal, RequestContext
from gateway.hooks import Hook
from gateway.telemetry import hooks as th
from gateway.telemetry import tracing as tm
from gateway.telemetry.config import TelemetryConfig


class Discard(SpanExporter):
    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS


class Auth(Hook):
    name = "auth"

    async def before(self, ctx: RequestContext):
        ctx.principal = Principal(key_id="k1", team_id="t1")


class Guard(Hook):
    name = "guardrails"


class Cache(Hook):
    name = "cache"

    async def before(self, ctx: RequestContext):
        ctx.cache_status = "miss"


async def one_request(hooks: list[Hook], clock: SystemClock) -> None:
    ctx = RequestContext(request_id=uuid.uuid4().hex, route="chat.completions",
                         body={"model": "smart", "messages": [{"role": "user", "content": "hi"}]},
                         headers={"authorization": "Bearer x"}, started_mono=clock.monotonic(),
                         started_wall=clock.time(), requested_model="smart")
    for h in hooks:
        await h.before(ctx)
    ctx.model_group = "smart"
    with tm.span(ctx, "upstream.attempt", **{"sluice.deployment": "smart/openai/m#0", "sluice.attempt": 1}):
        ctx.attempts = 1
    ctx.served_deployment, ctx.served_provider, ctx.served_model = "smart/openai/m#0", "openai", "m"
    ctx.usage = {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}
    ctx.cost_usd = 0.0001
    completion = {"choices": [{"message": {"role": "assistant", "content": "hello"}}]}
    for h in hooks:
        completion = await h.after(ctx, completion)
    ctx.completion = completion
    ctx.ended_mono = clock.monotonic()
    for h in hooks:
        await h.finished(ctx)


async def run(hooks: list[Hook], n: int, t: tm.Telemetry | None) -> tuple[float, float]:
    """(process CPU us/request including the exporter thread, event-loop thread CPU us/request)."""
    clock = SystemClock()
    for _ in range(200):  # warm up
        await one_request(hooks, clock)
    if t is not None:
        t.flush()
    p0, th0 = time.process_time(), time.thread_time()
    for _ in range(n):
        await one_request(hooks, clock)
    th1 = time.thread_time()
    if t is not None:
        t.flush()  # count the batch exporter's work for these requests too
    p1 = time.process_time()
    return (p1 - p0) / n * 1e6, (th1 - th0) / n * 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    base_hooks: list[Hook] = [Auth(), Guard(), Cache()]
    variants: dict[str, tuple[list[Hook], tm.Telemetry | None]] = {"baseline": (base_hooks, None)}
    for name, cfg, exporter in (
        ("off", TelemetryConfig(exporter="none", metrics=False), None),
        ("metrics", TelemetryConfig(), None),
        ("tracing", TelemetryConfig(exporter="console"), Discard()),
        ("sampled10", TelemetryConfig(exporter="console", sample_ratio=0.1), Discard()),
    ):
        t = tm.Telemetry(cfg, exporter=exporter)
        variants[name] = (th.instrument_hooks([Auth(), Guard(), Cache()], t), t)
    loop = asyncio.new_event_loop()
    results = {name: loop.run_until_complete(run(hooks, n, t)) for name, (hooks, t) in variants.items()}
    base, base_loop = results["baseline"]
    print(f"telemetry bench: {n} requests per variant; CPU us/request; stand-in pipeline with "
          "3 hooks (2 traced phases), 1 upstream attempt")
    print(f"{'variant':<10} {'process':>8} {'delta':>7} {'loop thread':>12} {'delta':>7}  {'process delta / 500us':>22}")
    for name, (us, loop_us) in results.items():
        print(f"{name:<10} {us:8.1f} {us - base:7.1f} {loop_us:12.1f} {loop_us - base_loop:7.1f}  "
              f"{(us - base) / 500:21.1%}")
    noop = loop.run_until_complete(_noop_span_cost(200_000))
    print(f"no-op span() enter/exit: {noop:.3f} us per call")
    for _, tel in variants.values():
        if tel is not None:
            tel.shutdown()


async def _noop_span_cost(n: int) -> float:
    ctx = RequestContext(request_id="r", route="chat.completions", body={}, headers={},
                         started_mono=0.0, started_wall=0.0)
    t0 = time.process_time()
    for _ in range(n):
        with tm.span(ctx, "upstream.attempt", **{"sluice.deployment": "d", "sluice.attempt": 1}):
            pass
    return (time.process_time() - t0) / n * 1e6




# --- through the real app ----------------------------------------------------------------------
# `python bench/telemetry_bench.py --app [N]`: the mock upstream in a child process, the gateway app
# driven in-process through its ASGI interface (no HTTP client in the measurement), process CPU
# per request for telemetry off / metrics only / tracing every request / tracing 10%.

async def _asgi_post(app, body: bytes) -> int:
    status = 0
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(msg):
        nonlocal status
        if msg["type"] == "http.response.start":
            status = msg["status"]

    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": [
        (b"content-type", b"application/json"), (b"authorization", b"Bearer sk-bench")],
        "query_string": b"", "http_version": "1.1", "scheme": "http", "server": ("gw", 80),
        "client": ("127.0.0.1", 1), "root_path": ""}
    await app(scope, receive, send)
    return status


async def _app_variant(base_url: str, telemetry: dict, n: int) -> float:
    import orjson as _orjson

    from gateway.app import create_app
    from gateway.config import parse_config

    cfg = parse_config({"models": [{"name": "m", "deployments": [
        {"provider": "openai", "model": "mock-gpt", "api_base": base_url}]}], "telemetry": telemetry})
    app = create_app(cfg)
    body = _orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hello there"}]})
    async with app.lifespan():
        tel = app.gateway.services.telemetry
        assert tel is not None  # built with the first generation
        if tel.provider is not None:  # export to nowhere: measure the SDK, not a network exporter
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            tel.provider._active_span_processor._span_processors = (BatchSpanProcessor(Discard()),)
        for _ in range(100):
            assert await _asgi_post(app, body) == 200
        t0 = time.process_time()
        for _ in range(n):
            await _asgi_post(app, body)
        tel.flush()
        return (time.process_time() - t0) / n * 1e6


def app_main(n: int) -> None:
    import socket
    import subprocess

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mock = subprocess.Popen([sys.executable, "-m", "gateway.cli", "mock-upstream", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        base = f"http://127.0.0.1:{port}/v1"
        loop = asyncio.new_event_loop()
        app_variants: dict[str, dict[str, Any]] = {
            "off": {"metrics": False}, "metrics": {}, "tracing": {"exporter": "console"},
            "sampled10": {"exporter": "console", "sample_ratio": 0.1}}
        res = {k: loop.run_until_complete(_app_variant(base, v, n)) for k, v in app_variants.items()}
        print(f"through the app ({n} non-streamed chat requests each; gateway + aiohttp client CPU, "
              "mock in another process)")
        for k, us in res.items():
            print(f"{k:<10} {us:8.1f} us/req  delta vs off {us - res['off']:7.1f} us  ratio {us / res['off']:.2f}")
    finally:
        mock.terminate()
        mock.wait(10)


if __name__ == "__main__":
    if "--app" in sys.argv:
        sys.argv.remove("--app")
        app_main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
    else:
        main()
