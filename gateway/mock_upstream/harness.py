"""`MockUpstream`: the mock on a free port in a background thread, for tests and benches.

    with MockUpstream(latency_s=0.01) as m:
        client = OpenAI(base_url=m.base_url, api_key="x")
        ...
        assert m.requests_seen == 1
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Self

from gateway.mock_upstream.app import MockState
from gateway.mock_upstream.config import MockConfig
from gateway.mock_upstream.server import MockServer, serve


class MockUpstream:
    def __init__(self, config: MockConfig | None = None, *, host: str = "127.0.0.1", **opts: Any) -> None:
        self.config = config or MockConfig(**opts)
        self.host = host
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: MockServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # lifecycle
    def start(self) -> Self:
        self._thread = threading.Thread(target=self._main, name="mock-upstream", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise RuntimeError("mock upstream failed to start") from self._error
        if self._server is None:
            raise RuntimeError("mock upstream did not start within 10 s")
        return self

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(serve(self.host, 0, config=self.config))
        except OSError as e:
            self._error = e
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._server.close())
        loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # addresses
    @property
    def port(self) -> int:
        assert self._server is not None, "start() the mock first"
        return self._server.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL (ends in /v1)."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Anthropic-style base URL (clients append /v1/messages)."""
        return self.url

    # what tests read
    @property
    def state(self) -> MockState:
        assert self._server is not None, "start() the mock first"
        return self._server.state

    @property
    def requests_seen(self) -> int:
        return self.state.requests_seen

    @property
    def last_body(self) -> Any:
        return self.state.last_body

    @property
    def last_headers(self) -> dict[str, str]:
        return self.state.last_headers

    @property
    def last_path(self) -> str | None:
        return self.state.last_path

    def set_fault(self, fault: str | None, *, first_n: int | None = None, rate: float = 1.0) -> None:
        """Inject `fault` into the next `first_n` inference requests (all if None); None clears it."""
        assert self._server is not None, "start() the mock first"
        self._server.app.set_fault(fault, first_n=first_n, rate=rate)

    def reset(self) -> None:
        """Clear counters, the last request and any configured fault."""
        self.set_fault(None)
        self.state.reset()
