"""Prometheus metrics: per-app registries, values recorded from the request, GET /metrics."""

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from gateway.api.metrics import metrics_router
from gateway.telemetry import hooks as th
from gateway.telemetry import tracing as tm
from gateway.telemetry.config import TelemetryConfig
from gateway.telemetry.metrics import GatewayMetrics

from .conftest import AuthHook, CacheHook, GuardHook, make_ctx, run_request


def sample(metrics: GatewayMetrics, name: str, /, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


@pytest.fixture
def tel(clock):
    return tm.Telemetry(TelemetryConfig(), clock=clock)


async def test_request_metrics_recorded_from_context(tel, clock) -> None:
    hooks = th.instrument_hooks([AuthHook(clock), GuardHook(), CacheHook()], tel)
    await run_request(hooks, make_ctx(clock), clock, fail_first_attempt=True)
    stream_ctx = make_ctx(clock, stream=True, rid="r2")
    await run_request(hooks, stream_ctx, clock)
    m = tel.metrics
    assert sample(m, "sluice_requests_total", route="chat.completions", model="smart", status="200") == 2
    assert sample(m, "sluice_request_duration_seconds_count", route="chat.completions", model="smart") == 2
    # 1 ms auth + 2 x 50 ms attempts + 10 ms, then 1 + 50 + 10 ms
    assert sample(m, "sluice_request_duration_seconds_sum", route="chat.completions",
                  model="smart") == pytest.approx(0.111 + 0.061)
    assert sample(m, "sluice_time_to_first_token_seconds_count", model="smart") == 1
    assert sample(m, "sluice_time_to_first_token_seconds_sum", model="smart") == pytest.approx(0.071)
    assert sample(m, "sluice_tokens_total", model="smart", type="input") == 22
    assert sample(m, "sluice_tokens_total", model="smart", type="output") == 14
    assert sample(m, "sluice_tokens_total", model="smart", type="cached_input") == 6
    assert sample(m, "sluice_cost_usd_total", model="smart", team="team-a") == pytest.approx(0.0084)
    assert sample(m, "sluice_cache_requests_total", route="chat.completions", result="miss") == 2
    assert sample(m, "sluice_guardrail_actions_total", scanner="pii", direction="input", action="redact") == 2
    assert sample(m, "sluice_upstream_errors_total", deployment="smart/openai/gpt-x#0", reason="503") == 1
    assert sample(m, "sluice_deployment_cooldowns_total", deployment="smart/openai/gpt-x#0") == 1
    assert sample(m, "sluice_unpriced_requests_total", model="smart") is None


async def test_unpriced_and_error_requests(tel, clock) -> None:
    ctx = make_ctx(clock)
    ctx.model_group, ctx.served_deployment, ctx.cost_usd = "smart", "d0", None
    ctx.ended_mono = clock.monotonic()
    tel.finish(ctx)
    rejected = make_ctx(clock, rid="r3")
    await run_request(th.instrument_hooks([AuthHook(clock, reject=True)], tel), rejected, clock)
    hit = make_ctx(clock, rid="r4")
    hit.model_group, hit.served_deployment, hit.cache_status = "smart", "d0", "hit"
    tel.finish(hit)
    m = tel.metrics
    assert sample(m, "sluice_unpriced_requests_total", model="smart") == 1  # the cache hit is not unpriced
    # the rejected request never resolved a model group: the label stays bounded
    assert sample(m, "sluice_requests_total", route="chat.completions", model="unresolved", status="401") == 1


def test_registries_are_per_instance_and_gauges_settable() -> None:
    a, b = GatewayMetrics(), GatewayMetrics()
    a.set_gauge("ledger_queue_depth", 7)
    a.set_gauge("budget_utilization_ratio", 0.85, scope="team", name="team-a")
    depth = [3]
    b.gauge_callback("cache_entries", "Entries in the exact cache", lambda: depth[0])
    depth[0] = 5
    assert sample(a, "sluice_ledger_queue_depth") == 7
    assert sample(b, "sluice_ledger_queue_depth") == 0
    assert sample(a, "sluice_budget_utilization_ratio", scope="team", name="team-a") == 0.85
    assert sample(b, "sluice_cache_entries") == 5  # read at scrape time
    with pytest.raises(KeyError, match="unknown gauge"):
        a.set_gauge("no_such_gauge", 1)
    with pytest.raises(ValueError, match="settable gauge"):
        a.gauge_callback("ledger_queue_depth", "x", lambda: 1)


async def test_metrics_route_serves_prometheus_text(tel, clock) -> None:
    await run_request(th.instrument_hooks([AuthHook(clock)], tel), make_ctx(clock), clock)
    app = FastAPI()
    app.include_router(metrics_router(tel.metrics))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
        resp = await client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(resp.text)}
    (s,) = [s for s in families["sluice_requests"].samples if s.name == "sluice_requests_total"]
    assert s.labels == {"route": "chat.completions", "model": "smart", "status": "200"} and s.value == 1
    assert "sluice_ledger_queue_depth" in families
    assert "python_gc_objects_collected" not in resp.text  # not the global default registry


def test_without_a_pricing_hook_nothing_is_counted_unpriced(clock) -> None:
    t = tm.Telemetry(TelemetryConfig(), clock=clock, pricing_active=lambda: False)
    ctx = make_ctx(clock)
    ctx.model_group, ctx.served_deployment, ctx.cost_usd = "smart", "d0", None
    t.finish(ctx)
    assert sample(t.metrics, "sluice_unpriced_requests_total", model="smart") is None
    assert sample(t.metrics, "sluice_requests_total", route="chat.completions", model="smart", status="200") == 1


def test_metrics_route_is_documented_as_plain_text(tel) -> None:
    app = FastAPI()
    app.include_router(metrics_router(tel.metrics))
    doc = app.openapi()["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(doc) == ["text/plain"]
    assert "_created" not in "".join(
        s.name for f in tel.metrics.registry.collect() for s in f.samples)


async def test_scrape_reports_the_ledger_backlog(mock, tmp_path) -> None:
    from tests.gateway_fixtures import gateway_client, mock_config

    cfg = mock_config(mock, spend={"enabled": True, "ledger": {"path": str(tmp_path / "spend.db"),
                                                              "spool_dir": str(tmp_path / "spool"),
                                                              "flush_interval_s": 3600}})
    async with gateway_client(cfg) as (app, client):
        for _ in range(3):
            r = await client.post("/v1/chat/completions", json={"model": "mock-chat",
                                                                "messages": [{"role": "user", "content": "hi"}]})
            assert r.status_code == 200
        text = (await client.get("/metrics")).text
        depth = [line for line in text.splitlines() if line.startswith("sluice_ledger_queue_depth ")]
        assert depth and float(depth[0].split()[1]) == 3 == app.gateway.services.spend.writer.pending_rows
