from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.config import Deployment
from gateway.errors import InvalidRequest
from gateway.providers.base import provider_class
from gateway.providers.llamacpp import LlamaCppProvider, default_model_path

MSG = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


def test_model_file_found_without_importing_the_package() -> None:
    p = default_model_path()
    assert p.is_file() and p.suffix == ".gguf" and p.stat().st_size > 50_000_000


def test_registered_and_options_validated() -> None:
    assert provider_class("llamacpp") is LlamaCppProvider
    with pytest.raises(ValueError, match="n_ctxx"):
        LlamaCppProvider(Deployment(provider="llamacpp", model="smol", options={"n_ctxx": 10}))
    p = LlamaCppProvider(Deployment(provider="llamacpp", model="smol", options={"n_ctx": 1024}))
    assert p.options.n_ctx == 1024 and p.options.n_threads == 2 and p.options.mode == "inprocess"


async def test_missing_model_file_is_a_clear_error(tmp_path) -> None:
    p = LlamaCppProvider(Deployment(provider="llamacpp", model="x", options={"model_path": str(tmp_path / "no.gguf")}))
    with pytest.raises(FileNotFoundError, match="options.model_path"):
        await p.start()


@pytest.fixture
async def smol() -> AsyncIterator[LlamaCppProvider]:
    p = LlamaCppProvider(Deployment(provider="llamacpp", model="smollm2-135m", options={"temperature": 0}))
    await p.start()
    yield p
    await p.aclose()


async def _check_provider(p: LlamaCppProvider) -> None:
    out = await p.chat({"model": "local", "messages": MSG, "max_tokens": 8}, timeout=120)
    assert out["object"] == "chat.completion" and out["model"] == "smollm2-135m" and "timings" not in out
    assert out["choices"][0]["message"]["content"].strip()
    assert out["usage"]["completion_tokens"] > 0 and out["usage"]["prompt_tokens"] > 0

    chunks = [c async for c in p.stream_chat({"model": "local", "messages": MSG, "max_tokens": 8}, timeout=120)]
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c["choices"])
    assert text.strip()
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_inprocess_chat_stream_and_bad_body(smol: LlamaCppProvider) -> None:
    await _check_provider(smol)
    with pytest.raises(InvalidRequest, match="messages"):
        await smol.chat({"model": "local", "messages": "not a list"}, timeout=30)


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_child_server_mode() -> None:
    p = LlamaCppProvider(Deployment(provider="llamacpp", model="smollm2-135m",
                                    options={"mode": "server", "temperature": 0}))
    await p.start()
    try:
        assert p._child is not None and p._child.returncode is None
        await _check_provider(p)
    finally:
        await p.aclose()
    assert p._child is None


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_inprocess_stream_stops_when_consumer_leaves(smol: LlamaCppProvider) -> None:
    """Closing the stream early tells llama.cpp to stop, so the next request is served at once."""
    import time

    gen = smol.stream_chat({"model": "local", "messages": MSG, "max_tokens": 400, "temperature": 1.0}, timeout=120)
    got = [await gen.__anext__() for _ in range(3)]
    await gen.aclose()
    assert got[0]["choices"][0]["delta"].get("role") == "assistant"
    t = time.perf_counter()
    out = await smol.chat({"model": "local", "messages": MSG, "max_tokens": 2}, timeout=120)
    assert out["usage"]["completion_tokens"] <= 2
    assert time.perf_counter() - t < 30  # far less than 400 more tokens would take at ~10-60 tokens/s
