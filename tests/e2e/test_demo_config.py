"""The README's demo config end to end: a real local model (SmolLM2 in llama.cpp), the built-in
mock model, local MiniLM embeddings, and a hosted model without its key falling back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gateway.config import load_config
from tests.gateway_fixtures import gateway_client, openai_client

pytestmark = pytest.mark.slow
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sluice.yaml"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory):
    """The demo config from a copy of examples/: its state (.sluice/demo) lands in a temporary folder."""
    import shutil

    copy = tmp_path_factory.mktemp("demo") / "examples"
    shutil.copytree(EXAMPLE.parent, copy, ignore=shutil.ignore_patterns(".sluice"))
    return load_config(copy / EXAMPLE.name)


async def test_real_local_model_answers_streaming_and_not(config, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    async with gateway_client(config) as (app, _):
        client = openai_client(app)
        resp = await client.chat.completions.create(
            model="smollm2", messages=[{"role": "user", "content": "What is the capital of France?"}], max_tokens=24)
        text = resp.choices[0].message.content
        assert isinstance(text, str) and len(text.strip()) > 0
        assert resp.usage.prompt_tokens > 5 and 0 < resp.usage.completion_tokens <= 24
        stream = await client.chat.completions.create(
            model="smollm2", messages=[{"role": "user", "content": "Name a colour."}], max_tokens=16, stream=True,
            stream_options={"include_usage": True})
        chunks = [c async for c in stream]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


async def test_mock_model_is_deterministic_and_hosted_model_falls_back(config, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    async with gateway_client(config) as (app, _):
        client = openai_client(app)
        msgs = [{"role": "user", "content": "Tell me about sluice gates."}]
        a = await client.chat.completions.create(model="mock", messages=msgs)
        b = await client.chat.completions.create(model="mock", messages=msgs)
        assert a.choices[0].message.content == b.choices[0].message.content
        raw = await client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=msgs)
        assert raw.headers["x-sluice-model"].startswith("mock/")
        assert raw.parse().choices[0].message.content == a.choices[0].message.content


async def test_local_embeddings_rank_paraphrases_above_unrelated(config) -> None:
    async with gateway_client(config) as (app, _):
        client = openai_client(app)
        resp = await client.embeddings.create(model="minilm", input=[
            "How do I reset my password?", "I forgot my password, how can I change it?", "The train leaves at noon."])
        v = np.array([d.embedding for d in resp.data])
        assert v.shape == (3, 384)
        assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-3)
        assert v[0] @ v[1] > v[0] @ v[2] + 0.2


async def test_demo_guards_chat_but_not_embeddings(config) -> None:
    """The demo attaches the shipped default policy to chat: a secret is refused with the
    OpenAI-shaped 400; embedding the same text (indexing) is not filtered."""
    import openai

    secret = "deploy with AKIAIOSFODNN7EXAMPLE"
    async with gateway_client(config) as (app, _):
        client = openai_client(app)
        with pytest.raises(openai.BadRequestError) as e:
            await client.chat.completions.create(model="mock", messages=[{"role": "user", "content": secret}])
        assert e.value.code == "content_policy_violation" and "AKIA" not in str(e.value.body)
        ok = await client.chat.completions.create(model="mock", messages=[{"role": "user", "content": "Name a fruit."}])
        assert ok.choices[0].message.content
        emb = await client.embeddings.create(model="minilm", input=[secret])
        assert len(emb.data[0].embedding) == 384
