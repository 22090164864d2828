"""Slow clients are cut off (issue 17): header and body read deadlines and a minimum body rate
(gateway/http_server.py), tested with raw sockets against `sluice serve`."""

from __future__ import annotations

import select
import socket
import time
from pathlib import Path

import pytest

from tests.gateway.live_serve import sluice_serve

pytestmark = pytest.mark.slow  # a real server and seconds of trickling

N = 40
DEADLINES = {"header_timeout_s": 2.0, "body_timeout_s": 2.0, "min_body_rate_bytes_s": 500, "body_max_s": 30}


def _cfg(mock) -> dict:  # type: ignore[no-untyped-def]
    return {"server": dict(DEADLINES),
            "models": [{"name": "mock-chat", "deployments": [
                {"provider": "openai", "model": "m", "api_base": mock.base_url}]}]}


def _trickle(socks: list[socket.socket], byte: bytes, seconds: float) -> dict[int, tuple[float, bytes]]:
    """Send `byte` once a second on every socket still open; return, per socket, when the server
    closed it (seconds from now) and what it said before closing."""
    t0 = time.monotonic()
    closed: dict[int, tuple[float, bytes]] = {}
    said: dict[int, bytes] = {i: b"" for i in range(len(socks))}
    next_send = t0
    while len(closed) < len(socks) and time.monotonic() - t0 < seconds:
        now = time.monotonic()
        if now >= next_send:
            for i, s in enumerate(socks):
                if i not in closed:
                    try:
                        s.send(byte)
                    except OSError:
                        closed[i] = (now - t0, said[i])
            next_send += 1.0
        open_ = [s for i, s in enumerate(socks) if i not in closed]
        ready, _, _ = select.select(open_, [], [], max(0.0, min(0.1, next_send - time.monotonic())))
        for s in ready:
            i = socks.index(s)
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if data:
                said[i] += data
            else:
                closed[i] = (time.monotonic() - t0, said[i])
    return closed


def _read_response(s: socket.socket) -> bytes:
    """One whole response (head and a content-length body) from a keep-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    while len(body) < length:
        body += s.recv(65536)
    return head + b"\r\n\r\n" + body


def _connect(port: int, n: int, head: bytes) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if head:
            s.sendall(head)
        socks.append(s)
    return socks


def test_bodies_sent_at_one_byte_a_second_are_cut_at_the_body_deadline(mock, tmp_path: Path) -> None:
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
            b"content-length: 100000\r\n\r\n{")
    with sluice_serve(tmp_path, _cfg(mock)) as port:
        socks = _connect(port, N, head)
        try:
            closed = _trickle(socks, b" ", seconds=15)
        finally:
            for s in socks:
                s.close()
    assert len(closed) == N, f"{N - len(closed)} of {N} slow bodies were still open after 15 s"
    times = sorted(t for t, _ in closed.values())
    assert times[0] >= 1.5 and times[-1] <= 2.0 + 3.0, times  # the 2 s deadline, 1 byte/s buys ~nothing
    assert all(said.startswith(b"HTTP/1.1 408") for _, said in closed.values())


def test_unfinished_header_blocks_and_silent_connections_are_cut_at_the_header_deadline(mock, tmp_path: Path) -> None:
    with sluice_serve(tmp_path, _cfg(mock)) as port:
        socks = _connect(port, N // 2, b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\nx-slow: ")
        socks += _connect(port, N // 2, b"")  # connected, never a byte
        try:
            closed = _trickle(socks[: N // 2], b"a", seconds=15)
            silent = _trickle(socks[N // 2:], b"", seconds=15)
        finally:
            for s in socks:
                s.close()
    assert len(closed) == N // 2 and len(silent) == N // 2
    assert max(t for t, _ in closed.values()) <= 2.0 + 3.0
    assert all(said.startswith(b"HTTP/1.1 408") for _, said in closed.values())


def test_a_body_at_a_fair_rate_outlives_the_initial_deadline(mock, tmp_path: Path) -> None:
    """3 s of body at 1,000 B/s (twice the minimum rate): each 500 bytes buys a second, so the
    2 s initial deadline is pushed past the end and the request is served."""
    payload = b'{"model": "mock-chat", "messages": [{"role": "user", "content": "hi"}]}'
    payload = payload + b" " * (3000 - len(payload))
    with sluice_serve(tmp_path, _cfg(mock)) as port:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
                      b"content-length: %d\r\n\r\n" % len(payload))
            for i in range(0, len(payload), 100):
                s.sendall(payload[i:i + 100])
                time.sleep(0.1)
            reply = _read_response(s)
        finally:
            s.close()
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]


def test_keep_alive_requests_each_get_a_fresh_header_deadline(mock, tmp_path: Path) -> None:
    """Three quick requests on one connection over ~3 s (past one header deadline) are all served."""
    with sluice_serve(tmp_path, _cfg(mock)) as port:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            for _ in range(3):
                s.sendall(b"GET /healthz HTTP/1.1\r\nhost: gw\r\n\r\n")
                assert _read_response(s).startswith(b"HTTP/1.1 200")
                time.sleep(1.2)
        finally:
            s.close()
