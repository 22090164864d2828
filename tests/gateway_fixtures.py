"""Building a gateway over the mock upstream, and talking to it with real clients.

- `mock` (fixture): a MockUpstream on a free port, reset for each test.
- `mock_config(mock, **sections)`: a Config with model groups pointing at the mock.
- `async with gateway_client(config) as (app, client)`: the app in-process (httpx ASGITransport;
  responses are buffered, so use `live_gateway` for disconnects and real streaming).
- `openai_client(app)`: the official AsyncOpenAI SDK over the in-process app.
- `with live_gateway(config) as base_url` / `with live_app(config) as (app, base_url)`: uvicorn on a
  free port in a background thread.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from gateway.app import SluiceApp, create_app
from gateway.clock import Clock
from gateway.config import Config, parse_config
from gateway.mock_upstream import MockUpstream


@pytest.fixture(scope="session")
def _mock_session() -> Iterator[MockUpstream]:
    with MockUpstream() as m:
        yield m


@pytest.fixture
def mock(_mock_session: MockUpstream) -> MockUpstream:
    _mock_session.reset()
    return _mock_session


def mock_config(mock: MockUpstream, *, models: list[dict[str, Any]] | None = None, **sections: Any) -> Config:
    """Model groups: `mock-chat` and `mock-embed` (OpenAI format), `mock-claude` (Anthropic format)."""
    if models is None:
        models = [
            {"name": "mock-chat", "deployments": [{"provider": "openai", "model": "gpt-4o-mini",
                                                   "api_base": mock.base_url, "timeout_s": 5}]},
            {"name": "mock-embed", "mode": "embedding",
             "deployments": [{"provider": "openai", "model": "text-embedding-3-small", "api_base": mock.base_url}]},
        ]
    data: dict[str, Any] = {"models": models,
                            "router": {"retry": {"backoff_base_s": 0.001, "backoff_max_s": 0.01}}}
    data.update(sections)
    return parse_config(data)


@contextlib.asynccontextmanager
async def gateway_client(config: Config, *, clock: Clock | None = None,
                         headers: dict[str, str] | None = None) -> AsyncIterator[tuple[SluiceApp, httpx.AsyncClient]]:
    app = create_app(config, clock=clock)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", headers=headers or {},
                                     timeout=30) as client:
            yield app, client


def openai_client(app: SluiceApp, api_key: str = "sk-test", **kw: Any) -> Any:
    from openai import AsyncOpenAI

    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")  # type: ignore[arg-type]
    return AsyncOpenAI(base_url="http://gateway/v1", api_key=api_key, http_client=http, max_retries=0, **kw)


@contextlib.contextmanager
def live_app(config: Config, *, clock: Clock | None = None) -> Iterator[tuple[SluiceApp, str]]:
    """uvicorn serving the app on a free loopback port in a thread; yields (app, /v1 base URL)."""
    import uvicorn

    from tests.services import free_port

    port = free_port()
    app = create_app(config, clock=clock)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning",
                                           loop="asyncio", timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        threading.Event().wait(0.025)
    else:
        raise RuntimeError("gateway did not start")
    try:
        yield app, f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def live_gateway(config: Config, *, clock: Clock | None = None) -> Iterator[str]:
    """Like live_app, yielding only the /v1 base URL."""
    with live_app(config, clock=clock) as (_, base):
        yield base
