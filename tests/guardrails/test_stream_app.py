"""Streamed output guardrails through the real app over the mock upstream: how many content deltas
reach the client, and logprobs that travel with their text."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from gateway.mock_upstream import MockUpstream
from tests.gateway_fixtures import gateway_client, mock_config


def _events(r: httpx.Response) -> list[dict[str, Any]]:
    assert r.status_code == 200, r.text
    out = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ") and line != "data: [DONE]"]
    assert all("error" not in e for e in out)
    return out


def _contents(events: list[dict[str, Any]]) -> list[str]:
    return [c for e in events for ch in e.get("choices", []) if (c := (ch.get("delta") or {}).get("content"))]


async def _stream(config: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    async with gateway_client(config) as (_, client):
        return _events(await client.post("/v1/chat/completions", json=body))


def _config(mock: MockUpstream, **sections: Any) -> Any:
    return mock_config(mock, spend={"enabled": False}, **sections)  # no ledger: these tests read streams only


BODY = {"model": "mock-chat", "stream": True, "messages": [{"role": "user", "content": "tell me about rivers"}]}


async def test_default_policy_streams_at_least_half_the_upstream_deltas(mock: MockUpstream) -> None:
    # before: the 128-character window turned a 60-token answer into a handful of deltas
    mock.config.reply_words = 60
    plain = _contents(await _stream(_config(mock), BODY))
    guarded = _contents(await _stream(_config(mock, guardrails={"warm_on_start": False,
                                                                "default_policy": "default"}), BODY))
    assert len(plain) == 60  # one per token: the unguarded stream passes the upstream's deltas through
    assert "".join(guarded) == "".join(plain)  # prose: nothing to redact
    assert len(guarded) >= len(plain) / 2


def _redacting(mock: MockUpstream) -> Any:
    # every mock answer starts "mock reply to: ...": the denylisted word is always there
    return _config(mock, guardrails={
        "warm_on_start": False,
        "scanners": {"words": {"type": "denylist", "substrings": ["reply"]}},
        "policies": {"default": {"output": [{"scanner": "words", "action": "redact"},
                                            {"scanner": "pii", "action": "redact"}]}},
        "default_policy": "default",
    })


async def test_streamed_logprobs_travel_with_their_text(mock: MockUpstream) -> None:
    # before: a chunk's logprobs went out while its text was held back, so they led the text
    body = {**BODY, "logprobs": True, "top_logprobs": 2}
    plain = await _stream(_config(mock), body)
    guarded = await _stream(_redacting(mock), body)
    placeholder = re.compile(r"\s?<SUBSTRING_\d+>")
    seen: list[str] = []
    for e in guarded:
        for ch in e.get("choices", []):
            text = (ch.get("delta") or {}).get("content") or ""
            entries = (ch.get("logprobs") or {}).get("content") or []
            tokens = "".join(t["token"] for t in entries)
            # the entries of a chunk are those of its text; a rewritten piece's are left out
            assert tokens == placeholder.sub("", text), (text, tokens)
            seen += [t["token"] for t in entries]
    plain_tokens = [t["token"] for e in plain for ch in e.get("choices", [])
                    for t in ((ch.get("logprobs") or {}).get("content") or [])]
    assert " reply" in plain_tokens
    assert seen == [t for t in plain_tokens if t != " reply"]
    assert "<SUBSTRING_1>" in "".join(_contents(guarded)) and "reply" not in "".join(_contents(guarded))


def _args_fragments(events: list[dict[str, Any]]) -> list[str]:
    return [fn["arguments"] for e in events for ch in e.get("choices", [])
            for tc in (ch.get("delta") or {}).get("tool_calls") or []
            if (fn := tc.get("function") or {}).get("arguments")]


async def test_tool_call_arguments_stream_in_fragments_under_the_default_policy(mock: MockUpstream) -> None:
    # before: a call's arguments shorter than twice the window were all held until the finish chunk
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}, "note": {"type": "string"},
                                         "days": {"type": "integer"}}, "required": ["city", "note", "days"]}}}]
    body = {**BODY, "tools": tools, "tool_choice": "required"}
    plain = _args_fragments(await _stream(_config(mock), body))
    guarded = _args_fragments(await _stream(_config(mock, guardrails={"warm_on_start": False,
                                                                      "default_policy": "default"}), body))
    assert len(plain) >= 4  # the mock sends a call's arguments in four or five fragments
    assert "".join(guarded) == "".join(plain)
    assert len(guarded) >= 2
