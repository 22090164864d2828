"""Start the mock upstream: `serve` inside a running loop, `run` blocking (what the CLI calls)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

from gateway.mock_upstream.app import MockApp, MockState
from gateway.mock_upstream.config import MockConfig
from gateway.mock_upstream.http import Live, start_server


class MockServer:
    """A listening mock upstream; `state` holds the counters tests read."""

    def __init__(self, server: asyncio.Server, app: MockApp, live: Live) -> None:
        self.server = server
        self.app = app
        self._live = live

    @property
    def config(self) -> MockConfig:
        return self.app.config

    @property
    def state(self) -> MockState:
        return self.app.state

    @property
    def port(self) -> int:
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        self.server.close()
        self._live.close_all()  # hung / paced responses and idle keep-alive connections
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.server.wait_closed(), 2)


def _cli_opts(opts: dict[str, Any]) -> dict[str, Any]:
    opts = dict(opts)
    if "latency_ms" in opts:
        opts["latency_s"] = (opts.pop("latency_ms") or 0) / 1000
    if not opts.get("tokens_per_s"):
        opts["tokens_per_s"] = None
    return opts


async def serve(host: str = "127.0.0.1", port: int = 0, *, config: MockConfig | None = None) -> MockServer:
    app = MockApp(config)
    server, live = await start_server(app, host, port)
    return MockServer(server, app, live)


def run(host: str = "127.0.0.1", port: int = 8099, **opts: Any) -> None:
    """Serve until SIGINT/SIGTERM. `opts` are MockConfig fields (e.g. latency_s=0.05, fault="500");
    the CLI's spellings are accepted too: latency_ms, and tokens_per_s=0 for "as fast as possible"."""
    config = MockConfig(**_cli_opts(opts))

    async def main() -> None:
        srv = await serve(host, port, config=config)
        print(f"sluice mock upstream on http://{host}:{srv.port}/v1 (anthropic: http://{host}:{srv.port})", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await srv.close()

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a pinned dependency
        asyncio.run(main())
    else:
        uvloop.run(main())
