"""Provider capability flags are read: `supports_stream` and `supports_stream_usage`.

A model group streams only if every deployment it may route to can; `stream: true` to one that
cannot is a 400 stream_not_supported naming the model, and a stream is never sent to a deployment
that cannot stream (not even a fallback's). A provider that cannot report usage in a stream is not
sent `stream_options`, and a client that asked `include_usage` still gets the usage chunk, counted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import orjson
import pytest

from gateway.engine.router import Router, stream_capability
from gateway.engine.streaming import with_counted_usage
from gateway.errors import UpstreamError, UpstreamRejected
from gateway.providers import base
from gateway.providers.base import Provider
from gateway.providers.mock import MockProvider
from gateway.spend.tokens import count_messages, count_text
from tests.gateway_fixtures import gateway_client, mock_config, openai_client

MSG = [{"role": "user", "content": "Tell me about rivers and the sea"}]


class NoStream(MockProvider):
    """Chat only: a stream must never be opened on it."""

    kind = "test-nostream"
    supports_stream = False
    opened = 0

    def stream_chat(self, body: dict[str, Any], *, timeout: float) -> AsyncIterator[dict[str, Any]]:
        type(self).opened += 1
        raise AssertionError("stream_chat called on a provider that cannot stream")


class NoStreamUsage(MockProvider):
    """Streams, but cannot report usage; like some upstreams it rejects `stream_options`."""

    kind = "test-nousage"
    supports_stream_usage = False
    bodies: ClassVar[list[dict[str, Any]]] = []

    async def stream_chat(self, body: dict[str, Any], *, timeout: float) -> AsyncIterator[dict[str, Any]]:
        type(self).bodies.append(body)
        if "stream_options" in body:
            raise UpstreamRejected("unknown field: stream_options", upstream_status=400)
        async for chunk in super().stream_chat(body, timeout=timeout):
            assert chunk.get("choices"), "this provider never sends a usage chunk"
            yield chunk


class Failing(Provider):
    kind = "test-failing"

    async def chat(self, body: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        raise UpstreamError("the primary is down")

    async def stream_chat(self, body: dict[str, Any], *, timeout: float) -> AsyncIterator[dict[str, Any]]:
        raise UpstreamError("the primary is down")
        yield {}  # pragma: no cover - makes this an async generator


@pytest.fixture(autouse=True)
def _providers(monkeypatch: pytest.MonkeyPatch) -> None:
    for cls in (NoStream, NoStreamUsage, Failing):
        monkeypatch.setitem(base._REGISTRY, cls.kind, cls)
    NoStream.opened = 0
    NoStreamUsage.bodies = []


def _dep(kind: str, model: str = "mock-model") -> dict[str, Any]:
    return {"provider": kind, "model": model}


def _config(mock: Any, **sections: Any) -> Any:
    models = [
        {"name": "streams", "deployments": [_dep("mock")]},
        {"name": "nostream", "deployments": [_dep("test-nostream")]},
        {"name": "mixed", "deployments": [_dep("mock"), _dep("test-nostream")]},
        {"name": "primary", "deployments": [_dep("test-failing")], "fallbacks": ["nostream", "streams"]},
        {"name": "nousage", "deployments": [_dep("test-nousage", "gpt-4o-mini")]},
        {"name": "embed", "mode": "embedding", "deployments": [_dep("mock")]},
    ]
    sections.setdefault("router", {"retry": {"max_retries": 0}})
    sections.setdefault("spend", {"enabled": False})
    return mock_config(mock, models=models, **sections)


def _sse(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            out.append(orjson.loads(line[6:]))
    return out


def test_can_stream_is_recorded_per_group_when_the_config_is_built(mock) -> None:
    from gateway.clock import SystemClock
    from gateway.runtime import build_providers

    cfg = _config(mock)
    providers = build_providers(cfg, {})
    assert stream_capability(cfg.models, providers) == {
        "streams": True, "nostream": False, "mixed": False, "primary": True, "nousage": True, "embed": False}
    assert Router(cfg, providers, SystemClock()).can_stream["mixed"] is False


@pytest.mark.parametrize("model", ["nostream", "mixed"])
async def test_stream_to_a_group_that_cannot_stream_is_400(mock, model: str) -> None:
    async with gateway_client(_config(mock)) as (_, client):
        r = await client.post("/v1/chat/completions", json={"model": model, "messages": MSG, "stream": True})
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert (err["type"], err["code"], err["param"]) == ("invalid_request_error", "stream_not_supported", "stream")
        assert repr(model) in err["message"] and '"stream": false' in err["message"]
        ok = await client.post("/v1/chat/completions", json={"model": model, "messages": MSG, "stream": False})
        assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"]
    assert NoStream.opened == 0


async def test_a_stream_skips_a_fallback_that_cannot_stream(mock) -> None:
    async with gateway_client(_config(mock)) as (_, client):
        r = await client.post("/v1/chat/completions", json={"model": "primary", "messages": MSG, "stream": True})
        assert r.status_code == 200, r.text
        assert r.headers["x-sluice-model"].startswith("streams/")  # not the `nostream` fallback
        assert r.text.rstrip().endswith("data: [DONE]")
        whole = await client.post("/v1/chat/completions", json={"model": "primary", "messages": MSG})
        assert whole.status_code == 200 and whole.headers["x-sluice-model"].startswith("nostream/")
    assert NoStream.opened == 0


@pytest.mark.parametrize("spend", [False, True])
async def test_include_usage_from_a_provider_without_stream_usage(mock, tmp_path, spend: bool) -> None:
    """With spend off the gateway still owes the client the usage chunk; with spend on there is one only."""
    cfg = _config(mock, spend={"enabled": spend, "ledger": {"path": str(tmp_path / "s.db"),
                                                           "spool_dir": str(tmp_path / "spool")}})
    async with gateway_client(cfg) as (app, _client):
        sdk = openai_client(app)
        chunks = [c async for c in await sdk.chat.completions.create(
            model="nousage", messages=MSG, stream=True, stream_options={"include_usage": True})]
    assert NoStreamUsage.bodies and all("stream_options" not in b for b in NoStreamUsage.bodies)
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1 and usage_chunks[0] is chunks[-1] and chunks[-1].choices == []
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = chunks[-1].usage
    assert text and usage.completion_tokens == count_text(text, "gpt-4o-mini")
    assert usage.prompt_tokens == count_messages(MSG, "gpt-4o-mini")
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_no_usage_chunk_for_a_client_that_did_not_ask(mock) -> None:
    async with gateway_client(_config(mock)) as (_, client):
        r = await client.post("/v1/chat/completions", json={"model": "nousage", "messages": MSG, "stream": True})
    chunks = _sse(r.text)
    assert r.status_code == 200 and chunks and all(c["choices"] for c in chunks)


async def test_with_counted_usage_passes_upstream_usage_through_and_closes_its_source() -> None:
    closed: list[bool] = []

    async def source(with_usage: bool) -> AsyncIterator[dict[str, Any]]:
        try:
            yield {"id": "c1", "created": 1, "model": "m", "choices": [{"index": 0, "delta": {"content": "hi"}}]}
            if with_usage:
                yield {"id": "c1", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                                            "total_tokens": 2}}
        finally:
            closed.append(True)

    body = {"messages": MSG}
    out = [c async for c in with_counted_usage(source(True), body, "gpt-4o-mini")]
    assert [c.get("usage") for c in out][-1]["total_tokens"] == 2 and len(out) == 2
    out = [c async for c in with_counted_usage(source(False), body, "gpt-4o-mini")]
    assert out[-1]["choices"] == [] and out[-1]["usage"]["completion_tokens"] == count_text("hi", "gpt-4o-mini")
    assert out[-1]["id"] == "c1" and out[-1]["object"] == "chat.completion.chunk"
    it = with_counted_usage(source(False), body, "gpt-4o-mini")
    await it.__anext__()
    await it.aclose()  # a client gone midway: the upstream stream is closed too
    assert closed == [True, True, True]
