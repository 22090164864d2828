"""Real Node clients against a live gateway over the mock upstream (issue #18).

The locked Node 22 (tests/clients/node, installed by scripts/node-deps) runs small scripts with the
official `openai` Node SDK (chat, streaming with usage, the SDK's error classes, embeddings, models)
and the Vercel AI SDK (`generateText`, `streamText` through `@ai-sdk/openai-compatible`). Each
script prints one JSON object; the tests assert on it and on the gateway's spend ledger. Auth is on:
the clients use a virtual key made through the admin API.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from gateway.app import SluiceApp
from gateway.mock_upstream import MockUpstream
from gateway.spend.schema import ledger
from tests.clients.node.tools import NODE, base_env, require, run_script
from tests.gateway_fixtures import live_app, mock_config

MASTER = "master-key-for-node-tests"


class Gateway:
    def __init__(self, app: SluiceApp, base_url: str, key: dict[str, Any], tmp: Path) -> None:
        self.app, self.base_url, self.tmp = app, base_url, tmp
        self.key, self.key_id = key["key"], key["id"]

    def env(self, **extra: str) -> dict[str, str]:
        return {**base_env(self.tmp), "SLUICE_BASE_URL": self.base_url, "SLUICE_API_KEY": self.key,
                "SLUICE_MODEL": "mock-chat", "SLUICE_EMBED_MODEL": "mock-embed", **extra}

    def ledger(self, *, at_least: int = 1) -> list[dict[str, Any]]:
        """The ledger's rows, polled until `at_least` are there (the writer flushes every 50 ms)."""
        svc = self.app.gateway.services.spend
        deadline = time.monotonic() + 10
        while True:
            with svc.engine.connect() as c:
                rows = [dict(r._mapping) for r in c.execute(sa.select(ledger).order_by(ledger.c.id))]
            if len(rows) >= at_least or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)


