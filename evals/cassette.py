"""Record/replay of model exchanges at the HTTP transport, so every client (ours, ragas's) is covered.

A cassette is one JSON file: request key -> response (status, headers, body, latency). The key is
the endpoint plus the canonical JSON body plus the eval repeat index, never credentials, so a
cassette recorded against one gateway replays anywhere. `--replay` answers a request the cassette
does not hold with a 404 `cassette_miss` error instead of reaching any model.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

REPEAT_HEADER = "x-sluice-eval-repeat"
LATENCY_HEADER = "x-sluice-eval-recorded-latency-ms"
SOURCE_HEADER = "x-sluice-eval-source"
_DROP_HEADERS = {"content-length", "content-encoding", "transfer-encoding", "connection", "date", "set-cookie"}


def endpoint_of(path: str) -> str:
    """'/v1/chat/completions' (any base prefix) -> 'chat/completions'."""
    return path.rsplit("/v1/", 1)[-1].lstrip("/")


def request_key(endpoint: str, body: bytes | dict[str, Any], repeat: str | int | None) -> str:
    obj = orjson.loads(body) if isinstance(body, bytes | bytearray) else body
    canon = orjson.dumps({"e": endpoint, "b": obj, "r": str(repeat or 0)}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canon).hexdigest()


class Cassette:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        self.dirty = False
        self.used: set[str] = set()

    @classmethod
    def load(cls, path: Path) -> Cassette:
        c = cls(path)
        if path.exists():
            data = orjson.loads(path.read_bytes())
            c.entries = {e["key"]: e for e in data.get("interactions", [])}
        return c

    def save(self) -> None:
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # sorted so a re-record of an unchanged suite gives an unchanged file (clean diffs)
        data = {"version": 1, "interactions": [self.entries[k] for k in sorted(self.entries)]}
        self.path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
        self.dirty = False


def _key_of(request: httpx.Request, body: bytes) -> tuple[str, str]:
    endpoint = endpoint_of(request.url.path)
    return endpoint, request_key(endpoint, body or b"{}", request.headers.get(REPEAT_HEADER))


class RecordingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, cassette: Cassette) -> None:
        self.inner = inner
        self.cassette = cassette
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        endpoint, key = _key_of(request, body)
        t0 = time.perf_counter()
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        latency_ms = (time.perf_counter() - t0) * 1000.0
        self.calls += 1
        # the body is decoded now: drop content-encoding/length so the client does not decode it twice
        headers = {k: v for k, v in response.headers.items() if k.lower() not in _DROP_HEADERS}
        if response.status_code < 500 and response.status_code != 429:  # don't pin transient failures
            self.cassette.entries[key] = {
                "key": key, "endpoint": endpoint, "request": orjson.loads(body) if body else None,
                "repeat": request.headers.get(REPEAT_HEADER, "0"),
                "response": {"status": response.status_code, "headers": headers,
                             "body": content.decode("utf-8", "replace")},
                "latency_ms": round(latency_ms, 3),
            }
            self.cassette.dirty = True
        return httpx.Response(response.status_code, headers=headers, content=content, request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class ReplayTransport(httpx.AsyncBaseTransport):
    def __init__(self, cassette: Cassette) -> None:
        self.cassette = cassette
        self.misses = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        endpoint, key = _key_of(request, body)
        entry = self.cassette.entries.get(key)
        if entry is None:
            self.misses += 1
            err = {"error": {"type": "invalid_request_error", "code": "cassette_miss", "param": None,
                             "message": f"{self.cassette.path} holds no {endpoint} exchange for this request; "
                                        f"re-record it with --record"}}
            return httpx.Response(404, json=err, request=request)
        self.cassette.used.add(key)
        r = entry["response"]
        headers = dict(r["headers"])
        headers[LATENCY_HEADER] = str(entry.get("latency_ms", 0.0))
        headers[SOURCE_HEADER] = "cassette"
        return httpx.Response(r["status"], headers=headers, content=r["body"].encode(), request=request)
