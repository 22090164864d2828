"""`/v1/messages` to an Anthropic deployment is a pass-through: the client's own request reaches the
upstream unchanged (thinking blocks and signatures, `cache_control`, `top_k`, betas, fields the
gateway does not know) and its answer and stream events come back unchanged, while every stage
still runs (issue #18). A stage that rewrites the request turns the pass-through off: the
rewritten request is what the upstream gets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
import sqlalchemy as sa

from gateway.spend.schema import ledger
from tests.gateway_fixtures import gateway_client, mock_config

pytestmark = pytest.mark.slow  # the Anthropic provider imports litellm (~4.5 s) for its chat path

BETA = "interleaved-thinking-2025-05-14,some-future-beta-2099-01-01"


def _config(mock: Any, tmp: Path, headers: dict[str, str] | None = None, **sections: Any) -> Any:
    return mock_config(mock, models=[{"name": "claude", "deployments": [
        {"provider": "anthropic", "model": "claude-sonnet-4-5", "api_base": mock.anthropic_base_url,
         "api_key_env": "SLUICE_TEST_ANTHROPIC_KEY", "timeout_s": 5, "headers": headers or {}}]}],
        spend={"ledger": {"path": str(tmp / "spend.db"), "spool_dir": str(tmp / "spool")},
               "prices": {"claude-sonnet-4-5": {"input_per_mtok": 3, "output_per_mtok": 15,
                                                "cached_input_per_mtok": 0.3, "cache_write_per_mtok": 3.75}}},
        **sections)


def _request(**extra: Any) -> dict[str, Any]:
    """A second turn of a tool-using conversation with thinking, as Claude Code sends one."""
    return {
        "model": "claude", "max_tokens": 2048, "top_k": 7, "thinking": {"type": "enabled", "budget_tokens": 1024},
        "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
        "metadata": {"user_id": "user-42"}, "a_field_from_the_future": {"x": 1},
        "tools": [{"name": "get_weather", "description": "weather", "cache_control": {"type": "ephemeral"},
                   "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Weather in Oslo?",
                                          "cache_control": {"type": "ephemeral"}}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "I should call the tool.", "signature": "c2lnbmF0dXJlLTE="},
                {"type": "redacted_thinking", "data": "ZW5jcnlwdGVk"},
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Oslo"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "4 C, rain"}]},
        ],
        **extra,
    }


def _rows(app: Any) -> list[dict[str, Any]]:
    with app.gateway.services.spend.engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(sa.select(ledger))]


async def test_the_request_reaches_anthropic_as_the_client_sent_it(mock, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_TEST_ANTHROPIC_KEY", "sk-ant-test")
    body = _request()
    async with gateway_client(_config(mock, tmp_path)) as (app, client):
        r = await client.post("/v1/messages", json=body, headers={
            "x-api-key": "ignored-with-auth-off", "anthropic-version": "2023-06-01", "anthropic-beta": BETA})
        assert r.status_code == 200, r.text
        assert mock.last_path == "/v1/messages"
        assert mock.last_body == {**body, "model": "claude-sonnet-4-5"}  # byte for byte, the model renamed
        assert mock.last_headers["anthropic-beta"] == BETA
        assert mock.last_headers["x-api-key"] == "sk-ant-test"  # the deployment's key, not the client's
        msg = r.json()
        assert msg["model"] == "claude" and msg["type"] == "message"
        assert msg["usage"]["cache_read_input_tokens"] > 0  # the mock reads the cache_control prefix
        await app.gateway.services.spend.writer.flush()
        (row,) = _rows(app)
    assert row["route"] == "messages" and row["cached_tokens"] == msg["usage"]["cache_read_input_tokens"]
    u = msg["usage"]
    assert row["prompt_tokens"] == u["input_tokens"] + u["cache_read_input_tokens"] + u["cache_creation_input_tokens"]
    assert row["completion_tokens"] == u["output_tokens"] and row["cost_usd"] > 0


async def test_cache_writes_are_billed_at_their_rate(mock, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_TEST_ANTHROPIC_KEY", "sk-ant-test")
    async with gateway_client(_config(mock, tmp_path, headers={"x-mock-cache": "write"})) as (app, client):
        r = await client.post("/v1/messages", json=_request())
        assert r.status_code == 200, r.text
        written = r.json()["usage"]["cache_creation_input_tokens"]
        assert written > 0
        await app.gateway.services.spend.writer.flush()
        (row,) = _rows(app)
    assert row["cache_write_tokens"] == written


async def test_thinking_and_signatures_survive_a_stream(mock, tmp_path, monkeypatch) -> None:
    import anthropic

    monkeypatch.setenv("SLUICE_TEST_ANTHROPIC_KEY", "sk-ant-test")
    async with gateway_client(_config(mock, tmp_path)) as (app, _client):
        http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://gateway")  # the SDK's httpx
        sdk = anthropic.AsyncAnthropic(base_url="http://gateway", api_key="k", http_client=http, max_retries=0)
        body = _request()
        for sdk_unknown in ("model", "a_field_from_the_future", "top_k"):
            body.pop(sdk_unknown)
        async with sdk.messages.stream(model="claude", extra_headers={"anthropic-beta": BETA},
                                       extra_body={"top_k": 7}, **body) as stream:
            events = [e.type async for e in stream]
            final = await stream.get_final_message()
        assert mock.last_body["stream"] is True and mock.last_body["thinking"] == body["thinking"]
        kinds = [b.type for b in final.content]
        assert kinds[0] == "thinking" and final.content[0].signature  # the upstream's signature, whole
        assert "text" in kinds and final.model == "claude"
        assert events[0] == "message_start" and "content_block_delta" in events
        assert final.usage.output_tokens > 0
        await app.gateway.services.spend.writer.flush()
        (row,) = _rows(app)
    assert row["route"] == "messages" and row["completion_tokens"] == final.usage.output_tokens


async def test_a_redacted_request_is_sent_translated_never_as_it_came(mock, tmp_path, monkeypatch) -> None:
    """An input guardrail that redacts rewrites the chat body: the client's original (with the
    e-mail address in it) must not reach the upstream through the pass-through."""
    monkeypatch.setenv("SLUICE_TEST_ANTHROPIC_KEY", "sk-ant-test")
    guard = {"policies": {"p": {"input": [{"scanner": "pii", "action": "redact"}]}}, "default_policy": "p"}
    async with gateway_client(_config(mock, tmp_path, guardrails=guard)) as (_app, client):
        r = await client.post("/v1/messages", json={
            "model": "claude", "max_tokens": 100, "top_k": 3,
            "messages": [{"role": "user", "content": "Write to jane.doe@example.com about the invoice"}]})
        assert r.status_code == 200, r.text
    sent = orjson.dumps(mock.last_body).decode()
    assert "jane.doe@example.com" not in sent and mock.last_path == "/v1/messages"
    assert r.json()["type"] == "message" and r.json()["model"] == "claude"


@pytest.mark.parametrize("stream", [False, True])
async def test_output_rules_apply_to_a_passed_through_answer(mock, tmp_path, monkeypatch, stream: bool) -> None:
    """A redacting output rule changes the answer: the upstream's own answer (or events) must not
    go out as they came, or the rule would be bypassed on exactly this route."""
    monkeypatch.setenv("SLUICE_TEST_ANTHROPIC_KEY", "sk-ant-test")
    guard = {"scanners": {"words": {"type": "denylist", "substrings": ["reply"]}},
             "policies": {"p": {"output": [{"scanner": "words", "action": "redact"}]}}, "default_policy": "p"}
    async with gateway_client(_config(mock, tmp_path, guardrails=guard)) as (_app, client):
        r = await client.post("/v1/messages", json={"model": "claude", "max_tokens": 100, "stream": stream,
                                                    "messages": [{"role": "user", "content": "hello"}]})
    assert r.status_code == 200, r.text
    assert "mock" in r.text and "reply" not in r.text  # the mock answers "mock reply to: ..."
