"""uvicorn's httptools protocol with read deadlines, and the options `sluice serve` runs uvicorn with.

uvicorn 0.54 times out idle keep-alive connections only: a client may take forever to send its
headers or its body, and 40 such connections at 1 byte/s hold 40 sockets and 40 tasks open. This
subclass adds two deadlines, in the manner of Apache's mod_reqtimeout:

- headers: the request line and headers must arrive within `header_timeout_s` of the connection's
  opening (or of a keep-alive request's first byte);
- body: the body must arrive within `body_timeout_s` of the headers' end, and every
  `min_body_rate_bytes_s` bytes received push that deadline one second later, never past
  `body_max_s`. Time spent paused by our own back-pressure (the app not reading) does not count.

A missed deadline answers 408 (when no response has started) and closes the connection; the app,
if it was waiting for the body, sees `http.disconnect`. One timer per connection, re-armed lazily:
`on_body` only counts bytes.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:  # not at run time: with --workers N each spawned worker unpickles protocol_for's
    # partial, i.e. imports this module, before it answers uvicorn's first health check (5 s);
    # gateway.config (pydantic) took 7 of the 11 s that import took on a loaded 2-core machine,
    # and the supervisor killed and respawned the workers forever
    from gateway.config import ServerConfig

_MSG_408 = b"the request was not sent in time\n"
_TIMEOUT_408 = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_MSG_408), _MSG_408))


@dataclass(frozen=True, slots=True)
class Deadlines:
    header_s: float
    body_s: float
    min_body_rate: int  # bytes per extra second; 0: no extension
    body_max_s: float

    @classmethod
    def of(cls, server: ServerConfig) -> Deadlines:
        return cls(server.header_timeout_s, server.body_timeout_s, server.min_body_rate_bytes_s, server.body_max_s)


class DeadlineProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, deadlines: Deadlines, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadlines = deadlines
        self._timer: asyncio.TimerHandle | None = None
        self._phase: str | None = None  # "headers" | "body" | None (nothing being read on a deadline)
        self._since = 0.0
        self._body_bytes = 0

    # -- the deadline timer ------------------------------------------------------------------
    def _arm(self, phase: str, delay: float) -> None:
        self._disarm()
        self._phase = phase
        self._since = self.loop.time()
        self._body_bytes = 0
        self._timer = self.loop.call_later(delay, self._check)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._phase = None

    def _deadline(self) -> float:
        d = self.deadlines
        if self._phase == "headers":
            return self._since + d.header_s
        extra = self._body_bytes / d.min_body_rate if d.min_body_rate else 0.0
        return self._since + min(d.body_s + extra, d.body_max_s)

    def _check(self) -> None:
        self._timer = None
        now = self.loop.time()
        if self._phase == "body" and self.flow is not None and self.flow.read_paused:
            self._arm("body", self.deadlines.body_s)  # we stopped reading, not the client: start over
            return
        deadline = self._deadline()
        if now < deadline:
            self._timer = self.loop.call_at(deadline, self._check)
            return
        self._phase = None
        if self.transport is None or self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            self.transport.write(_TIMEOUT_408)
        self.transport.close()

    # -- protocol callbacks ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm("headers", self.deadlines.header_s)  # a connection that never sends is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase != "headers":  # a keep-alive request's first byte
            self._arm("headers", self.deadlines.header_s)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        if _has_body(self.headers):
            self._arm("body", self.deadlines.body_s)

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self._phase == "body":
            self._disarm()
        super().on_message_complete()


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"0", b"")):
            return True
    return False


# How long uvicorn's supervisor waits for a worker to answer a health check (its default: 5 s).
# A spawned worker answers only once it has unpickled its target (imports uvicorn and this module),
# which on a loaded machine took longer than 5 s: the supervisor then killed it, started another,
# and no worker ever served (tests/scaleout/test_workers.py hung so before).
WORKER_HEALTHCHECK_S = 60


def protocol_for(server: ServerConfig) -> Any:
    """The `http=` argument for uvicorn: a picklable factory (workers > 1 are spawned processes)."""
    return functools.partial(DeadlineProtocol, deadlines=Deadlines.of(server))
