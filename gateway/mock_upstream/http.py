"""A minimal HTTP/1.1 server on asyncio + httptools: keep-alive, chunked streaming, no framework.

The application is a callable `app(request, writer)` that either writes the whole response at once
(the fast path: no task, no await) or returns a coroutine, which the connection runs as a task and
cancels if the client goes away. Requests on one connection are answered in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import Any

import httptools

log = logging.getLogger("sluice.mock_upstream")
_REASONS = {s.value: s.phrase for s in HTTPStatus}


class Request:
    __slots__ = ("body", "headers", "method", "path")

    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body


class Writer:
    """Writes one response on a connection."""

    __slots__ = ("_conn", "keep_alive")

    def __init__(self, conn: HttpConnection, keep_alive: bool) -> None:
        self._conn = conn
        self.keep_alive = keep_alive

    @property
    def closed(self) -> bool:
        return self._conn.transport is None or self._conn.transport.is_closing()

    def _head(self, status: int, headers: list[tuple[str, str]], extra: str) -> bytes:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"]
        lines.extend(f"{k}: {v}\r\n" for k, v in headers)
        if not self.keep_alive:
            lines.append("connection: close\r\n")
        lines.append(extra)
        return "".join(lines).encode("latin-1")

    def respond(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        t = self._conn.transport
        if t is not None and not t.is_closing():
            t.write(self._head(status, headers, f"content-length: {len(body)}\r\n\r\n") + body)
        self._conn.response_done(self)

    def start(self, status: int, headers: list[tuple[str, str]], first: bytes = b"") -> None:
        """Start a chunked response (optionally with its first chunk)."""
        t = self._conn.transport
        if t is not None and not t.is_closing():
            t.write(self._head(status, headers, "transfer-encoding: chunked\r\n\r\n") + _chunk(first))

    def send(self, data: bytes) -> None:
        t = self._conn.transport
        if data and t is not None and not t.is_closing():
            t.write(_chunk(data))

    def end(self, data: bytes = b"") -> None:
        t = self._conn.transport
        if t is not None and not t.is_closing():
            t.write(_chunk(data) + b"0\r\n\r\n")
        self._conn.response_done(self)

    def write_raw(self, data: bytes) -> None:
        """Bytes as they are (used to send a deliberately truncated response)."""
        t = self._conn.transport
        if t is not None and not t.is_closing():
            t.write(data)

    def abort(self) -> None:
        """Drop the connection mid-response."""
        self._conn.abort()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


App = Callable[[Request, Writer], Coroutine[Any, Any, None] | None]


class Live:
    """Open connections and running response tasks, so a server can be closed for real."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self.conns: set[HttpConnection] = set()

    def close_all(self) -> None:
        for t in list(self.tasks):
            t.cancel()
        for c in list(self.conns):
            c.abort()


class HttpConnection(asyncio.Protocol):
    def __init__(self, app: App, live: Live) -> None:
        self.app = app
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._busy = False  # a response is being written
        self._queue: deque[Request] = deque()
        self._keep_alive: deque[bool] = deque()
        self._task: asyncio.Task[None] | None = None
        self._live = live
        self._dispatching = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._live.conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._live.conns.discard(self)
        if self._task is not None:
            self._task.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._bad_request()
        except httptools.HttpParserError:
            self._bad_request()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        path = self._url.decode("latin-1").split("?", 1)[0]
        req = Request(self._parser.get_method().decode(), path, self._headers, b"".join(self._body))
        self._queue.append(req)
        self._keep_alive.append(self._parser.should_keep_alive())
        if not self._busy:
            self._next()

    # dispatch
    def _next(self) -> None:
        self._dispatching = True
        try:
            self._dispatch()
        finally:
            self._dispatching = False

    def _dispatch(self) -> None:
        while self._queue and not self._busy and self.transport is not None:
            req = self._queue.popleft()
            self._busy = True
            writer = Writer(self, self._keep_alive.popleft())
            try:
                coro = self.app(req, writer)
            except Exception:  # a bug in the mock: say so loudly, answer 500, keep serving
                log.exception("mock upstream handler failed for %s %s", req.method, req.path)
                writer.respond(500, b'{"error":{"message":"mock upstream bug (see its log)","type":"server_error"}}',
                               [("content-type", "application/json")])
                continue
            if coro is not None:
                task = asyncio.get_running_loop().create_task(coro)
                self._task = task
                self._live.tasks.add(task)
                task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._live.tasks.discard(task)
        if self._task is task:
            self._task = None
        if not task.cancelled() and task.exception() is not None:
            log.error("mock upstream response task failed", exc_info=task.exception())
            self.abort()  # a bug in a handler must not leave the client waiting forever

    def response_done(self, writer: Writer) -> None:
        self._busy = False
        if not writer.keep_alive:
            if self.transport is not None:
                self.transport.close()
            return
        if self._queue and not self._dispatching:
            self._next()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _bad_request(self) -> None:
        if self.transport is not None:
            body = b'{"error":{"message":"malformed HTTP request","type":"invalid_request_error"}}'
            self.transport.write(
                b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\n"
                b"content-length: %d\r\n\r\n%s" % (len(body), body)
            )
            self.transport.close()


async def start_server(app: App, host: str, port: int) -> tuple[asyncio.Server, Live]:
    live = Live()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HttpConnection(app, live), host, port, reuse_address=True,
                                      backlog=2048)
    return server, live
