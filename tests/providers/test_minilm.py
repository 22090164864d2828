from __future__ import annotations

import base64

import numpy as np
import pytest

from gateway.config import Deployment
from gateway.errors import InvalidRequest, UpstreamTimeout
from gateway.providers.base import provider_class
from gateway.providers.minilm import DIMS, MiniLMEmbedder, MiniLMEmbeddingProvider, get_embedder


@pytest.fixture(scope="module")
def emb() -> MiniLMEmbedder:
    return get_embedder()


@pytest.fixture
async def provider() -> MiniLMEmbeddingProvider:
    p = MiniLMEmbeddingProvider(Deployment(provider="minilm", model="all-MiniLM-L6-v2"))
    await p.start()
    return p


def test_shape_dtype_and_unit_norm(emb: MiniLMEmbedder) -> None:
    v = emb.embed(["hello world", "a much longer sentence about the weather in Lisbon in spring"])
    assert v.shape == (2, DIMS) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert emb.embed([]).shape == (0, DIMS)


def test_paraphrase_closer_than_unrelated(emb: MiniLMEmbedder) -> None:
    a, para, other = emb.embed(["How do I reset my password?", "What are the steps to change my password?",
                                "The recipe needs two cups of flour."])
    assert float(a @ para) > 0.6 > float(a @ other)
    assert float(a @ para) > float(a @ other) + 0.3


def test_batching_matches_one_by_one(emb: MiniLMEmbedder) -> None:
    texts = ["short", "a somewhat longer text with several words in it", "medium length text here",
             "x " * 100, "unicode café naïve 東京"] * 7  # 35 texts: two batches of mixed lengths
    together = emb.embed(texts)
    alone = np.stack([emb.embed([t])[0] for t in texts[:5]])  # small inputs: the single-threaded session
    assert emb._small is not None
    cos = (together[:5] * alone).sum(axis=1)
    assert (cos > 0.999).all(), cos
    assert np.allclose(together[:5], together[5:10], atol=1e-5)  # order is preserved across batches


def test_truncation_and_token_count(emb: MiniLMEmbedder) -> None:
    assert emb.count_tokens("hello world") == 4  # [CLS] hello world [SEP]
    assert emb.count_tokens("word " * 1000) == 256
    _, n = emb.embed_with_counts(["hello world", "hi"])
    assert n == 4 + 3


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
    ({"input": [1, 2, 3]}, "input"),
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
