"""Issue #19 item 5: token-id embedding input, as LangChain's `OpenAIEmbeddings` sends by default.

Local models decode the ids with the client's tiktoken encoding (cl100k_base unless the deployment
says `options.token_encoding`) and embed the text; OpenAI-compatible upstreams get the ids unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest

from gateway.config import Deployment
from gateway.mock_upstream import MockUpstream
from gateway.providers.minilm import MiniLMEmbeddingProvider
from gateway.spend.tokens import _encoding
from tests.gateway_fixtures import gateway_client, mock_config, openai_client

HELLO = [15339, 1917]  # "hello world" in cl100k_base
TEXTS = ["hello world", "The river runs past the old mill."]


def _config(mock: MockUpstream) -> object:
    return mock_config(mock, models=[
        {"name": "local", "mode": "embedding", "deployments": [{"provider": "minilm", "model": "all-MiniLM-L6-v2"}]},
        {"name": "local-4o", "mode": "embedding", "deployments": [
            {"provider": "minilm", "model": "all-MiniLM-L6-v2", "options": {"token_encoding": "o200k_base"}}]},
        {"name": "remote", "mode": "embedding", "deployments": [
            {"provider": "openai", "model": "text-embedding-3-small", "api_base": mock.base_url}]},
    ])


def _vec(d: dict, i: int = 0) -> np.ndarray:
    return np.array(d["data"][i]["embedding"], dtype=np.float32)


async def test_local_model_embeds_decoded_token_ids(mock: MockUpstream) -> None:
    cl100k = _encoding("cl100k_base")
    assert cl100k.encode("hello world") == HELLO
    ids = [cl100k.encode(t) for t in TEXTS]
    async with gateway_client(_config(mock)) as (_, client):
        text = (await client.post("/v1/embeddings", json={"model": "local", "input": TEXTS})).json()
        r = await client.post("/v1/embeddings", json={"model": "local", "input": ids})
        assert r.status_code == 200, r.text
        out = r.json()
        assert [d["index"] for d in out["data"]] == [0, 1]
        for i in range(2):
            assert np.allclose(_vec(out, i), _vec(text, i), atol=1e-6)
        flat = await client.post("/v1/embeddings", json={"model": "local", "input": HELLO})
        assert flat.status_code == 200 and np.allclose(_vec(flat.json()), _vec(text), atol=1e-6)


async def test_langchain_style_request_through_the_openai_sdk(mock: MockUpstream) -> None:
    """What `OpenAIEmbeddings(check_embedding_ctx_length=True)` sends: lists of cl100k ids."""
    async with gateway_client(_config(mock)) as (app, _):
        sdk = openai_client(app)
        ids = await sdk.embeddings.create(model="local", input=[HELLO])
        text = await sdk.embeddings.create(model="local", input=["hello world"])
        assert np.allclose(ids.data[0].embedding, text.data[0].embedding, atol=1e-6)


async def test_the_encoding_is_chosen_per_deployment(mock: MockUpstream) -> None:
    o200k = _encoding("o200k_base")
    ids = o200k.encode("hello world")
    assert ids != HELLO
    async with gateway_client(_config(mock)) as (_, client):
        text = (await client.post("/v1/embeddings", json={"model": "local-4o", "input": "hello world"})).json()
        r = await client.post("/v1/embeddings", json={"model": "local-4o", "input": [ids]})
        assert r.status_code == 200 and np.allclose(_vec(r.json()), _vec(text), atol=1e-6)
        # the same ids read as cl100k are other text, so another vector
        other = (await client.post("/v1/embeddings", json={"model": "local", "input": [ids]})).json()
        assert not np.allclose(_vec(other), _vec(text), atol=1e-3)
    with pytest.raises(ValueError, match="token_encoding"):
        MiniLMEmbeddingProvider(Deployment(provider="minilm", model="m", options={"token_encoding": "gpt2"}))


@pytest.mark.parametrize("bad", [[[15339, 10**7]], [100256], [[1], [200_000]]])
async def test_ids_outside_the_encoding_are_a_400_on_input(mock: MockUpstream, bad: list) -> None:
    async with gateway_client(_config(mock)) as (_, client):
        r = await client.post("/v1/embeddings", json={"model": "local", "input": bad})
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["param"] == "input" and err["type"] == "invalid_request_error" and "cl100k_base" in err["message"]


async def test_openai_compatible_upstream_gets_the_ids_unchanged(mock: MockUpstream) -> None:
    async with gateway_client(_config(mock)) as (_, client):
        for inp in ([HELLO, [1, 2, 3]], HELLO):
            r = await client.post("/v1/embeddings", json={"model": "remote", "input": inp})
            assert r.status_code == 200, r.text
            assert mock.last_body["input"] == inp and mock.last_body["model"] == "text-embedding-3-small"
