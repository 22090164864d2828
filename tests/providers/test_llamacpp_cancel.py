"""Abandoned local generations stop (issue #19): a non-streamed call that is cancelled (the client
went away) or that times out tells llama.cpp to stop, so the model is free for the next request,
and a SIGTERM with a local generation in flight exits once `server.drain_timeout_s` has passed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml

from gateway.config import Deployment
from gateway.errors import UpstreamTimeout
from gateway.providers.llamacpp import LlamaCppProvider
from tests.services import free_port, wait_for_port

# ~1500 tokens whatever the model would rather say: minutes of work on a small CPU
LONG = {"model": "local", "messages": [{"role": "user", "content": "Count from 1 to 5000, one number per line."}],
        "max_tokens": 1500, "ignore_eos": True, "temperature": 0}
SHORT = {"model": "local", "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 2}
FOLLOW_UP_LIMIT_S = 30.0  # a 2-token answer takes a few seconds; the abandoned 1500 tokens far longer


@pytest.fixture
async def smol() -> AsyncIterator[LlamaCppProvider]:
    p = LlamaCppProvider(Deployment(provider="llamacpp", model="smollm2-135m", options={"temperature": 0}))
    await p.start()
    yield p
    await p.aclose()


async def _follow_up_s(p: LlamaCppProvider) -> float:
    t = time.perf_counter()
    try:
        out = await asyncio.wait_for(p.chat(SHORT, timeout=120), 2 * FOLLOW_UP_LIMIT_S)
    except TimeoutError:
        pytest.fail(f"a 2-token request got nothing in {2 * FOLLOW_UP_LIMIT_S:g} s: the abandoned generation still runs")
    assert out["usage"]["completion_tokens"] <= 2
    return time.perf_counter() - t


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_cancelled_chat_stops_the_generation(smol: LlamaCppProvider) -> None:
    task = asyncio.create_task(smol.chat(LONG, timeout=300))
    await asyncio.sleep(3)  # the prompt is read and tokens are being generated
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    took = await _follow_up_s(smol)
    assert took < FOLLOW_UP_LIMIT_S, f"the follow-up took {took:.1f} s"


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_timed_out_chat_is_a_timeout_and_stops_the_generation(smol: LlamaCppProvider) -> None:
    t = time.perf_counter()
    with pytest.raises(UpstreamTimeout) as info:
        await smol.chat(LONG, timeout=3)
    assert time.perf_counter() - t < 10
    took = await _follow_up_s(smol)
    assert took < FOLLOW_UP_LIMIT_S, f"the follow-up took {took:.1f} s"
    err = info.value
    assert err.status == 504 and err.code == "upstream_timeout"
    assert not err.retryable  # the same CPU would time out again: answer 504 now, do not queue a retry


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_timed_out_stream_stops_the_generation(smol: LlamaCppProvider) -> None:
    with pytest.raises(UpstreamTimeout) as info:
        async for _ in smol.stream_chat(LONG, timeout=3):
            pass
    assert not info.value.retryable
    took = await _follow_up_s(smol)
    assert took < FOLLOW_UP_LIMIT_S, f"the follow-up took {took:.1f} s"


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_sigterm_with_a_local_generation_in_flight_exits_after_the_drain(tmp_path: Path) -> None:
    port, drain = free_port(), 2
    cfg = {"server": {"port": port, "drain_timeout_s": drain, "reload_watch": False},
           "models": [{"name": "smollm2", "deployments": [
               {"provider": "llamacpp", "model": "SmolLM2-135M-Instruct", "max_in_flight": 1, "timeout_s": 300,
                "options": {"n_ctx": 2048, "temperature": 0}}]}]}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config", str(path),
                             "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    answers: list[int | str] = []
    url = f"http://127.0.0.1:{port}/v1/chat/completions"

    def call(wait_s: float) -> None:
        try:
            answers.append(httpx.post(url, json={**LONG, "model": "smollm2"}, timeout=wait_s).status_code)
        except httpx.HTTPError as e:
            answers.append(type(e).__name__)

    try:
        wait_for_port(port, timeout=120, proc=proc)  # listening only once the lifespan loaded the model
        call(3)  # a client that gives up after 3 s: its generation is abandoned
        assert answers == ["ReadTimeout"]
        caller = threading.Thread(target=call, args=(300,), daemon=True)
        caller.start()  # and one still waiting when the server is told to stop
        time.sleep(3)
        assert proc.poll() is None and len(answers) == 1
        t = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(90)
        except subprocess.TimeoutExpired:
            pytest.fail("the gateway was still running 90 s after SIGTERM")
        took = time.perf_counter() - t
        assert rc in (0, -signal.SIGTERM)
        assert took < drain + 10, f"exit took {took:.1f} s after SIGTERM with drain_timeout_s {drain}"
        caller.join(10)
        assert len(answers) == 2 and answers[1] != 200  # the generation was cut at the drain deadline
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_shutdown_closes_a_retired_generation_at_once(mock) -> None:
    """A generation retired by a reload is closed at shutdown, not only after its drain period (or
    never): closing is what stops a local model's generations still running on it."""
    from gateway.app import create_app
    from tests.gateway_fixtures import mock_config

    app = create_app(mock_config(mock, server={"drain_timeout_s": 600}))
    closed: list[bool] = []
    async with app.lifespan():
        gw = app.gateway
        old = gw.generation
        assert old is not None
        close = old.router.aclose

        async def spy() -> None:
            closed.append(True)
            await close()

        old.router.aclose = spy  # type: ignore[method-assign]
        assert await gw.reload(mock_config(mock, server={"drain_timeout_s": 600}))
        await asyncio.sleep(0)
        assert not closed  # still draining
    assert closed == [True]


