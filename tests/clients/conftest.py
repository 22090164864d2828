"""Client-library suites against a live gateway: offline tokenizers, each test's HTTP exchanges,
expected failures, and the suite's test image served locally.

Every request a client makes through `recording_client()` / `recording_async_client()` is kept;
when a test fails (or an xfail is checked with `--runxfail`), the exchanges with the gateway are
printed under "gateway exchanges", so a failure can be told apart as the gateway's or the model's
from what was actually on the wire. A test class's `expected_failures` become strict xfails.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from gateway.spend.tokens import bundled_tokenizer_dir

# OpenAIEmbeddings and ChatOpenAI count tokens with tiktoken, which would try to download its
# encodings; litellm ships them under the names tiktoken's cache uses (see gateway/spend/tokens.py).
_tok = bundled_tokenizer_dir()
if _tok is not None:
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(_tok))

EXCHANGES: list[dict[str, Any]] = []
_MAX_BODY = 3000


def _clip(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    return text if len(text) <= _MAX_BODY else f"{text[:_MAX_BODY]}... ({len(text)} chars)"


class _TeeStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    def __init__(self, inner: Any, entry: dict[str, Any]) -> None:
        self._inner, self._entry, self._buf = inner, entry, bytearray()

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._buf += chunk
            yield chunk
        self._entry["response_body"] = _clip(bytes(self._buf))

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._buf += chunk
            yield chunk
        self._entry["response_body"] = _clip(bytes(self._buf))

    def close(self) -> None:
        self._entry.setdefault("response_body", _clip(bytes(self._buf)) + " (closed early)")
        self._inner.close()

    async def aclose(self) -> None:
        self._entry.setdefault("response_body", _clip(bytes(self._buf)) + " (closed early)")
        await self._inner.aclose()


def _entry(request: httpx.Request, response: httpx.Response) -> dict[str, Any]:
    entry = {"request": f"{request.method} {request.url.path}", "request_body": _clip(request.content),
             "status": response.status_code}
    EXCHANGES.append(entry)
    return entry


class RecordingTransport(httpx.HTTPTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        response.stream = _TeeStream(response.stream, _entry(request, response))
        return response


class AsyncRecordingTransport(httpx.AsyncHTTPTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        response.stream = _TeeStream(response.stream, _entry(request, response))
        return response


def recording_client(timeout: float) -> httpx.Client:
    return httpx.Client(transport=RecordingTransport(), timeout=timeout)


def recording_async_client(timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=AsyncRecordingTransport(), timeout=timeout)


def format_exchanges() -> str:
    out = []
    for i, e in enumerate(EXCHANGES, 1):
        out.append(f"[{i}] {e['request']}\n> {e['request_body']}\n< {e['status']} {e.get('response_body', '')}")
    return "\n".join(out)


@pytest.fixture(autouse=True)
def _fresh_exchanges() -> Iterator[None]:
    EXCHANGES.clear()
    yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A class's `expected_failures` ({test name or test name[param id]: reason}) become
    `xfail(strict=True)` marks, so the standard tests run unmodified (none is overridden)."""
    for item in items:
        table: dict[str, str] = getattr(getattr(item, "cls", None), "expected_failures", None) or {}
        base = getattr(item, "originalname", item.name)
        reason = table.get(item.name) or table.get(base)
        if reason:
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if call.when == "call" and report.failed and EXCHANGES:
        report.sections.append(("gateway exchanges", format_exchanges()))
    return report


def _png(width: int = 8, height: int = 8) -> bytes:
    """A small valid RGB PNG (a gradient), made here so no test downloads one."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in (x * 32, y * 32, 128)) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


class _OfflineMedia:
    """Stands in for the `httpx` module inside langchain_tests' chat suite, which downloads its
    test image from GitHub: `get` answers a local PNG for .png URLs and refuses anything else."""

    PNG = _png()

    def __getattr__(self, name: str) -> Any:
        return getattr(httpx, name)

    def get(self, url: str, **_: Any) -> httpx.Response:
        if url.endswith(".png"):
            return httpx.Response(200, content=self.PNG, headers={"content-type": "image/png"})
        raise RuntimeError(f"tests never reach the internet; the suite asked for {url}")


@pytest.fixture
def offline_media(monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_tests.integration_tests import chat_models

    monkeypatch.setattr(chat_models, "httpx", _OfflineMedia())
