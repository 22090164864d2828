"""Seeing what a CLI sends: a recording reverse proxy, and a proxy trap for everything else.

- `Recorder(upstream)`: a loopback HTTP server that forwards each request to `upstream` (the
  gateway or the mock) and records method, path, headers and body; responses (SSE included) are
  streamed back as they arrive.
- `Trap()`: a loopback server to point HTTP(S)_PROXY at. A CLI that tries to reach anything but
  loopback (telemetry, update checks, feature flags) lands here instead of the internet; the test
  asserts it saw nothing, or lists what it saw.
"""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
        "content-length", "host"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Base:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.seen: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._srv = _Server(("127.0.0.1", 0), handler)
        self._srv.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._srv.server_address[1]}"

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.seen.append(entry)

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._srv.shutdown()
        self._srv.server_close()


class _RecordingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a: Any) -> None:
        pass

    def _forward(self) -> None:
        owner: Recorder = self.server.owner  # type: ignore[attr-defined]
        n = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(n) if n else b""
        entry: dict[str, Any] = {"method": self.command, "path": self.path,
                                 "headers": {k.lower(): v for k, v in self.headers.items()}}
        try:
            entry["body"] = json.loads(body) if body else None
        except ValueError:
            entry["body"] = body.decode("utf-8", "replace")
        owner.record(entry)
        up = urlsplit(owner.upstream)
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        headers["content-length"] = str(len(body))
        conn.request(self.command, up.path.rstrip("/") + self.path, body=body, headers=headers)
        resp = conn.getresponse()
        entry["status"] = resp.status
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in _HOP:
                self.send_header(k, v)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        out = bytearray()
        while chunk := resp.read1(65536):
            out += chunk
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        entry["response"] = out[:4000].decode("utf-8", "replace")
        conn.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward


class Recorder(_Base):
    """`with Recorder("http://127.0.0.1:PORT") as rec:` point the client at rec.url; read rec.seen."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        super().__init__(_RecordingHandler)


class _TrapHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a: Any) -> None:
        pass

    def _refuse(self) -> None:
        self.server.owner.record({"method": self.command, "target": self.path})  # type: ignore[attr-defined]
        self.send_response(403)
        self.send_header("content-length", "0")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True

    do_CONNECT = do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _refuse


class Trap(_Base):
    """A proxy that refuses everything and records each target (CONNECT host:443, or a URL)."""

    def __init__(self) -> None:
        super().__init__(_TrapHandler)

    def proxy_env(self) -> dict[str, str]:
        return {"HTTPS_PROXY": self.url, "HTTP_PROXY": self.url, "https_proxy": self.url,
                "http_proxy": self.url, "ALL_PROXY": self.url, "all_proxy": self.url,
                "NO_PROXY": "127.0.0.1,localhost,::1", "no_proxy": "127.0.0.1,localhost,::1"}
