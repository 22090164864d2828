import pytest
import sqlalchemy as sa

from gateway.mock_upstream import MockUpstream
from gateway.spend.schema import ledger
from tests.spend.gw import gateway_config, running


@pytest.fixture(scope="module")
def mock():
    with MockUpstream() as m:
        yield m


@pytest.fixture
def m(mock):
    mock.reset()
    yield mock
    mock.reset()
    mock.config.tokens_per_s = None
    mock.config.reply_words = 16


def ledger_rows(app):
    svc = app.gateway.services.spend
    with svc.engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(sa.select(ledger).order_by(ledger.c.id))]


async def flush(app):
    await app.gateway.services.spend.writer.flush()


CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Tell me about rivers"}]}


async def test_non_streamed_response_carries_cost_headers_and_lands_in_the_ledger(tmp_path, m):
    async with running(gateway_config(tmp_path, m.base_url)) as (app, client):
        r = await client.post("/v1/chat/completions", json=CHAT, headers={"x-sluice-tags": "exp1, nightly"})
        assert r.status_code == 200, r.text
        u = r.json()["usage"]
        cost = float(r.headers["x-sluice-cost-usd"])
        assert cost == pytest.approx((u["prompt_tokens"] * 3.0 + u["completion_tokens"] * 15.0) / 1e6)
        assert int(r.headers["x-sluice-prompt-tokens"]) == u["prompt_tokens"]
        assert int(r.headers["x-sluice-completion-tokens"]) == u["completion_tokens"]
        await flush(app)
        (row,) = ledger_rows(app)
    assert row["cost_usd"] == cost and row["prompt_tokens"] == u["prompt_tokens"]
    assert row["served_model"] == "mock-gpt" and row["requested_model"] == "gpt-4o"
    assert row["tags"] == "exp1,nightly" and row["status_code"] == 200 and not row["unpriced"]
    assert row["price_version"].startswith("litellm-")


async def test_stream_carries_cost_in_the_final_usage_chunk(tmp_path, m):
    import orjson

    async with running(gateway_config(tmp_path, m.base_url)) as (app, client):
        body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
        async with client.stream("POST", "/v1/chat/completions", json=body) as r:
            text = (await r.aread()).decode()
        chunks = [orjson.loads(line[6:]) for line in text.split("\n") if line.startswith("data: {")]
        last = chunks[-1]
        assert last["usage"]["completion_tokens"] > 0
        ext = last["sluice"]
        assert ext["usage"]["prompt_tokens"] == last["usage"]["prompt_tokens"]
        assert ext["cost_usd"] == pytest.approx((last["usage"]["prompt_tokens"] * 3 + last["usage"]["completion_tokens"] * 15) / 1e6)
        await flush(app)
        (row,) = ledger_rows(app)
    assert row["stream"] and row["cost_usd"] == ext["cost_usd"]


async def test_unpriced_model_is_recorded_as_unpriced(tmp_path, m):
    async with running(gateway_config(tmp_path, m.base_url)) as (app, client):
        r = await client.post("/v1/chat/completions", json={**CHAT, "model": "mystery"})
        assert r.status_code == 200
        assert r.headers["x-sluice-cost-usd"] == "unpriced"
        await flush(app)
        (row,) = ledger_rows(app)
        assert app.gateway.services.spend.prices.unpriced["mock-claude"] == 1
    assert row["cost_usd"] is None and row["unpriced"]


async def test_config_price_override_applies(tmp_path, m):
    async with running(gateway_config(tmp_path, m.base_url)) as (_app, client):
        r = await client.post("/v1/chat/completions", json={**CHAT, "model": "cheap"})
        u = r.json()["usage"]
        assert float(r.headers["x-sluice-cost-usd"]) == pytest.approx(
            (u["prompt_tokens"] * 0.5 + u["completion_tokens"] * 1.5) / 1e6)


def test_client_disconnect_mid_stream_is_billed_for_tokens_produced(tmp_path, m):
    """A real socket: the client reads a few chunks and hangs up; the ledger bills what was produced."""
    import time

    import httpx

    from gateway.spend.db import make_engine
    from tests.gateway_fixtures import live_gateway

    m.config.tokens_per_s = 50  # slow enough that the client leaves mid-stream
    m.config.reply_words = 60
    config = gateway_config(tmp_path, m.base_url)
    with live_gateway(config) as base:
        with httpx.Client(timeout=10) as c, c.stream("POST", f"{base}/chat/completions",
                                                     json={**CHAT, "stream": True}) as r:
            seen = 0
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    seen += 1
                    if seen >= 5:
                        break  # leaving the with-block closes the connection mid-stream
        time.sleep(1.5)  # the gateway notices, cancels the upstream call, runs finished()
    engine = make_engine(f"sqlite:///{tmp_path / 'spend.db'}")
    with engine.connect() as c:
        (row,) = [dict(x._mapping) for x in c.execute(sa.select(ledger))]
    assert row["client_disconnected"] and row["status_code"] == 499
    assert 0 < row["completion_tokens"] < 60 and row["cost_usd"] > 0


async def test_stream_without_include_usage_is_still_billed_but_gets_no_extra_chunk(tmp_path, m):
    import orjson

    async with running(gateway_config(tmp_path, m.base_url)) as (app, client):
        async with client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as r:
            text = (await r.aread()).decode()
        chunks = [orjson.loads(line[6:]) for line in text.split("\n") if line.startswith("data: {")]
        # the client did not ask for usage: no usage chunk, and no chunk with empty `choices`
        # (clients that index choices[0] must not break); the cost is in the ledger
        assert all(c["choices"] and "sluice" not in c and c.get("usage") is None for c in chunks)
        await flush(app)
        (row,) = ledger_rows(app)
    assert row["cost_usd"] > 0 and row["completion_tokens"] > 0