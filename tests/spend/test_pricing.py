import logging

import pytest

from gateway.spend.pricing import Price, PriceTable, Usage, cost_usd, litellm_price_file
from gateway.spend.tokens import bundled_tokenizer_dir, count_messages, count_text
from tests.spend.helpers import usage


def test_litellm_table_is_read_as_data_with_provider_and_bare_names():
    assert litellm_price_file() is not None
    t = PriceTable()
    p = t.lookup("gpt-4o")
    assert p is not None and p.source == "litellm"
    assert p.input_per_mtok == pytest.approx(2.5) and p.output_per_mtok == pytest.approx(10.0)
    assert p.cached_input_per_mtok == pytest.approx(1.25)
    assert t.lookup("openai/gpt-4o") == p  # provider/model
    assert t.lookup("gpt-4o", provider="openai") == p
    assert t.version.startswith("litellm-1.106.2+cfg-")


def test_config_override_wins_and_changes_the_version():
    base = PriceTable()
    t = PriceTable({"gpt-4o": {"input_per_mtok": 1.0, "output_per_mtok": 2.0},
                    "claude-3-5-sonnet-20241022": {"input_per_mtok": 3, "output_per_mtok": 15}})
    assert t.lookup("gpt-4o").input_per_mtok == 1.0
    assert t.lookup("anthropic/claude-3-5-sonnet-20241022").output_per_mtok == 15
    assert t.version != base.version


def test_deployment_price_beats_everything():
    t = PriceTable({"gpt-4o": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}})
    p = t.lookup("gpt-4o", "openai", {"input_per_mtok": 7.0, "output_per_mtok": 8.0,
                                      "cached_input_per_mtok": None, "reasoning_per_mtok": None})
    assert p.input_per_mtok == 7.0 and p.source == "deployment"


def test_unknown_model_is_unpriced_not_zero(caplog):
    t = PriceTable()
    assert t.lookup("no-such-model-xyz") is None
    with caplog.at_level(logging.WARNING, logger="sluice.spend.pricing"):
        t.note_unpriced("no-such-model-xyz")
        t.note_unpriced("no-such-model-xyz")
    assert t.unpriced["no-such-model-xyz"] == 2
    assert sum("no-such-model-xyz" in r.message for r in caplog.records) == 1  # warned once


def test_cached_and_reasoning_tokens_use_their_own_rates():
    price = Price(input_per_mtok=2.0, output_per_mtok=10.0, cached_input_per_mtok=0.5, reasoning_per_mtok=20.0)
    u = Usage.from_openai(usage(1000, 500, cached=400, reasoning=200))
    expected = (600 * 2.0 + 400 * 0.5 + 300 * 10.0 + 200 * 20.0) / 1e6
    assert cost_usd(u, price) == pytest.approx(expected, abs=1e-12)
    # without special rates they fall back to the plain input/output rates
    plain = Price(input_per_mtok=2.0, output_per_mtok=10.0)
    assert cost_usd(u, plain) == pytest.approx((1000 * 2.0 + 500 * 10.0) / 1e6, abs=1e-12)


def test_usage_parsing_tolerates_missing_details():
    assert Usage.from_openai({"prompt_tokens": 3, "completion_tokens": 4}) == Usage(3, 4, 0, 0)
    assert Usage.from_openai(None) == Usage()


def test_tiktoken_works_offline_from_bundled_files():
    assert bundled_tokenizer_dir() is not None
    assert count_text("hello world", "gpt-3.5-turbo") == 2
    assert count_text("hello world", "gpt-4o") == 2
    n = count_messages([{"role": "user", "content": "hello world"}], "gpt-4o")
    assert n == 3 + 3 + 1 + 2  # reply primer + message framing + role + content
    assert count_messages([{"role": "user", "content": [{"type": "text", "text": "hello world"}]}]) == n
