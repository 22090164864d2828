"""Router behaviour against the mock upstream with injected faults (time injected, no sleeps)."""

from __future__ import annotations

import asyncio
import collections

import orjson
import pytest

from gateway.clock import FakeClock
from gateway.mock_upstream import MockUpstream
from tests.gateway_fixtures import gateway_client, mock_config

MSG = [{"role": "user", "content": "hi"}]
BODY = {"model": "g", "messages": MSG}


@pytest.fixture
def second_mock():
    with MockUpstream() as m:
        yield m


def dep(mock: MockUpstream, model: str = "m", **kw) -> dict:
    return {"provider": "openai", "model": model, "api_base": mock.base_url, "timeout_s": 2, **kw}


def group(name: str, *deps: dict, **kw) -> dict:
    return {"name": name, "deployments": list(deps), **kw}


async def test_retries_a_retryable_failure_then_succeeds(mock) -> None:
    mock.set_fault("500", first_n=1)
    async with gateway_client(mock_config(mock, models=[group("g", dep(mock))])) as (_, client):
        r = await client.post("/v1/chat/completions", json=BODY)
    assert r.status_code == 200
    assert r.headers["x-sluice-attempts"] == "2"
    assert mock.requests_seen == 2


@pytest.mark.parametrize("fault", ["500", "503", "429", "malformed-json"])
async def test_retry_moves_to_the_other_deployment(mock, second_mock, fault) -> None:
    mock.set_fault(fault)
    cfg = mock_config(mock, models=[group("g", dep(mock, "bad"), dep(second_mock, "good"), strategy="least-busy")],
                      router={"retry": {"max_retries": 2, "backoff_base_s": 0.001, "max_retry_after_s": 0.01}})
    async with gateway_client(cfg) as (_, client):
        for _ in range(4):
            r = await client.post("/v1/chat/completions", json=BODY)
            assert r.status_code == 200
            assert r.headers["x-sluice-model"] == "g/openai/good#1"


async def test_client_errors_from_upstream_are_not_retried(mock) -> None:
    # the mock rejects an unknown fault name with a 400: a client error passes through, once
    cfg_headers = {"x-mock-fault": "no-such-fault"}
    cfg = mock_config(mock, models=[group("g", dep(mock, headers=cfg_headers))])
    async with gateway_client(cfg) as (_, client):
        r = await client.post("/v1/chat/completions", json=BODY)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "upstream_rejected_request"
    assert mock.requests_seen == 1


async def test_429_honours_retry_after_within_the_cap(mock) -> None:
    mock.set_fault("429", first_n=1)
    mock.config.retry_after_s = 0.2
    cfg = mock_config(mock, models=[group("g", dep(mock))], router={"retry": {"max_retry_after_s": 5}})
    async with gateway_client(cfg) as (_, client):
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        r = await client.post("/v1/chat/completions", json=BODY)
        waited = loop.time() - t0
    mock.config.retry_after_s = 1.0
    assert r.status_code == 200
    assert waited >= 0.19  # it waited as the upstream asked before retrying


async def test_fallback_group_serves_when_primary_is_exhausted(mock, second_mock) -> None:
    mock.set_fault("503")
    cfg = mock_config(mock, models=[group("g", dep(mock, "primary"), fallbacks=["backup"]),
                                    group("backup", dep(second_mock, "secondary"))],
                      router={"retry": {"max_retries": 1, "backoff_base_s": 0.001, "max_retry_after_s": 0}})
    async with gateway_client(cfg) as (_, client):
        r = await client.post("/v1/chat/completions", json=BODY)
    assert r.status_code == 200
    assert r.headers["x-sluice-model"] == "backup/openai/secondary#0"
    assert r.headers["x-sluice-attempts"] == "3"


async def test_all_attempts_failing_gives_an_openai_shaped_502(mock) -> None:
    mock.set_fault("500")
    cfg = mock_config(mock, models=[group("g", dep(mock))], router={"retry": {"max_retries": 2}})
    async with gateway_client(cfg) as (_, client):
        r = await client.post("/v1/chat/completions", json=BODY)
    assert r.status_code == 502
    assert r.json()["error"]["type"] == "upstream_error"
    assert mock.requests_seen == 3


async def test_cooldown_opens_after_n_failures_and_closes_after_its_time(mock) -> None:
    clock = FakeClock()
    mock.set_fault("500")
    cfg = mock_config(mock, models=[group("g", dep(mock))],
                      router={"retry": {"max_retries": 0}, "cooldown": {"failures": 2, "window_s": 60, "cooldown_s": 30}})
    async with gateway_client(cfg, clock=clock) as (_, client):
        assert (await client.post("/v1/chat/completions", json=BODY)).status_code == 502
        assert (await client.post("/v1/chat/completions", json=BODY)).status_code == 502
        seen = mock.requests_seen
        r = await client.post("/v1/chat/completions", json=BODY)
        assert r.status_code == 503 and r.json()["error"]["code"] == "deployments_cooling_down"
        assert 1 <= int(r.headers["retry-after"]) <= 30
        assert mock.requests_seen == seen  # a cooling deployment gets no traffic
        mock.set_fault(None)
        clock.advance(31)
        assert (await client.post("/v1/chat/completions", json=BODY)).status_code == 200


