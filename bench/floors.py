"""Bare pass-through proxies: the floors the gateway's overhead is compared against.

Both forward POST /v1/chat/completions to $BENCH_UPSTREAM with one pooled aiohttp session, parse the
request body and the upstream answer with orjson (reading `usage`, as any gateway must), and stream
SSE through chunk by chunk, parsing each `data:` line once. They do nothing else: no auth, no
routing, no retries, no validation. Serve with uvicorn:

    BENCH_UPSTREAM=http://127.0.0.1:8900/v1 uvicorn bench.floors:bare_app --loop uvloop --http httptools
    BENCH_UPSTREAM=... uvicorn bench.floors:fastapi_app ...
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:8900/v1")
_session: aiohttp.ClientSession | None = None


def _http() -> aiohttp.ClientSession:
    global _session
    if _session is None:
        _session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256, keepalive_timeout=60))
    return _session


async def _forward(body: bytes) -> tuple[int, bytes, AsyncIterator[bytes] | None, Any]:
    """-> (status, body, stream iterator or None, response to release)."""
    req = orjson.loads(body)
    resp = await _http().post(f"{UPSTREAM}/chat/completions", data=orjson.dumps(req),
                              headers={"content-type": "application/json"})
    if not req.get("stream"):
        data = await resp.read()
        out = orjson.loads(data)
        _ = out.get("usage")
        resp.release()
        return resp.status, orjson.dumps(out), None, None

    async def lines() -> AsyncIterator[bytes]:
        try:
            async for line in resp.content:
                if line.startswith(b"data: ") and not line.startswith(b"data: [DONE]"):
                    chunk = orjson.loads(line[6:])
                    yield b"data: " + orjson.dumps(chunk) + b"\n\n"
                elif line.startswith(b"data: [DONE]"):
                    yield b"data: [DONE]\n\n"
        finally:
            resp.release()

    return resp.status, b"", lines(), resp


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                if _session is not None:
                    await _session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    more = True
    while more:
        msg = await receive()
        body += msg.get("body", b"")
        more = msg.get("more_body", False)
    status, data, stream, _ = await _forward(body)
    if stream is None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": data})
        return
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/event-stream")]})
    async for piece in stream:
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def _make_fastapi() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        status, data, stream, _ = await _forward(await request.body())
        if stream is None:
            return Response(data, status_code=status, media_type="application/json")
        return StreamingResponse(stream, status_code=status, media_type="text/event-stream")

    return app


fastapi_app = _make_fastapi()
