"""Config reload (atomic, invalid rejected), client disconnects, graceful SIGTERM drain."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from gateway.config import parse_config
from gateway.context import RequestContext
from gateway.hooks import Hook
from tests.gateway_fixtures import gateway_client, live_app, mock_config
from tests.services import free_port, wait_for_port

BODY = {"model": "mock-chat", "messages": [{"role": "user", "content": "hi"}]}


async def test_reload_swaps_config_and_rejects_an_invalid_one(mock, caplog) -> None:
    async with gateway_client(mock_config(mock)) as (app, client):
        gw = app.gateway
        r = await client.post("/v1/chat/completions", json={**BODY, "model": "renamed"})
        assert r.status_code == 404
        new = mock_config(mock, models=[{"name": "renamed", "deployments": [
            {"provider": "openai", "model": "m2", "api_base": mock.base_url}]}])
        assert await gw.reload(new) is True
        r = await client.post("/v1/chat/completions", json={**BODY, "model": "renamed"})
        assert r.status_code == 200
        # an invalid generation (unknown provider) is refused whole; the previous one keeps serving
        bad = parse_config({"models": [{"name": "x", "deployments": [{"provider": "nosuch", "model": "m"}]}]})
        assert await gw.reload(bad) is False
        assert "reload rejected" in caplog.text and "nosuch" in caplog.text
        assert (await client.post("/v1/chat/completions", json={**BODY, "model": "renamed"})).status_code == 200


async def test_reload_names_settings_that_need_a_restart(mock, caplog) -> None:
    async with gateway_client(mock_config(mock)) as (app, _client):
        assert await app.gateway.reload(mock_config(mock)) is True
        assert "next restart" not in caplog.text  # nothing start-only changed
        changed = mock_config(mock, server={"port": 9999}, telemetry={"sample_ratio": 0.5, "record_content": True})
        assert await app.gateway.reload(changed) is True
        assert "server, telemetry.sample_ratio changed; those settings apply at the next restart" in caplog.text
        # content recording is not start-only: the app's one Telemetry switched at once
        assert app.gateway.services.telemetry.config.record_content is True


async def test_file_watch_reloads_and_survives_a_broken_file(mock, tmp_path: Path) -> None:
    from gateway.app import create_app

    path = tmp_path / "sluice.yaml"
    models = [{"name": "one", "deployments": [{"provider": "openai", "model": "m", "api_base": mock.base_url}]}]
    path.write_text(yaml.safe_dump({"models": models}))
    app = create_app(parse_config({"models": models}), config_path=path)
    async with app.lifespan():
        gw = app.gateway
        task = asyncio.ensure_future(gw.watch_config(interval_s=0.02))
        try:
            path.write_text("models: [\n  this is: not: yaml")
            await asyncio.sleep(0.15)
            assert [g.name for g in gw.config.models] == ["one"]
            models[0]["name"] = "two"
            path.write_text(yaml.safe_dump({"models": models}))
            for _ in range(100):
                await asyncio.sleep(0.02)
                if [g.name for g in gw.config.models] == ["two"]:
                    break
            assert [g.name for g in gw.config.models] == ["two"]
        finally:
            task.cancel()


class _Capture(Hook):
    name = "capture"

    def __init__(self) -> None:
        self.finished_ctx: list[RequestContext] = []

    async def finished(self, ctx: RequestContext) -> None:
        self.finished_ctx.append(ctx)


def test_client_disconnect_cancels_the_upstream_stream_and_keeps_what_was_produced(mock) -> None:
    cfg = mock_config(mock, models=[{"name": "mock-chat", "deployments": [
        {"provider": "openai", "model": "m", "api_base": mock.base_url,
         "headers": {"x-mock-tokens-per-s": "20", "x-mock-reply-words": "400"}}]}])
    capture = _Capture()
    with live_app(cfg) as (gw_app, base):
        gw_app.gateway.generation.pipeline.hooks.append(capture)
        with httpx.Client(timeout=10) as client, \
                client.stream("POST", f"{base}/chat/completions", json={**BODY, "stream": True}) as r:
            lines = r.iter_lines()
            got = [next(lines) for _ in range(6)]
            assert any(line.startswith("data: ") for line in got)
        state = next(iter(gw_app.gateway.router.states.values()))
        for _ in range(100):  # the 20-second stream was abandoned, not run to its end
            if state.in_flight == 0 and capture.finished_ctx:
                break
            time.sleep(0.02)
        assert state.in_flight == 0
        ctx = capture.finished_ctx[0]
        assert ctx.client_disconnected and ctx.status_code == 499
        assert ctx.completion and (ctx.completion["choices"][0]["message"]["content"] or "")  # partial text kept


def _serve(tmp_path: Path, cfg: dict, output: int) -> subprocess.Popen:
    """`sluice serve` on `cfg`, written to tmp_path/c.yaml, in its own process."""
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config", str(path), "--log-level", "warning"],
                            env=env, stdout=output, stderr=subprocess.STDOUT if output == subprocess.PIPE else output)


@pytest.mark.slow
def test_sigterm_lets_in_flight_streams_finish_then_exits(mock, tmp_path: Path) -> None:
    port = free_port()
    cfg = {"server": {"port": port, "drain_timeout_s": 20},
           "models": [{"name": "mock-chat", "deployments": [
               {"provider": "openai", "model": "m", "api_base": mock.base_url,
                "headers": {"x-mock-tokens-per-s": "40", "x-mock-reply-words": "60"}}]}]}
    proc = _serve(tmp_path, cfg, subprocess.PIPE)
    try:
        wait_for_port(port, timeout=30, proc=proc)
        with httpx.Client(timeout=30) as client, \
                client.stream("POST", f"http://127.0.0.1:{port}/v1/chat/completions", json={**BODY, "stream": True}) as r:
            lines = r.iter_lines()
            first = next(lines)
            assert first.startswith("data: ")
            proc.send_signal(signal.SIGTERM)
            rest = [line for line in lines if line]
        assert rest[-1] == "data: [DONE]"  # the stream in flight ran to its end
        assert not any('"error"' in line for line in rest)
        # uvicorn re-raises the captured SIGTERM after its graceful shutdown: exit by that signal
        assert proc.wait(20) in (0, -signal.SIGTERM)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
def test_sighup_reloads_a_running_server(mock, tmp_path: Path) -> None:
    port = free_port()
    models = [{"name": "before", "deployments": [{"provider": "openai", "model": "m", "api_base": mock.base_url}]}]
    cfg = {"server": {"port": port, "reload_watch": False}, "models": models}
    path, proc = tmp_path / "c.yaml", _serve(tmp_path, cfg, subprocess.DEVNULL)
    try:
        wait_for_port(port, timeout=30, proc=proc)
        url = f"http://127.0.0.1:{port}/v1/models"
        assert [m["id"] for m in httpx.get(url).json()["data"]] == ["before"]
        models[0]["name"] = "after"
        path.write_text(yaml.safe_dump(cfg))
        proc.send_signal(signal.SIGHUP)
        for _ in range(100):
            if [m["id"] for m in httpx.get(url).json()["data"]] == ["after"]:
                break
            time.sleep(0.05)
        assert [m["id"] for m in httpx.get(url).json()["data"]] == ["after"]
        assert proc.poll() is None  # reloaded in place, not restarted
    finally:
        proc.terminate()
        proc.wait(20)
