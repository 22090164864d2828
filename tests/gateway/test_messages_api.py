"""Anthropic's Messages API on the gateway, through the real `anthropic` SDK (issue #18).

The gateway serves the mock upstream's OpenAI-format group `mock-chat`: every request is
translated onto chat completions and the answer back into Anthropic's shapes (whole, streamed,
errors). The SDK runs in-process over httpx's ASGI transport, except where real streaming matters
(`live_gateway`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import pytest
import sqlalchemy as sa

from gateway.app import SluiceApp
from gateway.config import Config
from gateway.mock_upstream import MockUpstream
from gateway.spend.schema import ledger
from tests.gateway_fixtures import (  # noqa: F401  (fixtures)
    _mock_session,
    gateway_client,
    live_app,
    live_gateway,
    mock,
    mock_config,
)

MASTER = "sk-master-messages-api"
SECRET = "AKIAIOSFODNN7EXAMPLE"  # an AWS access key id: the secrets scanner blocks it
WEATHER_TOOL = {"name": "get_weather", "description": "Weather for a city.",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def _sdk(app: SluiceApp, api_key: str | None = "sk-test", **kw: Any) -> anthropic.AsyncAnthropic:
    # this anthropic release runs on httpx2 (httpx's fork), which has its own ASGI transport
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://gateway")  # type: ignore[arg-type]
    return anthropic.AsyncAnthropic(base_url="http://gateway", api_key=api_key, http_client=http, max_retries=0, **kw)


@pytest.fixture
def secured(mock: MockUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:  # noqa: F811
    """Auth on, a spend ledger with prices, the default guardrails policy on every route."""
    monkeypatch.setenv("SLUICE_MASTER_KEY", MASTER)
    monkeypatch.setenv("SLUICE_KEY_SECRET", "hmac-secret-messages-api")
    return mock_config(
        mock,
        auth={"enabled": True},
        spend={"ledger": {"path": str(tmp_path / "spend.db"), "spool_dir": str(tmp_path / "spool")},
               "prices": {"gpt-4o-mini": {"input_per_mtok": 0.15, "output_per_mtok": 0.6}}},
        guardrails={"default_policy": "default"},
    )


async def _key(client: httpx.AsyncClient, **body: Any) -> str:
    r = await client.post("/sluice/v1/keys", json=body, headers={"authorization": f"Bearer {MASTER}"})
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


# ---- messages.create -------------------------------------------------------------------------

async def test_create_returns_a_text_message(mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c):
        msg = await _sdk(app).messages.create(model="mock-chat", max_tokens=64,
                                              messages=[{"role": "user", "content": "tell me about rivers"}])
    assert isinstance(msg, anthropic.types.Message)
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.model == "mock-chat"  # the public name, not the upstream's gpt-4o-mini
    assert msg.stop_reason == "end_turn"
    assert len(msg.content) == 1 and msg.content[0].type == "text" and msg.content[0].text.startswith("mock reply")
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    assert msg.id.startswith("msg_")
    sent = mock.last_body  # the upstream got a chat-completions body
    assert sent["messages"][-1] == {"role": "user", "content": "tell me about rivers"} and sent["max_tokens"] == 64


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_a_cut_answer_stops_for_max_tokens(mock: MockUpstream, stream: bool) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c):
        req: dict[str, Any] = {"model": "mock-chat", "max_tokens": 3, "messages": [{"role": "user", "content": "hi"}]}
        if stream:
            async with _sdk(app).messages.stream(**req) as s:
                msg = await s.get_final_message()
        else:
            msg = await _sdk(app).messages.create(**req)
    assert msg.stop_reason == "max_tokens" and msg.usage.output_tokens == 3


async def test_system_prompt_becomes_a_system_message(mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c):
        await _sdk(app).messages.create(model="mock-chat", max_tokens=32, system=[{"type": "text", "text": "be brief"}],
                                        messages=[{"role": "user", "content": "hi"}])
    assert mock.last_body["messages"][0] == {"role": "system", "content": "be brief"}


async def test_content_blocks_reach_the_upstream_whole(mock: MockUpstream) -> None:  # noqa: F811
    """A turn of several blocks is sent as chat content parts, every one of them (they were sent
    empty once: the translation reused, then cleared, the list of parts)."""
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    async with gateway_client(mock_config(mock)) as (app, _c):
        await _sdk(app).messages.create(model="mock-chat", max_tokens=32, messages=[
            {"role": "user", "content": [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
            {"role": "user", "content": [{"type": "text", "text": "what is this?"}, image]}])  # type: ignore[list-item]
    sent = mock.last_body["messages"]
    assert sent[0] == {"role": "user", "content": [{"type": "text", "text": "first"},
                                                   {"type": "text", "text": "second"}]}
    assert sent[1] == {"role": "assistant", "content": [{"type": "text", "text": "one"},
                                                        {"type": "text", "text": "two"}]}
    assert sent[2] == {"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}


# ---- messages.stream -------------------------------------------------------------------------

async def test_stream_text_joins_to_the_final_message(mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c), _sdk(app).messages.stream(
            model="mock-chat", max_tokens=64, messages=[{"role": "user", "content": "tell me about lakes"}]) as s:
        pieces = [t async for t in s.text_stream]
        final = await s.get_final_message()
    assert len(pieces) > 1  # streamed in pieces, not one blob
    assert "".join(pieces) == final.content[0].text and final.content[0].text.startswith("mock reply")
    assert final.model == "mock-chat" and final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0 and final.usage.input_tokens > 0
    assert mock.last_body["stream"] is True


async def test_stream_event_types_are_anthropics(mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c):
        stream = await _sdk(app).messages.create(model="mock-chat", max_tokens=64, stream=True,
                                                 messages=[{"role": "user", "content": "hello"}])
        events = [e async for e in stream]
    types = [e.type for e in events]
    assert types[0] == "message_start" and types[1] == "content_block_start"
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(types[2:-3]) == {"content_block_delta"}
    assert events[0].message.model == "mock-chat"  # type: ignore[union-attr]
    delta = events[-2]
    assert delta.delta.stop_reason == "end_turn" and delta.usage.output_tokens > 0  # type: ignore[union-attr]


@pytest.mark.slow
def test_stream_over_a_real_server_with_ping(mock: MockUpstream) -> None:  # noqa: F811
    """Over uvicorn: the raw SSE names each event (ping included), and the sync SDK reads it."""
    with live_gateway(mock_config(mock)) as base:
        root = base.removesuffix("/v1")
        body = {"model": "mock-chat", "max_tokens": 32, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        with httpx.stream("POST", f"{root}/v1/messages", json=body, timeout=10) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            names = [line.removeprefix("event: ") for line in r.iter_lines() if line.startswith("event: ")]
        assert names[:3] == ["message_start", "ping", "content_block_start"], names
        assert names[-2:] == ["message_delta", "message_stop"]
        client = anthropic.Anthropic(base_url=root, api_key="sk-test", max_retries=0)
        with client.messages.stream(model="mock-chat", max_tokens=32,
                                    messages=[{"role": "user", "content": "hi"}]) as s:
            text = "".join(s.text_stream)
            assert text == s.get_final_message().content[0].text and text


# ---- tools -----------------------------------------------------------------------------------

async def test_tool_use_then_tool_result_ends_in_text(mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c):
        sdk = _sdk(app)
        question = {"role": "user", "content": "call get_weather for Paris"}
        first = await sdk.messages.create(model="mock-chat", max_tokens=64, tools=[WEATHER_TOOL],  # type: ignore[list-item]
                                          messages=[question])  # type: ignore[list-item]
        assert first.stop_reason == "tool_use"
        uses = [b for b in first.content if b.type == "tool_use"]
        assert len(uses) == 1 and uses[0].name == "get_weather" and isinstance(uses[0].input, dict)
        assert "city" in uses[0].input
        assert mock.last_body["tools"][0]["function"]["name"] == "get_weather"
        second = await sdk.messages.create(
            model="mock-chat", max_tokens=64, tools=[WEATHER_TOOL],  # type: ignore[list-item]
            messages=[question, {"role": "assistant", "content": first.content},  # type: ignore[list-item]
                      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id,
                                                    "content": "sunny, 21C"}]}])
    assert second.stop_reason == "end_turn"
    assert [b.type for b in second.content] == ["text"]
    sent = mock.last_body["messages"]  # the round trip reached the upstream as chat tool messages
    assert sent[-2]["role"] == "assistant" and sent[-2]["tool_calls"][0]["id"] == uses[0].id
    assert sent[-1] == {"role": "tool", "tool_call_id": uses[0].id, "content": "sunny, 21C"}


async def test_streamed_tool_use(mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c), _sdk(app).messages.stream(
            model="mock-chat", max_tokens=64, tools=[WEATHER_TOOL],  # type: ignore[list-item]
            messages=[{"role": "user", "content": "call get_weather"}]) as s:
        final = await s.get_final_message()
    uses = [b for b in final.content if b.type == "tool_use"]
    assert final.stop_reason == "tool_use" and len(uses) == 1 and uses[0].name == "get_weather"
    assert isinstance(uses[0].input, dict) and "city" in uses[0].input


# ---- count_tokens ----------------------------------------------------------------------------

async def test_count_tokens_grows_with_the_input(mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c):
        sdk = _sdk(app)
        short = await sdk.messages.count_tokens(model="mock-chat", messages=[{"role": "user", "content": "hi"}])
        long = await sdk.messages.count_tokens(model="mock-chat",
                                               messages=[{"role": "user", "content": "hi " + "rivers and lakes " * 40}])
        tools = await sdk.messages.count_tokens(model="mock-chat", tools=[WEATHER_TOOL],  # type: ignore[list-item]
                                                messages=[{"role": "user", "content": "hi"}])
    assert 0 < short.input_tokens < long.input_tokens
    assert tools.input_tokens > short.input_tokens
    assert mock.requests_seen == 0  # counted by the gateway, no upstream call


# ---- errors ----------------------------------------------------------------------------------

async def test_unknown_model_is_not_found(mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c):
        with pytest.raises(anthropic.NotFoundError) as e:
            await _sdk(app).messages.create(model="no-such-model", max_tokens=16,
                                            messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 404
    assert e.value.body["type"] == "error" and e.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


async def test_missing_max_tokens_is_a_bad_request(mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c):
        with pytest.raises(anthropic.BadRequestError) as e:
            # the SDK requires max_tokens; a client that leaves it out (extra_body cannot unset it) is sent raw
            await _sdk(app).post("/v1/messages", cast_to=httpx2.Response,
                                 body={"model": "mock-chat", "messages": [{"role": "user", "content": "hi"}]})
    err = e.value.body["error"]  # type: ignore[index]
    assert err["type"] == "invalid_request_error" and err["param"] == "max_tokens"
    assert mock.requests_seen == 0


async def test_auth_errors(secured: Config) -> None:
    async with gateway_client(secured) as (app, client):
        with pytest.raises(anthropic.AuthenticationError):  # no key at all
            await _sdk(app, api_key=None, default_headers={"Authorization": anthropic.Omit()}).messages.create(  # type: ignore[dict-item]
                model="mock-chat", max_tokens=16, messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(anthropic.AuthenticationError) as e:
            await _sdk(app, api_key="sk-sluice-not-a-real-key").messages.create(
                model="mock-chat", max_tokens=16, messages=[{"role": "user", "content": "hi"}])
        assert e.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
        limited = await _key(client, models=["some-other-model"])
        with pytest.raises(anthropic.PermissionDeniedError) as p:
            await _sdk(app, api_key=limited).messages.create(
                model="mock-chat", max_tokens=16, messages=[{"role": "user", "content": "hi"}])
        assert p.value.body["error"]["type"] == "permission_error"  # type: ignore[index]
        assert p.value.body["error"]["code"] == "model_not_allowed"  # type: ignore[index]
        with pytest.raises(anthropic.PermissionDeniedError):  # count_tokens checks the allow-list too
            await _sdk(app, api_key=limited).messages.count_tokens(
                model="mock-chat", messages=[{"role": "user", "content": "hi"}])


async def test_a_spent_budget_is_refused(secured: Config) -> None:
    async with gateway_client(secured) as (app, client):
        broke = await _key(client, models=["mock-chat"], budget_usd=0)
        with pytest.raises(anthropic.RateLimitError) as e:  # 429, as on every route
            await _sdk(app, api_key=broke).messages.create(model="mock-chat", max_tokens=16,
                                                           messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 429
    err = e.value.body["error"]  # type: ignore[index]
    assert err["type"] == "billing_error" and err["code"] == "budget_exceeded"


async def test_x_api_key_and_bearer_are_both_accepted(secured: Config, mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(secured) as (app, client):
        key = await _key(client, models=["mock-chat"])
        by_header = await _sdk(app, api_key=key).messages.create(
            model="mock-chat", max_tokens=16, messages=[{"role": "user", "content": "hi"}])
        by_bearer = await _sdk(app, api_key=None, auth_token=key).messages.create(
            model="mock-chat", max_tokens=16, messages=[{"role": "user", "content": "hi"}])
    assert by_header.content[0].text and by_bearer.content[0].text
    assert all(key not in v for v in mock.last_headers.values())  # the virtual key never travels upstream


async def test_unknown_beta_header_is_accepted(mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c):
        sdk = _sdk(app)
        msg = await sdk.beta.messages.create(model="mock-chat", max_tokens=16, betas=["no-such-beta-2099-01-01"],
                                             messages=[{"role": "user", "content": "hi"}])
        plain = await sdk.messages.create(model="mock-chat", max_tokens=16,
                                          extra_headers={"anthropic-beta": "made-up-1,made-up-2",
                                                         "anthropic-version": "2099-12-31"},
                                          messages=[{"role": "user", "content": "hi"}])
    assert msg.content[0].type == "text" and plain.content[0].type == "text"


# ---- guardrails ------------------------------------------------------------------------------

# System text is scanned only with `guardrails.scan_system` (off by default: the application's own
# text, guardrails/config.py); the system cases run with it on, and once more with it off below.
BLOCKED = {
    "user-message": {"messages": [{"role": "user", "content": f"deploy with {SECRET}"}]},
    "user-blocks": {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"},
                                                              {"type": "text", "text": f"key {SECRET}"}]}]},
    "system": {"system": f"the deploy key is {SECRET}", "messages": [{"role": "user", "content": "hi"}]},
    "system-blocks": {"system": [{"type": "text", "text": f"key {SECRET}"}],
                      "messages": [{"role": "user", "content": "hi"}]},
    "tool-result": {"tools": [WEATHER_TOOL], "messages": [
        {"role": "user", "content": "call get_weather for Paris"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                           "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                      "content": [{"type": "text", "text": f"creds {SECRET}"}]}]}]},
    "tool-result-string": {"tools": [WEATHER_TOOL], "messages": [
        {"role": "user", "content": "call get_weather for Paris"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                           "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": f"creds {SECRET}"},
                                     {"type": "text", "text": "what now?"}]}]},
}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("case", list(BLOCKED))
async def test_an_input_guardrail_blocks_a_secret(secured: Config, mock: MockUpstream,  # noqa: F811
                                                  case: str, stream: bool) -> None:
    if case.startswith("system"):
        secured.guardrails.scan_system = True
    async with gateway_client(secured) as (app, client):
        sdk = _sdk(app, api_key=await _key(client, models=["mock-chat"]))
        with pytest.raises(anthropic.BadRequestError) as e:
            if stream:
                async with sdk.messages.stream(model="mock-chat", max_tokens=32, **BLOCKED[case]) as s:
                    await s.get_final_message()
            else:
                await sdk.messages.create(model="mock-chat", max_tokens=32, **BLOCKED[case])
    err = e.value.body["error"]  # type: ignore[index]
    assert err["code"] == "content_policy_violation" and err["type"] == "invalid_request_error", err
    assert SECRET not in str(e.value.body)
    assert mock.requests_seen == 0  # nothing reached the upstream


async def test_system_text_is_not_scanned_by_default(secured: Config, mock: MockUpstream) -> None:  # noqa: F811
    assert secured.guardrails.scan_system is False
    async with gateway_client(secured) as (app, client):
        sdk = _sdk(app, api_key=await _key(client, models=["mock-chat"]))
        msg = await sdk.messages.create(model="mock-chat", max_tokens=16, **BLOCKED["system"])
    assert msg.content[0].type == "text" and mock.last_body["messages"][0]["role"] == "system"


# ---- ledger ----------------------------------------------------------------------------------

async def test_a_call_writes_a_ledger_row(secured: Config, mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(secured) as (app, client):
        key = await _key(client, models=["mock-chat"])
        msg = await _sdk(app, api_key=key).messages.create(
            model="mock-chat", max_tokens=32, messages=[{"role": "user", "content": "hello"}],
            metadata={"user_id": "user-42"}, extra_headers={"x-request-id": "messages-ledger-1"})
        svc = app.gateway.services.spend
        assert svc is not None
        await svc.writer.flush()
        with svc.engine.connect() as c:
            rows = [dict(x._mapping) for x in c.execute(sa.select(ledger).where(
                ledger.c.request_id == "messages-ledger-1"))]
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["route"] == "messages" and row["status_code"] == 200 and row["key_id"]
    assert row["requested_model"] == "mock-chat"
    assert row["cost_usd"] and row["cost_usd"] > 0
    assert row["prompt_tokens"] == msg.usage.input_tokens and row["completion_tokens"] == msg.usage.output_tokens
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0
    assert mock.last_body["user"] == "user-42"  # metadata.user_id is chat's `user` upstream


# ---- upstream failures and client disconnects ------------------------------------------------

async def test_an_upstream_failure_mid_stream_is_an_error_event(mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c):
        mock.set_fault("disconnect-mid-stream")
        got: list[str] = []
        with pytest.raises(anthropic.APIStatusError) as e:
            async with _sdk(app).messages.stream(model="mock-chat", max_tokens=64,
                                                 messages=[{"role": "user", "content": "hi"}]) as s:
                async for text in s.text_stream:
                    got.append(text)
    assert got  # text arrived before the upstream went away
    assert e.value.body["type"] == "error" and e.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    assert e.value.body["error"]["code"] == "upstream_error"  # type: ignore[index]


async def test_an_upstream_error_is_anthropic_shaped(mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c):
        mock.set_fault("500")
        with pytest.raises(anthropic.APIStatusError) as e:
            await _sdk(app).messages.create(model="mock-chat", max_tokens=16, messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code >= 500 and e.value.body["type"] == "error"  # type: ignore[index]
    assert e.value.body["error"]["type"] in ("api_error", "overloaded_error")  # type: ignore[index]


@pytest.mark.slow
def test_a_client_that_leaves_mid_stream_is_recorded(secured: Config, mock: MockUpstream,  # noqa: F811
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Over uvicorn: the SDK closes the stream after the first text; the ledger row says so."""
    monkeypatch.setattr(mock.config, "tokens_per_s", 20.0)  # restored after the test (the mock is shared)
    monkeypatch.setattr(mock.config, "reply_words", 60)
    with live_app(secured) as (app, base):
        root = base.removesuffix("/v1")
        key = httpx.post(f"{root}/sluice/v1/keys", json={"models": ["mock-chat"]},
                         headers={"authorization": f"Bearer {MASTER}"}).json()["key"]
        client = anthropic.Anthropic(base_url=root, api_key=key, max_retries=0)
        with client.messages.stream(model="mock-chat", max_tokens=200, messages=[{"role": "user", "content": "hi"}],
                                    extra_headers={"x-request-id": "messages-leave-1"}) as s:
            first = next(iter(s.text_stream))
        assert first
        rows: list[dict[str, Any]] = []
        for _ in range(100):  # the gateway notices, cancels the upstream call, and writes the row
            svc = app.gateway.services.spend
            assert svc is not None
            with svc.engine.connect() as c:
                rows = [dict(x._mapping) for x in c.execute(sa.select(ledger).where(
                    ledger.c.request_id == "messages-leave-1"))]
            if rows:
                break
            threading.Event().wait(0.1)
    assert len(rows) == 1 and rows[0]["client_disconnected"] is True and rows[0]["route"] == "messages", rows


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_a_repeat_is_served_from_the_cache(mock: MockUpstream, stream: bool) -> None:  # noqa: F811
    config = mock_config(mock, cache={"enabled": True, "semantic": {"enabled": False}})
    req: dict[str, Any] = {"model": "mock-chat", "max_tokens": 32, "messages": [{"role": "user", "content": "cache me"}]}
    async with gateway_client(config) as (app, _c):
        sdk = _sdk(app)
        got = []
        for _ in range(2):
            if stream:
                async with sdk.messages.stream(**req) as s:
                    got.append(await s.get_final_message())
            else:
                got.append(await sdk.messages.create(**req))
            await app.state.gateway.services.cache.drain()  # cache writes are off the response path
    assert mock.requests_seen == 1  # the second came from the gateway's cache
    assert got[0].content[0].text == got[1].content[0].text and got[1].model == "mock-chat"  # type: ignore[union-attr]
    assert got[1].usage.output_tokens == got[0].usage.output_tokens > 0