async def test_failures_outside_the_window_do_not_open_the_breaker(mock) -> None:
    clock = FakeClock()
    mock.set_fault("500")
    cfg = mock_config(mock, models=[group("g", dep(mock))],
                      router={"retry": {"max_retries": 0}, "cooldown": {"failures": 2, "window_s": 10, "cooldown_s": 30}})
    async with gateway_client(cfg, clock=clock) as (_, client):
        await client.post("/v1/chat/completions", json=BODY)
        clock.advance(11)
        await client.post("/v1/chat/completions", json=BODY)
        mock.set_fault(None)
        assert (await client.post("/v1/chat/completions", json=BODY)).status_code == 200


async def test_weighted_strategy_follows_weights(mock, second_mock) -> None:
    cfg = mock_config(mock, models=[group("g", dep(mock, "a", weight=3), dep(second_mock, "b", weight=1))])
    async with gateway_client(cfg) as (_, client):
        counts = collections.Counter()
        for _ in range(200):
            r = await client.post("/v1/chat/completions", json=BODY)
            counts[r.headers["x-sluice-model"]] += 1
    share = counts["g/openai/a#0"] / 200
    assert 0.62 < share < 0.88, counts  # 0.75 expected; bounds are > 4 sigma


async def test_lowest_cost_picks_the_cheaper_deployment(mock, second_mock) -> None:
    cfg = mock_config(mock, models=[group("g", dep(mock, "dear", price={"input_per_mtok": 5, "output_per_mtok": 15}),
                                          dep(second_mock, "cheap", price={"input_per_mtok": 0.1, "output_per_mtok": 0.4}),
                                          strategy="lowest-cost")])
    async with gateway_client(cfg) as (_, client):
        for _ in range(5):
            r = await client.post("/v1/chat/completions", json=BODY)
            assert r.headers["x-sluice-model"] == "g/openai/cheap#1"


async def test_lowest_latency_prefers_the_faster_deployment(mock, second_mock) -> None:
    slow = dep(mock, "slow", headers={"x-mock-latency-ms": "60"})
    cfg = mock_config(mock, models=[group("g", slow, dep(second_mock, "fast"), strategy="lowest-latency")])
    async with gateway_client(cfg) as (_, client):
        served = [(await client.post("/v1/chat/completions", json=BODY)).headers["x-sluice-model"] for _ in range(12)]
    # after both are measured once, every request goes to the faster one
    assert served[2:] == ["g/openai/fast#1"] * 10


async def test_least_busy_spreads_concurrent_requests(mock, second_mock) -> None:
    slow_a = dep(mock, "a", headers={"x-mock-latency-ms": "100"})
    slow_b = dep(second_mock, "b", headers={"x-mock-latency-ms": "100"})
    cfg = mock_config(mock, models=[group("g", slow_a, slow_b, strategy="least-busy")])
    async with gateway_client(cfg) as (_, client):
        rs = await asyncio.gather(*[client.post("/v1/chat/completions", json=BODY) for _ in range(6)])
    counts = collections.Counter(r.headers["x-sluice-model"] for r in rs)
    assert counts == {"g/openai/a#0": 3, "g/openai/b#1": 3}


async def test_saturated_group_queues_then_sheds_load_with_retry_after(mock) -> None:
    slow = dep(mock, headers={"x-mock-latency-ms": "300"}, max_in_flight=1)
    cfg = mock_config(mock, models=[group("g", slow)], router={"queue_timeout_s": 0.05})
    async with gateway_client(cfg) as (_, client):
        rs = await asyncio.gather(*[client.post("/v1/chat/completions", json=BODY) for _ in range(3)])
    statuses = sorted(r.status_code for r in rs)
    assert statuses == [200, 503, 503]
    shed = next(r for r in rs if r.status_code == 503)
    assert shed.json()["error"]["code"] == "model_overloaded" and int(shed.headers["retry-after"]) >= 1
    assert mock.requests_seen == 1


async def test_queued_request_is_served_when_a_slot_frees(mock) -> None:
    slow = dep(mock, headers={"x-mock-latency-ms": "100"}, max_in_flight=1)
    cfg = mock_config(mock, models=[group("g", slow)], router={"queue_timeout_s": 2})
    async with gateway_client(cfg) as (_, client):
        rs = await asyncio.gather(*[client.post("/v1/chat/completions", json=BODY) for _ in range(3)])
    assert [r.status_code for r in rs] == [200, 200, 200]


