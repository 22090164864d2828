"""SpendHook paths the mock upstream cannot easily produce: no usage, disconnects, cache hits."""

import pytest
import sqlalchemy as sa

from gateway.spend.hook import SpendHook
from gateway.spend.schema import ledger
from gateway.spend.service import SpendService
from tests.spend.helpers import make_config, make_ctx, usage

PRICES = {"gpt-4o": {"input_per_mtok": 2.0, "output_per_mtok": 8.0, "cached_input_per_mtok": 1.0,
                     "reasoning_per_mtok": 16.0}}


@pytest.fixture
async def svc(tmp_path):
    s = SpendService(make_config(tmp_path, spend={"prices": PRICES}))
    await s.start()
    yield s
    await s.aclose()


def rows(svc):
    with svc.engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(sa.select(ledger))]


def chunk(text=None, u=None):
    c = {"id": "x", "object": "chat.completion.chunk", "choices": [] if text is None else
         [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    if u is not None:
        c["usage"] = u
    return c


async def test_cached_and_reasoning_tokens_priced_in_headers(svc):
    hook = SpendHook(svc)
    ctx = make_ctx()
    await hook.after(ctx, {"choices": [], "usage": usage(1000, 100, cached=800, reasoning=60)})
    expected = (200 * 2 + 800 * 1 + 40 * 8 + 60 * 16) / 1e6
    assert float(ctx.response_headers["x-sluice-cost-usd"]) == pytest.approx(expected)
    assert ctx.response_headers["x-sluice-cached-tokens"] == "800"
    assert ctx.response_headers["x-sluice-reasoning-tokens"] == "60"
    await hook.finished(ctx)
    await svc.writer.flush()
    (row,) = rows(svc)
    assert (row["cached_tokens"], row["reasoning_tokens"], row["usage_source"]) == (800, 60, "upstream")


async def test_missing_usage_is_counted_with_tiktoken(svc):
    hook = SpendHook(svc)
    ctx = make_ctx(body={"model": "gpt-4o", "messages": [{"role": "user", "content": "hello world"}]})
    await hook.after(ctx, {"choices": [{"index": 0, "message": {"role": "assistant", "content": "hello world"}}]})
    assert ctx.response_headers["x-sluice-prompt-tokens"] == "9"
    assert ctx.response_headers["x-sluice-completion-tokens"] == "2"
    await hook.finished(ctx)
    await svc.writer.flush()
    assert rows(svc)[0]["usage_source"] == "counted"


async def test_stream_without_usage_gets_a_closing_chunk_with_counted_cost(svc):
    hook = SpendHook(svc)
    ctx = make_ctx(stream=True)
    ctx.client_wants_usage = True
    f = hook.stream_filter(ctx)
    for t in ["hello", " world"]:
        assert f.on_chunk(chunk(t)) == [chunk(t)]
    (end,) = f.on_end()
    assert end["choices"] == [] and end["usage"]["completion_tokens"] == 2
    assert end["sluice"]["cost_usd"] == pytest.approx((end["usage"]["prompt_tokens"] * 2 + 2 * 8) / 1e6)
    assert f.on_end() == []  # once only


async def test_stream_usage_chunk_gets_the_extension(svc):
    hook = SpendHook(svc)
    ctx = make_ctx(stream=True)
    ctx.client_wants_usage = True
    f = hook.stream_filter(ctx)
    f.on_chunk(chunk("hi"))
    (out,) = f.on_chunk(chunk(u=usage(10, 1)))
    assert out["sluice"]["usage"]["prompt_tokens"] == 10 and out["sluice"]["cost_usd"] == pytest.approx(28e-6)
    assert f.on_end() == []
    # a client that did not ask for usage gets no extra chunk; the request is still priced
    ctx2 = make_ctx(stream=True)
    f2 = hook.stream_filter(ctx2)
    f2.on_chunk(chunk("hi"))
    (usage_chunk,) = f2.on_chunk(chunk(u=usage(10, 1)))
    assert "sluice" not in usage_chunk
    assert ctx2.cost_usd == pytest.approx(28e-6) and f2.on_end() == []


async def test_client_disconnect_is_billed_for_tokens_produced(svc):
    hook = SpendHook(svc)
    ctx = make_ctx(stream=True)
    f = hook.stream_filter(ctx)
    for t in ["one", " two", " three"]:
        f.on_chunk(chunk(t))
    ctx.client_disconnected, ctx.status_code, ctx.error_code = True, 499, "client_disconnected"
    await hook.finished(ctx)  # no usage chunk ever arrived
    await svc.writer.flush()
    (row,) = rows(svc)
    assert row["completion_tokens"] == 3 and row["cost_usd"] > 0 and row["client_disconnected"]
    assert row["status_code"] == 499


async def test_cache_hit_costs_nothing_and_records_the_saving(svc):
    hook = SpendHook(svc)
    ctx = make_ctx()
    ctx.cache_status = "hit"
    await hook.after(ctx, {"choices": [], "usage": usage(100, 10)})
    assert ctx.response_headers["x-sluice-cost-usd"] == "0.0000000000"
    assert ctx.cost_saved_usd == pytest.approx((100 * 2 + 10 * 8) / 1e6)


async def test_failed_request_without_tokens_costs_zero(svc):
    hook = SpendHook(svc)
    ctx = make_ctx()
    ctx.status_code, ctx.error_code = 502, "upstream_error"
    await hook.finished(ctx)
    await svc.writer.flush()
    (row,) = rows(svc)
    assert row["cost_usd"] == 0.0 and not row["unpriced"] and row["status_code"] == 502
