"""Token-id embedding input is text for the input rules: a secret sent as cl100k ids (what
LangChain's OpenAIEmbeddings sends by default) is blocked like the same secret as a string, and a
rule that would redact ids refuses them (ids cannot be rewritten in place)."""

from __future__ import annotations

import pytest

from gateway.spend.tokens import _encoding
from tests.gateway_fixtures import gateway_client, mock_config

SECRET = "deploy with AKIAIOSFODNN7EXAMPLE"


def _ids(text: str) -> list[int]:
    return list(_encoding("cl100k_base").encode(text))


@pytest.mark.parametrize("shape", ["flat", "nested"])
async def test_a_secret_as_token_ids_is_blocked(mock, shape: str) -> None:
    guard = {"policies": {"p": {"input": [{"scanner": "secrets", "action": "block"}]}}, "default_policy": "p"}
    ids = _ids(SECRET)
    async with gateway_client(mock_config(mock, guardrails=guard)) as (_app, c):
        r = await c.post("/v1/embeddings", json={"model": "mock-embed", "input": ids if shape == "flat" else [ids]})
        assert r.status_code == 400 and r.json()["error"]["code"] == "content_policy_violation", r.text
        assert mock.requests_seen == 0
        ok = await c.post("/v1/embeddings", json={"model": "mock-embed", "input": [_ids("a harmless sentence")]})
        assert ok.status_code == 200, ok.text


async def test_a_redaction_of_token_ids_refuses_them(mock) -> None:
    guard = {"policies": {"p": {"input": [{"scanner": "pii", "action": "redact"}]}}, "default_policy": "p"}
    async with gateway_client(mock_config(mock, guardrails=guard)) as (_app, c):
        r = await c.post("/v1/embeddings", json={"model": "mock-embed",
                                                 "input": [_ids("write to jane.doe@example.com today")]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "input", r.text
    assert mock.requests_seen == 0
