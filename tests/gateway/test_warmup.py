"""Readiness waits for the start-up warm-ups (gateway/engine/warmup.py), not for later ones."""

from __future__ import annotations

import logging
import threading

import pytest

from gateway.engine.warmup import Warmups
from gateway.integrations.guardrails import GuardrailsHook
from gateway.mock_upstream import MockUpstream
from tests.gateway_fixtures import gateway_client, mock_config


def test_pending_until_done_then_settled() -> None:
    w, gate = Warmups(), threading.Event()
    t = w.start("models", gate.wait)
    assert w.pending() == ["models"]
    gate.set()
    t.join(5)
    assert w.pending() == []
    late = threading.Event()
    t2 = w.start("reload", late.wait)  # the instance is already serving: not waited for
    assert w.pending() == []
    late.set()
    t2.join(5)


def test_a_failed_warm_up_is_logged_and_not_waited_for(caplog: pytest.LogCaptureFixture) -> None:
    def boom() -> None:
        raise RuntimeError("model file missing")

    w = Warmups()
    w.start("guardrails", boom).join(5)
    assert w.pending() == []
    assert "warm-up 'guardrails' failed" in caplog.text and "model file missing" in caplog.text
    assert any(r.levelno == logging.ERROR for r in caplog.records)


async def test_readyz_says_warming_until_the_guardrails_are_loaded(mock: MockUpstream,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    gate, loaded = threading.Event(), threading.Event()

    def slow_warm(self: GuardrailsHook) -> None:
        gate.wait(10)
        loaded.set()

    monkeypatch.setattr(GuardrailsHook, "warm", slow_warm)
    cfg = mock_config(mock, guardrails={"default_policy": "default"})
    async with gateway_client(cfg) as (_, client):
        r = await client.get("/readyz")
        assert r.status_code == 503 and r.json() == {"status": "warming", "warming": ["guardrails"]}
        assert (await client.get("/healthz")).status_code == 200  # alive all along
        gate.set()
        assert loaded.wait(5)
        for _ in range(100):  # the thread marks itself done just after fn returns
            r = await client.get("/readyz")
            if r.status_code == 200:
                break
            threading.Event().wait(0.01)
        assert r.status_code == 200 and r.json()["status"] == "ready"


async def test_no_warm_up_without_warm_on_start(mock: MockUpstream) -> None:
    cfg = mock_config(mock, guardrails={"default_policy": "default", "warm_on_start": False})
    async with gateway_client(cfg) as (_, client):
        assert (await client.get("/readyz")).status_code == 200


def test_when_settled_runs_now_when_nothing_is_pending() -> None:
    w, ran = Warmups(), []
    w.when_settled(lambda: ran.append(threading.current_thread().name))
    assert ran == [threading.current_thread().name]


def test_when_settled_runs_after_the_last_warm_up_and_readiness_waits_for_it() -> None:
    w, first, second = Warmups(), threading.Event(), threading.Event()
    in_step, release, ran = threading.Event(), threading.Event(), []

    def step() -> None:
        in_step.set()
        release.wait(5)
        ran.append("step")

    t1, t2 = w.start("a", first.wait), w.start("b", second.wait)
    w.when_settled(step)
    first.set()
    t1.join(5)
    assert ran == [] and not in_step.is_set()  # "b" is still loading
    second.set()
    assert in_step.wait(5)
    assert w.pending() == ["settle"]  # not ready while the step runs
    release.set()
    t2.join(5)
    assert ran == ["step"] and w.pending() == []


async def test_a_serving_process_freezes_its_heap_once_warm(mock: MockUpstream) -> None:
    import gc

    from gateway.app import create_app

    gc.unfreeze()
    try:
        app = create_app(mock_config(mock), freeze_heap=True)
        async with app.lifespan():
            assert gc.get_freeze_count() > 0  # no warm-up in this config: frozen at start
        gc.unfreeze()
        plain = create_app(mock_config(mock))  # what tests and embedders get: the heap is theirs
        async with plain.lifespan():
            assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
