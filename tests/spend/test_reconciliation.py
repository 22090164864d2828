"""Every cent a client was told it spent is in the ledger, and nothing else is."""

import random

import httpx
import openai
import pytest
import sqlalchemy as sa
from openai import AsyncOpenAI

from gateway.mock_upstream import MockUpstream
from gateway.spend.schema import ledger
from tests.spend.gw import gateway_config, running


@pytest.fixture(scope="module")
def mock():
    with MockUpstream() as m:
        yield m


async def test_ledger_equals_what_clients_were_charged(tmp_path, mock):
    mock.reset()
    mock.config.fault = "500"
    mock.config.fault_rate = 0.25  # a seeded quarter of upstream calls fail
    rng = random.Random(7)
    received: list[float] = []
    outcomes = {"ok": 0, "stream": 0, "error": 0}
    try:
        async with running(gateway_config(tmp_path, mock.base_url)) as (app, _):
            http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw/v1")
            client = AsyncOpenAI(base_url="http://gw/v1", api_key="unused", http_client=http, max_retries=0)
            for i in range(60):
                model = rng.choice(["gpt-4o", "cheap"])
                msgs = [{"role": "user", "content": "word " * rng.randint(1, 40)}]
                try:
                    if rng.random() < 0.5:
                        raw = await client.chat.completions.with_raw_response.create(
                            model=model, messages=msgs, max_tokens=rng.randint(1, 30))
                        received.append(float(raw.headers["x-sluice-cost-usd"]))
                        outcomes["ok"] += 1
                    else:
                        stream = await client.chat.completions.create(
                            model=model, messages=msgs, stream=True, stream_options={"include_usage": True})
                        got = None
                        async for chunk in stream:
                            if chunk.usage is not None:
                                got = chunk.model_extra["sluice"]["cost_usd"]
                        assert got is not None
                        received.append(got)
                        outcomes["stream"] += 1
                except openai.APIStatusError as e:
                    assert e.status_code >= 500
                    outcomes["error"] += 1
            await http.aclose()
            svc = app.gateway.services.spend
        # the lifespan has closed: the ledger flushed on shutdown
        with svc.engine.connect() as c:
            n, total = c.execute(sa.select(sa.func.count(), sa.func.sum(ledger.c.cost_usd))).one()
            errors = c.execute(sa.select(sa.func.count()).where(ledger.c.status_code >= 500)).scalar_one()
    finally:
        mock.reset()
    assert min(outcomes.values()) > 0, outcomes  # the mix really was mixed
    assert n == 60 and errors == outcomes["error"]
    assert round(total, 2) == round(sum(received), 2)
    assert total == pytest.approx(sum(received), abs=1e-9)  # in fact exact, not just to the cent
