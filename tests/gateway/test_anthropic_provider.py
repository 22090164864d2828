"""A non-OpenAI wire format (Anthropic Messages) through litellm's adapter, against the mock."""

from __future__ import annotations

import pytest

from tests.gateway_fixtures import gateway_client, mock_config, openai_client

pytestmark = pytest.mark.slow  # imports litellm (~4.5 s)


def claude_cfg(mock):
    return mock_config(mock, models=[{"name": "claude", "deployments": [
        {"provider": "anthropic", "model": "claude-3-5-haiku-20241022", "api_base": mock.anthropic_base_url,
         "api_key_env": "SLUICE_TEST_ANTHROPIC_KEY", "timeout_s": 5}]}],
        router={"retry": {"max_retries": 1, "backoff_base_s": 0.001}})


async def test_anthropic_chat_and_stream_come_back_in_openai_shape(mock, monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_TEST_ANTHROPIC_KEY", "test-key")
    async with gateway_client(claude_cfg(mock)) as (app, _):
        client = openai_client(app)
        resp = await client.chat.completions.create(model="claude", messages=[
            {"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}], max_tokens=50)
        assert mock.last_path == "/v1/messages"
        assert mock.last_body["system"]  # the adapter moved the system prompt where Anthropic wants it
        assert mock.last_headers.get("x-api-key") == "test-key"
        assert resp.choices[0].message.content
        assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0
        chunks = [c async for c in await client.chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "hello"}], max_tokens=50, stream=True,
            stream_options={"include_usage": True})]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text
        assert any(c.usage and c.usage.completion_tokens > 0 for c in chunks)


async def test_anthropic_overload_is_retried(mock, monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_TEST_ANTHROPIC_KEY", "test-key")
    mock.set_fault("503", first_n=1)
    mock.config.retry_after_s = 0
    async with gateway_client(claude_cfg(mock)) as (_, client):
        r = await client.post("/v1/chat/completions", json={"model": "claude", "max_tokens": 20,
                                                            "messages": [{"role": "user", "content": "hi"}]})
    mock.config.retry_after_s = 1.0
    assert r.status_code == 200, r.text
    assert r.headers["x-sluice-attempts"] == "2"
