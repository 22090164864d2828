"""Telemetry wired into the real app over the mock upstream: spans, /metrics, scrubbed logs.

Requests carry planted secrets (a bearer token, an sk- key and an e-mail in the prompt); the test
scans every exported span and every log line for them.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import httpx
import orjson
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_app
from gateway.config import parse_config
from gateway.mock_upstream import MockUpstream
from gateway.telemetry import tracing as tm
from gateway.telemetry.logs import configure_logging

from .conftest import BEARER, EMAIL, PROMPT_KEY, SECRETS


@pytest.fixture(scope="module")
def mock() -> Iterator[MockUpstream]:
    with MockUpstream() as m:
        yield m


@pytest.fixture
def exporter(monkeypatch) -> InMemorySpanExporter:
    exp = InMemorySpanExporter()
    # the real path, captured in memory instead of printed or sent
    monkeypatch.setattr(tm, "make_exporter", lambda config: None if config.exporter == "none" else exp)
    return exp


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    old = root.level
    handler = configure_logging("DEBUG", "json", stream=stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old)


def _config(mock: MockUpstream, exporter: str = "console", **telemetry):
    return parse_config({
        "router": {"retry": {"max_retries": 2, "backoff_base_s": 0.0}},
        "models": [
            {"name": "smart", "deployments": [{"provider": "openai", "model": "mock-gpt", "api_base": mock.base_url}]},
            {"name": "embed", "mode": "embedding",
             "deployments": [{"provider": "openai", "model": "mock-embed", "api_base": mock.base_url}]},
        ],
        "telemetry": {"exporter": exporter, **telemetry},
    })


async def _drive(app, requests: list[tuple[str, dict]]) -> tuple[list[httpx.Response], str]:
    async with app.lifespan():
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw", timeout=30) as client:
            headers = {"authorization": f"Bearer {BEARER}"}
            out = [await client.post(path, json=body, headers=headers) for path, body in requests]
            metrics = (await client.get("/metrics")).text
    return out, metrics


CHAT = {"model": "smart", "messages": [{"role": "user", "content": f"key {PROMPT_KEY} mail {EMAIL}"}]}


async def test_spans_metrics_and_logs_from_real_requests(mock, exporter, log_text) -> None:
    mock.reset()
    app = create_app(_config(mock, record_content=True))
    tel = app.gateway.services.telemetry
    responses, metrics_text = await _drive(app, [
        ("/v1/chat/completions", CHAT),
        ("/v1/chat/completions", {**CHAT, "stream": True}),
        ("/v1/embeddings", {"model": "embed", "input": f"hello {EMAIL}"}),
        ("/v1/chat/completions", {**CHAT, "model": "nope"}),
    ])
    assert [r.status_code for r in responses] == [200, 200, 200, 404]
    tel.flush()
    spans = exporter.get_finished_spans()
    roots = [s for s in spans if s.parent is None]
    assert sorted(s.name for s in roots) == ["chat nope", "chat smart", "chat smart", "embeddings embed"]
    usage = responses[0].json()["usage"]
    whole = next(s for s in roots if s.name == "chat smart" and not s.attributes["sluice.stream"])
    assert whole.attributes["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert whole.attributes["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    assert whole.attributes["gen_ai.response.model"] == "mock-gpt"
    assert whole.attributes["server.address"] == "127.0.0.1"
    streamed = next(s for s in roots if s.name == "chat smart" and s.attributes["sluice.stream"])
    assert streamed.attributes["gen_ai.usage.output_tokens"] > 0  # usage asked of the upstream
    assert streamed.attributes["sluice.ttft_ms"] >= 0
    attempts = [s for s in spans if s.name == "upstream.attempt"]
    assert len(attempts) == 3 and {a.parent.span_id for a in attempts} <= {r.context.span_id for r in roots}
    # nothing planted leaves the process: spans (content recording on) and log lines
    dumped = "\n".join(s.to_json() for s in spans)
    assert "gen_ai.input.messages" in dumped
    logs = log_text.getvalue()
    for secret in SECRETS:
        assert secret not in dumped, secret
        assert secret not in logs, secret
    # /metrics of this app instance
    fams = {f.name: f for f in text_string_to_metric_families(metrics_text)}
    req = {(s.labels["route"], s.labels["model"], s.labels["status"]): s.value
           for s in fams["sluice_requests"].samples if s.name == "sluice_requests_total"}
    assert req == {("chat.completions", "smart", "200"): 2, ("embeddings", "embed", "200"): 1,
                   ("chat.completions", "unresolved", "404"): 1}
    tokens = {(s.labels["model"], s.labels["type"]): s.value for s in fams["sluice_tokens"].samples
              if s.name == "sluice_tokens_total"}
    assert tokens[("smart", "input")] >= 2 * usage["prompt_tokens"] - 1
    inflight = {s.labels["deployment"]: s.value for s in fams["sluice_deployment_in_flight"].samples}
    assert inflight == {"smart/openai/mock-gpt#0": 0.0, "embed/openai/mock-embed#0": 0.0}
    ttft = [s for s in fams["sluice_time_to_first_token_seconds"].samples if s.name.endswith("_count")]
    assert ttft[0].value == 1


async def test_failed_attempt_is_counted_and_spanned(mock, exporter) -> None:
    mock.reset()
    mock.config.fault, mock.config.fault_first_n = "500", 1
    try:
        app = create_app(_config(mock))
        responses, metrics_text = await _drive(app, [("/v1/chat/completions", CHAT)])
    finally:
        mock.config.fault, mock.config.fault_first_n = None, None
    assert responses[0].status_code == 200 and responses[0].headers["x-sluice-attempts"] == "2"
    app.gateway.services.telemetry.flush()
    attempts = sorted((s for s in exporter.get_finished_spans() if s.name == "upstream.attempt"),
                      key=lambda s: s.attributes["sluice.attempt"])
    assert [a.status.is_ok for a in attempts] == [False, True]
    assert attempts[0].attributes["error.type"] != ""
    fams = {f.name: f for f in text_string_to_metric_families(metrics_text)}
    errs = [s for s in fams["sluice_upstream_errors"].samples if s.name == "sluice_upstream_errors_total"]
    assert len(errs) == 1 and errs[0].value == 1 and errs[0].labels["deployment"] == "smart/openai/mock-gpt#0"


async def test_tracing_off_exports_nothing_and_metrics_can_be_off(mock, exporter) -> None:
    mock.reset()
    app = create_app(_config(mock, exporter="none", metrics=False))
    async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                                 base_url="http://gw") as client:
        ok = await client.post("/v1/chat/completions", json=CHAT)
        missing = await client.get("/metrics")
    assert ok.status_code == 200
    assert missing.status_code == 404 and orjson.loads(missing.content)["error"]["code"] == "unknown_route"
    assert exporter.get_finished_spans() == ()
    assert not app.gateway.services.telemetry.tracing


async def test_cache_hits_are_counted_and_the_cache_span_short_circuits(mock, exporter) -> None:
    mock.reset()
    cfg = _config(mock)
    cfg.cache.enabled, cfg.cache.semantic.enabled = True, False
    app = create_app(cfg)
    async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                                 base_url="http://gw") as client:
        first = await client.post("/v1/chat/completions", json=CHAT)
        await app.gateway.services.cache.drain()  # the store happens after the response
        second = await client.post("/v1/chat/completions", json=CHAT)
        text = (await client.get("/metrics")).text
    assert (first.headers["x-sluice-cache"], second.headers["x-sluice-cache"]) == ("miss", "hit")
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    cache = {s.labels["result"]: s.value for s in fams["sluice_cache_requests"].samples}
    assert cache == {"miss": 1, "hit": 1}
    req = [s for s in fams["sluice_requests"].samples if s.labels["model"] == "smart"]
    assert len(req) == 1 and req[0].value == 2  # the hit is labelled with its model group
    app.gateway.services.telemetry.flush()
    cache_spans = [s for s in exporter.get_finished_spans() if s.name == "cache"]
    assert [s.attributes.get("sluice.short_circuit", False) for s in cache_spans] == [False, True]
    roots = [s for s in exporter.get_finished_spans() if s.parent is None]
    assert sorted(r.attributes["sluice.cache_status"] for r in roots) == ["hit", "miss"]
    assert len([s for s in exporter.get_finished_spans() if s.name == "upstream.attempt"]) == 1