async def test_rpm_limit_of_a_deployment_is_respected(mock, second_mock) -> None:
    clock = FakeClock()
    cfg = mock_config(mock, models=[group("g", dep(mock, "small", rpm=2), dep(second_mock, "big"),
                                          strategy="lowest-cost")], router={"queue_timeout_s": 0})
    async with gateway_client(cfg, clock=clock) as (_, client):
        served = [(await client.post("/v1/chat/completions", json=BODY)).headers["x-sluice-model"] for _ in range(4)]
        assert served.count("g/openai/small#0") == 2  # price unknown for both: first in list wins until rpm
        clock.advance(61)
        r = await client.post("/v1/chat/completions", json=BODY)
        assert r.headers["x-sluice-model"] == "g/openai/small#0"


async def test_hung_upstream_times_out_with_504(mock) -> None:
    mock.set_fault("hang")
    cfg = mock_config(mock, models=[group("g", dep(mock, timeout_s=0.2))], router={"retry": {"max_retries": 0}})
    async with gateway_client(cfg) as (_, client):
        r = await client.post("/v1/chat/completions", json=BODY)
    assert r.status_code == 504 and r.json()["error"]["code"] == "upstream_timeout"


async def test_total_deadline_caps_retries(mock) -> None:
    mock.set_fault("hang")
    cfg = mock_config(mock, models=[group("g", dep(mock, timeout_s=5))],
                      router={"total_deadline_s": 0.3, "retry": {"max_retries": 5}})
    async with gateway_client(cfg) as (_, client):
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        r = await client.post("/v1/chat/completions", json=BODY)
        assert loop.time() - t0 < 2.0
    assert r.status_code == 504


async def test_stream_is_retried_before_its_first_chunk(mock) -> None:
    mock.set_fault("503", first_n=1)
    cfg = mock_config(mock, models=[group("g", dep(mock))], router={"retry": {"max_retry_after_s": 0}})
    async with gateway_client(cfg) as (_, client):
        r = await client.post("/v1/chat/completions", json={**BODY, "stream": True})
    assert r.status_code == 200 and r.headers["x-sluice-attempts"] == "2"
    assert r.text.endswith("data: [DONE]\n\n")


async def test_stream_failing_midway_ends_with_an_error_event_not_silence(mock) -> None:
    mock.set_fault("disconnect-mid-stream")
    cfg = mock_config(mock, models=[group("g", dep(mock))])
    async with gateway_client(cfg) as (_, client):
        r = await client.post("/v1/chat/completions", json={**BODY, "stream": True})
    frames = [f for f in r.text.split("\n\n") if f]
    assert frames[-1] == "data: [DONE]"
    last = orjson.loads(frames[-2][6:])
    assert last["error"]["type"] == "upstream_error"
    assert any("choices" in orjson.loads(f[6:]) for f in frames[:-2])  # content had started
    assert mock.requests_seen == 1  # never retried after the first byte went out


async def test_stream_error_before_first_chunk_is_a_plain_http_error(mock) -> None:
    mock.set_fault("500")
    cfg = mock_config(mock, models=[group("g", dep(mock))], router={"retry": {"max_retries": 1}})
    async with gateway_client(cfg) as (_, client):
        r = await client.post("/v1/chat/completions", json={**BODY, "stream": True})
    assert r.status_code == 502 and r.json()["error"]["type"] == "upstream_error"


async def test_deployment_without_its_key_is_skipped_for_the_fallback(mock, second_mock, monkeypatch) -> None:
    monkeypatch.delenv("SLUICE_TEST_UNSET_KEY", raising=False)
    cfg = mock_config(mock, models=[group("g", dep(mock, "hosted", api_key_env="SLUICE_TEST_UNSET_KEY"),
                                          fallbacks=["local"]),
                                    group("local", dep(second_mock, "local"))])
    async with gateway_client(cfg) as (_, client):
        r = await client.post("/v1/chat/completions", json=BODY)
        assert r.status_code == 200 and r.headers["x-sluice-model"] == "local/openai/local#0"
        assert mock.requests_seen == 0  # never called without credentials
        r = await client.post("/v1/chat/completions", json={**BODY, "model": "local"})
        assert r.status_code == 200
    cfg = mock_config(mock, models=[group("g", dep(mock, "hosted", api_key_env="SLUICE_TEST_UNSET_KEY"))])
    async with gateway_client(cfg) as (_, client):
        r = await client.post("/v1/chat/completions", json=BODY)
    assert r.status_code == 503 and r.json()["error"]["code"] == "model_unavailable"
    assert "SLUICE_TEST_UNSET_KEY" in r.json()["error"]["message"]


async def test_the_serving_deployment_is_logged_for_retried_and_failed_requests(mock, caplog) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="sluice.access")
    mock.set_fault("500", first_n=1)
    async with gateway_client(mock_config(mock, models=[group("g", dep(mock))])) as (_, client):
        assert (await client.post("/v1/chat/completions", json=BODY)).status_code == 200
        assert (await client.post("/v1/chat/completions", json={**BODY, "model": "nope"})).status_code == 404
    records = [r for r in caplog.records if r.name == "sluice.access"]
    assert [(r.deployment, r.attempts, r.status) for r in records] == [("g/openai/m#0", 2, 200), (None, 0, 404)]