@pytest.fixture(scope="module")
def gateway(_mock_session: MockUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    require(NODE)
    tmp = tmp_path_factory.mktemp("node-sdks")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SLUICE_MASTER_KEY", MASTER)
        mp.setenv("SLUICE_KEY_SECRET", "hmac-secret-for-node-tests")
        config = mock_config(_mock_session, auth={"enabled": True},
                             spend={"ledger": {"path": str(tmp / "spend.db"), "spool_dir": str(tmp / "spool"),
                                               "flush_interval_s": 0.05}})
        with live_app(config) as (app, base_url):
            r = httpx.post(base_url.removesuffix("/v1") + "/sluice/v1/keys", json={"name": "node-sdks"},
                           headers={"authorization": f"Bearer {MASTER}"}, timeout=10)
            assert r.status_code == 201, r.text
            yield Gateway(app, base_url, r.json(), tmp)


@pytest.fixture
def gw(gateway: Gateway, mock: MockUpstream) -> Gateway:
    """The module's gateway, with the mock reset and the ledger emptied for each test."""
    spend = gateway.app.gateway.services.spend
    # The last test's rows are in the spool by now; let the writer commit them before clearing.
    deadline = time.monotonic() + 10
    while spend.writer.pending_rows and time.monotonic() < deadline:
        time.sleep(0.02)
    with spend.engine.begin() as c:
        c.execute(sa.delete(ledger))
    return gateway


# --- the openai Node SDK ---------------------------------------------------------------------------

def test_openai_sdk_chat_completion(gw: Gateway, mock: MockUpstream) -> None:
    r = run_script("openai_sdk.mjs", "chat", gw.env())
    assert r["object"] == "chat.completion" and r["role"] == "assistant"
    assert r["content"] and r["finish_reason"] == "stop"
    assert r["model"] == "mock-chat"  # the public name the client asked for
    u = r["usage"]
    assert u["prompt_tokens"] > 0 and u["completion_tokens"] > 0
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    assert mock.state.paths["/v1/chat/completions"] == 1
    (row,) = gw.ledger()
    assert row["requested_model"] == "mock-chat" and row["status_code"] == 200
    assert row["key_id"] == gw.key_id and row["route"] == "chat.completions" and not row["stream"]
    assert (row["prompt_tokens"], row["completion_tokens"]) == (u["prompt_tokens"], u["completion_tokens"])


def test_openai_sdk_sees_the_gateways_headers(gw: Gateway) -> None:
    r = run_script("openai_sdk.mjs", "chat_raw", gw.env())
    assert r["status"] == 200 and r["content"]
    assert float(r["headers"]["x-sluice-cost-usd"]) >= 0
    assert int(r["headers"]["x-sluice-prompt-tokens"]) > 0


def test_openai_sdk_stream_with_usage(gw: Gateway) -> None:
    r = run_script("openai_sdk.mjs", "stream", gw.env())
    assert r["text"] and r["chunks"] >= 3 and r["finish_reason"] == "stop"
    u = r["usage"]
    assert u and u["completion_tokens"] > 0 and u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    assert r["usage_chunk_choices"] == 0  # OpenAI's shape: the usage chunk has no choices
    assert r["model"] == "mock-chat"
    (row,) = gw.ledger()
    assert row["completion_tokens"] == u["completion_tokens"] and row["status_code"] == 200 and row["stream"]


def test_openai_sdk_stream_helper_accumulates(gw: Gateway) -> None:
    r = run_script("openai_sdk.mjs", "stream_helper", gw.env())
    assert r["deltas"] >= 2 and r["content"]
    assert r["usage"] and r["usage"]["completion_tokens"] > 0


def test_openai_sdk_unknown_model_raises_not_found(gw: Gateway, mock: MockUpstream) -> None:
    r = run_script("openai_sdk.mjs", "unknown_model", gw.env())
    assert r["raised"] and r["is_not_found"] and r["is_api_error"], r
    assert r["class"] == "NotFoundError" and r["status"] == 404
    assert r["code"] == "model_not_found" and r["type"] == "invalid_request_error" and r["param"] == "model"
    assert mock.state.inference_seen == 0


def test_openai_sdk_bad_key_raises_authentication_error(gw: Gateway, mock: MockUpstream) -> None:
    r = run_script("openai_sdk.mjs", "bad_key", gw.env())
    assert r["raised"] and r["is_auth"] and r["status"] == 401, r
    assert r["type"] == "authentication_error"
    assert mock.state.inference_seen == 0


def test_openai_sdk_embeddings(gw: Gateway) -> None:
    r = run_script("openai_sdk.mjs", "embeddings", gw.env())
    assert r["object"] == "list" and r["n"] == 2 and r["index"] == [0, 1]
    assert len(set(r["dims"])) == 1 and r["dims"][0] > 0 and r["finite"]
    assert r["usage"]["prompt_tokens"] > 0
    (row,) = gw.ledger()
    assert row["requested_model"] == "mock-embed"


def test_openai_sdk_embeddings_default_base64(gw: Gateway) -> None:
    """The Node SDK asks for `encoding_format: base64` when none is given and decodes it itself."""
    r = run_script("openai_sdk.mjs", "embeddings_base64", gw.env())
    assert r["n"] == 1 and r["dims"] > 0 and r["first_is_number"]


def test_openai_sdk_lists_models(gw: Gateway) -> None:
    r = run_script("openai_sdk.mjs", "models", gw.env())
    assert {"mock-chat", "mock-embed"} <= set(r["ids"])


# --- the Vercel AI SDK (@ai-sdk/openai-compatible) --------------------------------------------------

def test_ai_sdk_generate_text(gw: Gateway, mock: MockUpstream) -> None:
    r = run_script("ai_sdk.mjs", "generate", gw.env())
    assert r["text"] and r["finishReason"] == "stop"
    u = r["usage"]
    assert u["inputTokens"] > 0 and u["outputTokens"] > 0
    assert u["totalTokens"] == u["inputTokens"] + u["outputTokens"]
    assert r["modelId"] == "mock-chat"
    assert mock.state.last_body["model"] == "gpt-4o-mini"  # routed to the group's deployment
    (row,) = gw.ledger()
    assert row["completion_tokens"] == u["outputTokens"]


def test_ai_sdk_stream_text(gw: Gateway) -> None:
    r = run_script("ai_sdk.mjs", "stream", gw.env())
    assert r["text"] and r["deltas"] >= 2 and r["finishReason"] == "stop"
    u = r["usage"]
    assert u["outputTokens"] > 0 and u["inputTokens"] > 0  # includeUsage: stream_options.include_usage
    (row,) = gw.ledger()
    assert row["completion_tokens"] == u["outputTokens"]


def test_ai_sdk_unknown_model_is_an_api_call_error(gw: Gateway) -> None:
    r = run_script("ai_sdk.mjs", "unknown_model", gw.env())
    assert r["raised"] and r["name"] == "AI_APICallError" and r["statusCode"] == 404, r
    assert r["isRetryable"] is False
    assert "no-such-model" in r["message"] or "model" in r["message"].lower()


# --- the Anthropic Node SDK on /v1/messages (an OpenAI-format upstream: translated both ways) -------

def _anthropic_env(gw: Gateway) -> dict[str, str]:
    return gw.env(SLUICE_ROOT_URL=gw.base_url.removesuffix("/v1"))


def test_anthropic_sdk_messages_create(gw: Gateway, mock: MockUpstream) -> None:
    r = run_script("anthropic_sdk.mjs", "create", _anthropic_env(gw))
    assert r["type"] == "message" and r["role"] == "assistant" and r["model"] == "mock-chat"
    assert r["content_types"] == ["text"] and r["text"] and r["stop_reason"] == "end_turn"
    assert r["usage"]["input_tokens"] > 0 and r["usage"]["output_tokens"] > 0
    assert mock.state.last_path == "/v1/chat/completions"
    assert mock.state.last_body["messages"][0] == {"role": "system", "content": "Be brief."}
    (row,) = gw.ledger()
    assert row["key_id"] == gw.key_id and row["requested_model"] == "mock-chat"
    assert row["completion_tokens"] == r["usage"]["output_tokens"]


def test_anthropic_sdk_turn_with_two_text_blocks(gw: Gateway, mock: MockUpstream) -> None:
    """Both blocks of one user turn reach the upstream (they were once sent as empty content)."""
    run_script("anthropic_sdk.mjs", "blocks", _anthropic_env(gw))
    sent = str(mock.state.last_body["messages"])
    assert "First block: rivers." in sent and "Second block: mountains." in sent


def test_anthropic_sdk_messages_stream(gw: Gateway) -> None:
    r = run_script("anthropic_sdk.mjs", "stream", _anthropic_env(gw))
    assert r["deltas"] >= 2 and r["text"] and r["stop_reason"] == "end_turn"
    assert {"message_start", "content_block_start", "content_block_delta", "content_block_stop",
            "message_delta", "message_stop"} <= set(r["events"])
    assert r["usage"]["output_tokens"] > 0
    (row,) = gw.ledger()
    assert row["stream"] and row["completion_tokens"] == r["usage"]["output_tokens"]


def test_anthropic_sdk_count_tokens(gw: Gateway, mock: MockUpstream) -> None:
    r = run_script("anthropic_sdk.mjs", "count_tokens", _anthropic_env(gw))
    assert isinstance(r["input_tokens"], int) and r["input_tokens"] > 0


def test_anthropic_sdk_unknown_model_raises_not_found(gw: Gateway, mock: MockUpstream) -> None:
    r = run_script("anthropic_sdk.mjs", "unknown_model", _anthropic_env(gw))
    assert r["raised"] and r["is_not_found"] and r["status"] == 404, r
    assert r["error_type"] == "not_found_error"
    assert mock.state.inference_seen == 0
