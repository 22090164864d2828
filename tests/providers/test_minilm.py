"""`provider: minilm`: the local embedding model behind /v1/embeddings (the loader: tests/minilm)."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from gateway.config import Deployment
from gateway.errors import InvalidRequest, UpstreamTimeout
from gateway.providers.base import provider_class
from gateway.providers.minilm import DIMS, MiniLMEmbedder, MiniLMEmbeddingProvider, get_embedder


@pytest.fixture
async def provider() -> MiniLMEmbeddingProvider:
    p = MiniLMEmbeddingProvider(Deployment(provider="minilm", model="all-MiniLM-L6-v2"))
    await p.start()
    return p


def test_one_process_wide_embedder_from_the_minilm_package() -> None:
    """The loader is the `minilm` package's (tests/minilm); the gateway holds one shared instance."""
    import minilm

    assert get_embedder() is get_embedder()
    assert isinstance(get_embedder(), minilm.MiniLMEmbedder) and MiniLMEmbedder is minilm.MiniLMEmbedder
    assert DIMS == minilm.DIMS == 384


async def test_provider_uses_the_shared_embedder(provider: MiniLMEmbeddingProvider) -> None:
    assert provider._embedder is get_embedder()


async def test_provider_openai_shape(provider: MiniLMEmbeddingProvider) -> None:
    out = await provider.embed({"model": "emb", "input": ["hello world", "hi"]}, timeout=30)
    assert out["object"] == "list" and out["model"] == "all-MiniLM-L6-v2"
    assert [d["index"] for d in out["data"]] == [0, 1] and all(d["object"] == "embedding" for d in out["data"])
    assert len(out["data"][0]["embedding"]) == DIMS
    assert out["usage"] == {"prompt_tokens": 7, "total_tokens": 7}
    single = await provider.embed({"model": "emb", "input": "hello world", "dimensions": 384}, timeout=30)
    assert np.allclose(single["data"][0]["embedding"], out["data"][0]["embedding"], atol=1e-6)


async def test_provider_base64_round_trip(provider: MiniLMEmbeddingProvider) -> None:
    f = await provider.embed({"model": "emb", "input": ["round trip"]}, timeout=30)
    b = await provider.embed({"model": "emb", "input": ["round trip"], "encoding_format": "base64"}, timeout=30)
    decoded = np.frombuffer(base64.b64decode(b["data"][0]["embedding"]), dtype="<f4")
    assert decoded.shape == (DIMS,) and np.array_equal(decoded, np.array(f["data"][0]["embedding"], dtype=np.float32))


@pytest.mark.parametrize("body,param", [
    ({"input": "x", "dimensions": 256}, "dimensions"),
    ({"input": []}, "input"),
    ({"input": [1, 10**7]}, "input"),  # token ids are decoded (cl100k_base); this one is not a token
    ({"input": [["a"]]}, "input"),
    ({}, "input"),
    ({"input": "x", "encoding_format": "hex"}, "encoding_format"),
])
async def test_provider_rejects_bad_input(provider: MiniLMEmbeddingProvider, body: dict, param: str) -> None:
    with pytest.raises(ValueError) as ei:
        await provider.embed({"model": "emb", **body}, timeout=30)
    assert isinstance(ei.value, InvalidRequest) and ei.value.param == param and ei.value.status == 400


async def test_provider_timeout_is_upstream_timeout(provider: MiniLMEmbeddingProvider) -> None:
    with pytest.raises(UpstreamTimeout):
        await provider.embed({"model": "emb", "input": ["long text " * 200] * 4}, timeout=0.0001)


def test_registered_by_kind() -> None:
    cls = provider_class("minilm")
    assert cls is MiniLMEmbeddingProvider and cls.supports_embeddings and not cls.supports_chat
