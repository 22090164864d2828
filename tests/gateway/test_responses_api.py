"""OpenAI's Responses API on the gateway, through the real `openai` SDK and `openai-agents` (issue #18).

The gateway serves the mock upstream's OpenAI-format group `mock-chat`: each request (with
`previous_response_id`, the stored conversation before it) is translated onto chat completions and
the answer back into Responses items and events. The SDK runs in-process over httpx's ASGI
transport; `live_gateway` where real streaming matters.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import sqlalchemy as sa

from gateway.config import Config
from gateway.mock_upstream import MockUpstream
from gateway.spend.schema import ledger
from tests.gateway_fixtures import _mock_session, gateway_client, live_gateway, mock, mock_config  # noqa: F401
from tests.gateway_fixtures import openai_client as _sdk

MASTER = "sk-master-responses-api"
SECRET = "AKIAIOSFODNN7EXAMPLE"  # an AWS access key id: the secrets scanner blocks it
WEATHER_TOOL: dict[str, Any] = {
    "type": "function", "name": "get_weather", "description": "Weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture
def secured(mock: MockUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:  # noqa: F811
    """Auth on, a spend ledger with prices, the default guardrails policy on every route."""
    monkeypatch.setenv("SLUICE_MASTER_KEY", MASTER)
    monkeypatch.setenv("SLUICE_KEY_SECRET", "hmac-secret-responses-api")
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


def _roles(messages: list[dict[str, Any]]) -> list[str]:
    return [m["role"] for m in messages]


# ---- responses.create ------------------------------------------------------------------------

async def test_create_plain_text(mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c):
        r = await _sdk(app).responses.create(model="mock-chat", input="tell me about rivers")
    assert r.object == "response" and r.status == "completed" and r.id.startswith("resp_")
    assert r.model == "mock-chat"
    assert r.output_text.startswith("mock reply")
    assert [o.type for o in r.output] == ["message"]
    assert r.usage is not None and r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert mock.last_body["messages"] == [{"role": "user", "content": "tell me about rivers"}]


async def test_create_streamed_events(mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c):
        stream = await _sdk(app).responses.create(model="mock-chat", input="tell me about lakes", stream=True)
        events = [e async for e in stream]
    types = [e.type for e in events]
    assert types[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert types[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"]
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]  # type: ignore[union-attr]
    assert len(deltas) > 1 and set(types[4:-4]) == {"response.output_text.delta"}
    assert [e.sequence_number for e in events] == list(range(len(events)))
    done = events[-1].response  # type: ignore[union-attr]
    assert done.output_text == "".join(deltas) and done.model == "mock-chat"
    assert done.usage is not None and done.usage.input_tokens > 0 and done.usage.output_tokens > 0
    assert mock.last_body["stream"] is True


async def test_stream_helper_deltas_join_to_the_final_text(mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c), _sdk(app).responses.stream(
            model="mock-chat", input="tell me about seas") as s:
        deltas = [e.delta async for e in s if e.type == "response.output_text.delta"]
        final = await s.get_final_response()
    assert len(deltas) > 1 and "".join(deltas) == final.output_text and final.output_text.startswith("mock reply")
    assert final.usage is not None and final.usage.output_tokens > 0


@pytest.mark.slow
def test_stream_over_a_real_server(mock: MockUpstream) -> None:  # noqa: F811
    """Over uvicorn, the sync SDK: the streamed response is stored by the time it completes."""
    with live_gateway(mock_config(mock)) as base:
        client = openai.OpenAI(base_url=base, api_key="sk-test", max_retries=0)
        with client.responses.stream(model="mock-chat", input="hello") as s:
            text = "".join(e.delta for e in s if e.type == "response.output_text.delta")
            final = s.get_final_response()
        assert text == final.output_text and text
        assert client.responses.retrieve(final.id).output_text == text


# ---- function tools and previous_response_id ------------------------------------------------

@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_function_call_round_trip_with_previous_response_id(mock: MockUpstream, stream: bool) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c):
        sdk = _sdk(app)
        if stream:
            async with sdk.responses.stream(model="mock-chat", input="call get_weather for Paris",
                                            tools=[WEATHER_TOOL]) as s:  # type: ignore[list-item]
                first = await s.get_final_response()
        else:
            first = await sdk.responses.create(model="mock-chat", input="call get_weather for Paris",
                                               tools=[WEATHER_TOOL])  # type: ignore[list-item]
        calls = [o for o in first.output if o.type == "function_call"]
        assert len(calls) == 1 and calls[0].name == "get_weather" and '"city"' in calls[0].arguments
        assert mock.last_body["tools"][0]["function"]["name"] == "get_weather"
        second = await sdk.responses.create(
            model="mock-chat", previous_response_id=first.id, tools=[WEATHER_TOOL],  # type: ignore[list-item]
            input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny, 21C"}])
    assert second.output_text.startswith("mock reply") and second.previous_response_id == first.id
    sent = mock.last_body["messages"]  # the stored turn, then this one
    assert sent[0] == {"role": "user", "content": "call get_weather for Paris"}
    assert sent[1]["role"] == "assistant" and sent[1]["tool_calls"][0]["id"] == calls[0].call_id
    assert sent[1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": calls[0].arguments}
    assert sent[2] == {"role": "tool", "tool_call_id": calls[0].call_id, "content": "sunny, 21C"}
    assert len(sent) == 3


async def test_a_function_call_output_of_content_parts_is_sent_as_text(mock: MockUpstream) -> None:  # noqa: F811
    """`output` may be a list of input parts (the SDK's ResponseFunctionCallOutputItemListParam): the
    upstream gets their text, not the parts' JSON."""
    async with gateway_client(mock_config(mock)) as (app, _c):
        r = await _sdk(app).responses.create(model="mock-chat", tools=[WEATHER_TOOL], input=[  # type: ignore[list-item]
            {"role": "user", "content": "call get_weather for Paris"},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": [{"type": "input_text", "text": "sunny"}]}])
    assert r.output_text.startswith("mock reply")
    assert mock.last_body["messages"][-1] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}


async def test_a_three_turn_conversation_chains(mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c):
        sdk = _sdk(app)
        r1 = await sdk.responses.create(model="mock-chat", input="first question")
        r2 = await sdk.responses.create(model="mock-chat", input="second question", previous_response_id=r1.id)
        await sdk.responses.create(model="mock-chat", input="third question", previous_response_id=r2.id)
    sent = mock.last_body["messages"]
    assert _roles(sent) == ["user", "assistant", "user", "assistant", "user"]
    assert [sent[0]["content"], sent[2]["content"], sent[4]["content"]] == [
        "first question", "second question", "third question"]
    assert sent[1]["content"] == r1.output_text and sent[3]["content"] == r2.output_text


async def test_instructions_are_a_system_message_and_not_carried_over(mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c):
        sdk = _sdk(app)
        first = await sdk.responses.create(model="mock-chat", input="hi", instructions="answer like a pirate")
        assert mock.last_body["messages"] == [{"role": "system", "content": "answer like a pirate"},
                                              {"role": "user", "content": "hi"}]
        assert first.instructions == "answer like a pirate"
        await sdk.responses.create(model="mock-chat", input="and again", previous_response_id=first.id)
        assert _roles(mock.last_body["messages"]) == ["user", "assistant", "user"]
        await sdk.responses.create(model="mock-chat", input="once more", previous_response_id=first.id,
                                   instructions="be brief")
    sent = mock.last_body["messages"]
    assert sent[0] == {"role": "system", "content": "be brief"} and _roles(sent) == ["system", "user", "assistant",
                                                                                      "user"]
    assert all(m["content"] != "answer like a pirate" for m in sent)


# ---- stored responses: retrieve, delete, ownership, store=False ------------------------------

async def test_retrieve_and_delete(mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c):
        sdk = _sdk(app)
        r = await sdk.responses.create(model="mock-chat", input="keep this")
        got = await sdk.responses.retrieve(r.id)
        assert got.id == r.id and got.output_text == r.output_text and got.model == "mock-chat"
        await sdk.responses.delete(r.id)  # the SDK returns None on success; a 4xx would raise
        with pytest.raises(openai.NotFoundError):
            await sdk.responses.retrieve(r.id)
        with pytest.raises(openai.NotFoundError):
            await sdk.responses.delete(r.id)
        with pytest.raises(openai.NotFoundError):
            await sdk.responses.create(model="mock-chat", input="more", previous_response_id=r.id)


async def test_a_stored_response_is_its_keys_alone(secured: Config) -> None:
    async with gateway_client(secured) as (app, client):
        owner = _sdk(app, api_key=await _key(client, models=["mock-chat"]))
        other = _sdk(app, api_key=await _key(client, models=["mock-chat"]))
        r = await owner.responses.create(model="mock-chat", input="mine")
        with pytest.raises(openai.NotFoundError):
            await other.responses.retrieve(r.id)
        with pytest.raises(openai.NotFoundError):
            await other.responses.delete(r.id)
        with pytest.raises(openai.NotFoundError) as e:
            await other.responses.create(model="mock-chat", input="steal", previous_response_id=r.id)
        assert e.value.code == "previous_response_not_found"
        assert (await owner.responses.retrieve(r.id)).id == r.id  # the other key's delete did nothing
        await owner.responses.delete(r.id)
        with pytest.raises(openai.NotFoundError):
            await owner.responses.retrieve(r.id)


async def test_store_false_is_not_kept(mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c):
        sdk = _sdk(app)
        r = await sdk.responses.create(model="mock-chat", input="forget this", store=False)
        assert r.output_text and r.store is False
        with pytest.raises(openai.NotFoundError):
            await sdk.responses.retrieve(r.id)
        seen = mock.requests_seen
        with pytest.raises(openai.NotFoundError) as e:
            await sdk.responses.create(model="mock-chat", input="continue", previous_response_id=r.id)
        assert e.value.code == "previous_response_not_found"
        assert mock.requests_seen == seen  # refused before any upstream call
        async with sdk.responses.stream(model="mock-chat", input="streamed, forget", store=False) as s:
            streamed = await s.get_final_response()
        with pytest.raises(openai.NotFoundError):
            await sdk.responses.retrieve(streamed.id)


# ---- errors, budgets, guardrails -------------------------------------------------------------

async def test_errors_are_openai_shaped(secured: Config) -> None:
    async with gateway_client(secured) as (app, client):
        with pytest.raises(openai.AuthenticationError):
            await _sdk(app, api_key="sk-sluice-not-a-real-key").responses.create(model="mock-chat", input="hi")
        key = await _key(client, models=["mock-chat"])
        with pytest.raises(openai.NotFoundError) as n:  # a key for every model: the model itself is unknown
            await _sdk(app, api_key=await _key(client)).responses.create(model="no-such-model", input="hi")
        assert n.value.code == "model_not_found"
        with pytest.raises(openai.PermissionDeniedError) as p:
            await _sdk(app, api_key=await _key(client, models=["other"])).responses.create(model="mock-chat",
                                                                                           input="hi")
        assert p.value.code == "model_not_allowed"
        with pytest.raises(openai.BadRequestError) as b:
            await _sdk(app, api_key=key).responses.create(model="mock-chat", input="hi",
                                                          tools=[{"type": "function"}])  # no name
        assert b.value.param == "tools.0.name"


async def test_a_spent_budget_is_refused(secured: Config, mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(secured) as (app, client):
        sdk = _sdk(app, api_key=await _key(client, models=["mock-chat"], budget_usd=0))
        with pytest.raises(openai.RateLimitError) as e:
            await sdk.responses.create(model="mock-chat", input="hi")
        assert e.value.status_code == 429 and e.value.code == "budget_exceeded"
        assert e.value.type == "insufficient_quota"
        with pytest.raises(openai.RateLimitError):
            async with sdk.responses.stream(model="mock-chat", input="hi") as s:
                await s.get_final_response()
    assert mock.requests_seen == 0


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("where", ["input", "instructions", "function_call_output",
                                   "function_call_output-after-previous"])
async def test_an_input_guardrail_blocks_a_secret(secured: Config, mock: MockUpstream,  # noqa: F811
                                                  where: str, stream: bool) -> None:
    if where == "instructions":  # system text is scanned only with guardrails.scan_system (off by default)
        secured.guardrails.scan_system = True
    async with gateway_client(secured) as (app, client):
        sdk = _sdk(app, api_key=await _key(client, models=["mock-chat"]))
        req: dict[str, Any] = {"model": "mock-chat", "input": "hi"}
        if where == "input":
            req["input"] = f"deploy with {SECRET}"
        elif where == "instructions":
            req["instructions"] = f"the deploy key is {SECRET}"
        elif where == "function_call_output":
            req.update(tools=[WEATHER_TOOL], input=[
                {"role": "user", "content": "call get_weather for Paris"},
                {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
                {"type": "function_call_output", "call_id": "call_1", "output": f"creds {SECRET}"}])
        else:
            first = await sdk.responses.create(model="mock-chat", input="call get_weather", tools=[WEATHER_TOOL])  # type: ignore[list-item]
            call = next(o for o in first.output if o.type == "function_call")
            req.update(tools=[WEATHER_TOOL], previous_response_id=first.id, input=[
                {"type": "function_call_output", "call_id": call.call_id, "output": f"creds {SECRET}"}])
        seen = mock.requests_seen
        with pytest.raises(openai.BadRequestError) as e:
            if stream:
                async with sdk.responses.stream(**req) as s:
                    await s.get_final_response()
            else:
                await sdk.responses.create(**req)
    assert e.value.code == "content_policy_violation"
    assert SECRET not in str(e.value.body)
    assert mock.requests_seen == seen  # nothing reached the upstream


async def test_instructions_are_not_scanned_by_default(secured: Config, mock: MockUpstream) -> None:  # noqa: F811
    assert secured.guardrails.scan_system is False  # the application's own text
    async with gateway_client(secured) as (app, client):
        sdk = _sdk(app, api_key=await _key(client, models=["mock-chat"]))
        r = await sdk.responses.create(model="mock-chat", input="hi", instructions=f"the deploy key is {SECRET}")
    assert r.output_text and mock.last_body["messages"][0]["role"] == "system"


# ---- ledger ----------------------------------------------------------------------------------

async def test_a_call_writes_a_ledger_row(secured: Config) -> None:
    async with gateway_client(secured) as (app, client):
        key = await _key(client, models=["mock-chat"])
        r = await _sdk(app, api_key=key).responses.create(model="mock-chat", input="hello",
                                                           extra_headers={"x-request-id": "responses-ledger-1"})
        svc = app.gateway.services.spend
        assert svc is not None
        await svc.writer.flush()
        with svc.engine.connect() as c:
            rows = [dict(x._mapping) for x in c.execute(sa.select(ledger).where(
                ledger.c.request_id == "responses-ledger-1"))]
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["route"] == "responses" and row["status_code"] == 200 and row["key_id"]
    assert row["requested_model"] == "mock-chat"
    assert r.usage is not None
    assert row["prompt_tokens"] == r.usage.input_tokens > 0 and row["completion_tokens"] == r.usage.output_tokens > 0
    assert row["cost_usd"] and row["cost_usd"] > 0


# ---- openai-agents ---------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
async def test_openai_agents_default_model_runs_a_tool_loop(mock: MockUpstream, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                                            streamed: bool) -> None:
    """openai-agents with its defaults: the default model name over the Responses API, our client."""
    import agents
    from agents.models import _openai_shared
    from agents.models.default_models import get_default_model

    monkeypatch.setattr(_openai_shared, "_default_openai_client", None)  # restored after the test
    monkeypatch.setattr(_openai_shared, "_use_responses_by_default", True)
    agents.set_tracing_disabled(True)  # no trace uploads: the tests are offline
    default = get_default_model()
    config = mock_config(mock, models=[{"name": default, "deployments": [
        {"provider": "openai", "model": "gpt-4o-mini", "api_base": mock.base_url, "timeout_s": 5}]}])
    calls: list[str] = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        calls.append(city)
        return f"sunny in {city}"

    sent_to_gateway: list[dict[str, Any]] = []

    async def record(request: httpx.Request) -> None:
        if request.url.path == "/v1/responses":
            sent_to_gateway.append(json.loads(request.content))

    async with gateway_client(config) as (app, _c):
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway",  # type: ignore[arg-type]
                                 event_hooks={"request": [record]})
        agents.set_default_openai_client(openai.AsyncOpenAI(base_url="http://gateway/v1", api_key="sk-test",
                                                            http_client=http, max_retries=0),
                                         use_for_tracing=False)
        agent = agents.Agent(name="weather", instructions="help with the weather", tools=[get_weather])
        if streamed:
            s = agents.Runner.run_streamed(agent, "call get_weather for Paris", max_turns=4)
            async for _ in s.stream_events():
                pass
            final = s.final_output
        else:
            final = (await agents.Runner.run(agent, "call get_weather for Paris", max_turns=4)).final_output
    assert len(calls) == 1
    assert isinstance(final, str) and final.startswith("mock reply")
    assert [b["model"] for b in sent_to_gateway] == [default, default]  # two Responses calls, the default model
    assert sent_to_gateway[1]["input"][-1]["type"] == "function_call_output"
    sent = mock.last_body
    assert sent["model"] == "gpt-4o-mini"  # the gateway's group, served by the mock's chat API
    assert _roles(sent["messages"]) == ["system", "user", "assistant", "tool"]
    assert sent["messages"][0]["content"] == "help with the weather"
    assert sent["messages"][-1]["content"] == f"sunny in {calls[0]}"


# ---- structured output and limits ------------------------------------------------------------

async def test_parse_with_a_pydantic_text_format(mock: MockUpstream) -> None:  # noqa: F811
    from pydantic import BaseModel

    class Weather(BaseModel):
        city: str
        celsius: int

    async with gateway_client(mock_config(mock)) as (app, _c):
        r = await _sdk(app).responses.parse(model="mock-chat", input="weather in Paris", text_format=Weather)
    assert isinstance(r.output_parsed, Weather)
    rf = mock.last_body["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["name"] == "Weather"
    assert rf["json_schema"]["schema"]["required"] == ["city", "celsius"]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_max_output_tokens_makes_it_incomplete(mock: MockUpstream, stream: bool) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c):
        sdk = _sdk(app)
        if stream:
            events = [e async for e in await sdk.responses.create(model="mock-chat", input="hi", max_output_tokens=3,
                                                                  stream=True)]
            assert events[-1].type == "response.incomplete"
            r = events[-1].response  # type: ignore[union-attr]
        else:
            r = await sdk.responses.create(model="mock-chat", input="hi", max_output_tokens=3)
    assert r.status == "incomplete" and r.incomplete_details is not None
    assert r.incomplete_details.reason == "max_output_tokens"
    assert r.usage is not None and r.usage.output_tokens == 3
    assert mock.last_body["max_tokens"] == 3


async def test_input_items_with_parts_and_roles(mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c):
        await _sdk(app).responses.create(model="mock-chat", input=[
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": [{"type": "input_text", "text": "one"}, {"type": "input_text", "text": "two"}]},
            {"role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "this?"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}]}])
    assert mock.last_body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "this?"}, {"type": "image_url", "image_url": {
            "url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}}]}]


# ---- upstream failures and client disconnects ------------------------------------------------

async def test_an_upstream_failure_mid_stream_is_an_error_event_and_not_stored(mock: MockUpstream) -> None:  # noqa: F811
    async with gateway_client(mock_config(mock)) as (app, _c):
        sdk = _sdk(app)
        mock.set_fault("disconnect-mid-stream")
        events = [e async for e in await sdk.responses.create(model="mock-chat", input="hi", stream=True)]
        mock.set_fault(None)
        types = [e.type for e in events]
        assert types[0] == "response.created" and "response.output_text.delta" in types
        assert types[-1] == "error" and "response.completed" not in types
        assert events[-1].code == "upstream_error"  # type: ignore[union-attr]
        with pytest.raises(openai.NotFoundError):  # a failed response is not kept
            await sdk.responses.retrieve(events[0].response.id)  # type: ignore[union-attr]


@pytest.mark.slow
def test_a_response_the_client_left_is_not_stored(mock: MockUpstream, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """Over uvicorn: the client closes the stream after the first delta; nothing half-made is kept."""
    monkeypatch.setattr(mock.config, "tokens_per_s", 20.0)  # restored after the test (the mock is shared)
    monkeypatch.setattr(mock.config, "reply_words", 30)  # ~1.5 s to stream in full
    with live_gateway(mock_config(mock)) as base:
        client = openai.OpenAI(base_url=base, api_key="sk-test", max_retries=0)
        with client.responses.stream(model="mock-chat", input="hi") as s:
            created = next(iter(s))
            assert created.type == "response.created"
            assert next(e for e in s if e.type == "response.output_text.delta").delta
        threading.Event().wait(2.0)  # longer than the whole answer would have taken
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve(created.response.id)
        after = client.responses.create(model="mock-chat", input="still here?")  # the gateway serves on
        assert after.output_text


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_a_cached_answer_is_still_a_new_stored_response(mock: MockUpstream, stream: bool) -> None:  # noqa: F811
    config = mock_config(mock, cache={"enabled": True, "semantic": {"enabled": False}})
    async with gateway_client(config) as (app, _c):
        sdk = _sdk(app)
        got = []
        for _ in range(2):
            if stream:
                async with sdk.responses.stream(model="mock-chat", input="cache me") as s:
                    got.append(await s.get_final_response())
            else:
                got.append(await sdk.responses.create(model="mock-chat", input="cache me"))
            await app.state.gateway.services.cache.drain()  # cache writes are off the response path
        assert mock.requests_seen == 1  # the second came from the gateway's cache
        assert got[0].id != got[1].id and got[0].output_text == got[1].output_text
        assert (await sdk.responses.retrieve(got[1].id)).output_text == got[1].output_text
        await sdk.responses.create(model="mock-chat", input="next", previous_response_id=got[1].id)
    assert _roles(mock.last_body["messages"]) == ["user", "assistant", "user"]


@pytest.mark.parametrize("with_db", [False, True], ids=["memory", "database"])
async def test_a_stored_response_expires_after_ttl(mock: MockUpstream, tmp_path: Path, with_db: bool) -> None:  # noqa: F811
    from gateway.clock import FakeClock

    clock = FakeClock()
    spend = ({"ledger": {"path": str(tmp_path / "spend.db"), "spool_dir": str(tmp_path / "spool")}} if with_db
             else {"enabled": False})  # without spend and auth there is no database: responses live in memory
    config = mock_config(mock, responses={"ttl_s": 60}, spend=spend)
    async with gateway_client(config, clock=clock) as (app, _c):
        sdk = _sdk(app)
        r = await sdk.responses.create(model="mock-chat", input="short-lived")
        assert (app.gateway.services.responses.engine is not None) is with_db
        clock.advance(59)
        assert (await sdk.responses.retrieve(r.id)).id == r.id
        clock.advance(2)
        with pytest.raises(openai.NotFoundError):
            await sdk.responses.retrieve(r.id)
        with pytest.raises(openai.NotFoundError):
            await sdk.responses.create(model="mock-chat", input="more", previous_response_id=r.id)


async def test_reasoning_effort_none_is_not_sent_to_a_chat_upstream(mock: MockUpstream) -> None:  # noqa: F811
    """openai-agents sends `reasoning: {effort: "none"}` by default; passed on as `reasoning_effort`
    it would make a model that cannot reason refuse the request. Other efforts go on."""
    async with gateway_client(mock_config(mock)) as (_app, client):
        r = await client.post("/v1/responses", json={"model": "mock-chat", "input": "hi", "reasoning": {"effort": "none"}})
        assert r.status_code == 200, r.text
        assert "reasoning_effort" not in mock.last_body
        r = await client.post("/v1/responses", json={"model": "mock-chat", "input": "hi", "reasoning": {"effort": "low"}})
        assert r.status_code == 200 and mock.last_body["reasoning_effort"] == "low"


async def test_tools_without_a_chat_counterpart_are_left_out_and_named(mock: MockUpstream) -> None:  # noqa: F811
    """Codex always sends `tool_search` (run by the client) and OpenAI's hosted `web_search`: a chat
    upstream cannot run them, so they are dropped (named in a header), not the request refused."""
    tools = [{"type": "function", "name": "get_goal", "parameters": {"type": "object", "properties": {}}},
             {"type": "tool_search", "execution": "client"}, {"type": "web_search"},
             {"type": "namespace", "name": "multi_agent_v1"}]
    async with gateway_client(mock_config(mock)) as (_app, client):
        r = await client.post("/v1/responses", json={"model": "mock-chat", "input": "hi", "tools": tools})
    assert r.status_code == 200, r.text
    assert r.headers["x-sluice-tools-dropped"] == "namespace,tool_search,web_search"
    assert [t["function"]["name"] for t in mock.last_body["tools"]] == ["get_goal"]