@pytest.mark.parametrize(("drain", "grace"), [(0, 0), (0.5, 1), (20, 20)])
def test_serve_hands_uvicorn_a_bounded_graceful_shutdown(tmp_path: Path, monkeypatch, drain: float,
                                                         grace: int) -> None:
    """uvicorn reads None as "wait for every connection forever": a drain under a second must not
    become that."""
    import uvicorn
    from typer.testing import CliRunner

    from gateway.cli.root import app

    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *_a, **kw: seen.update(kw))
    monkeypatch.delenv("SLUICE_CONFIG", raising=False)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"server": {"drain_timeout_s": drain}, "models": [
        {"name": "m", "deployments": [{"provider": "mock", "model": "mock-gpt"}]}]}))
    result = CliRunner().invoke(app, ["serve", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert seen["timeout_graceful_shutdown"] == grace


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_through_the_gateway_a_client_that_gives_up_or_a_timeout_frees_the_model() -> None:
    from gateway.config import parse_config
    from tests.gateway_fixtures import live_gateway

    cfg = parse_config({"models": [{"name": "smollm2", "deployments": [
        {"provider": "llamacpp", "model": "SmolLM2-135M-Instruct", "max_in_flight": 1, "timeout_s": 15,
         "options": {"n_ctx": 2048, "temperature": 0}}]}]})
    with live_gateway(cfg) as base, httpx.Client(base_url=base, timeout=120) as client:
        def follow_up() -> float:
            t = time.perf_counter()
            r = client.post("/chat/completions", json={**SHORT, "model": "smollm2"})
            assert r.status_code == 200, r.text
            return time.perf_counter() - t

        with pytest.raises(httpx.ReadTimeout):  # the client gives up; its request is cancelled
            client.post("/chat/completions", json={**LONG, "model": "smollm2"}, timeout=2)
        assert follow_up() < FOLLOW_UP_LIMIT_S
        t = time.perf_counter()
        r = client.post("/chat/completions", json={**LONG, "model": "smollm2"})  # 1500 tokens: past timeout_s
        assert r.status_code == 504, r.text
        assert r.json()["error"]["code"] == "upstream_timeout"
        assert time.perf_counter() - t < 15 + 10  # answered at the timeout, not after 2 retries (3 x 15 s)
        assert follow_up() < FOLLOW_UP_LIMIT_S
