import logging

import pytest

from gateway.spend.pricing import Price, PriceTable, Usage, cost_usd, litellm_price_file, unpriced_classes
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


def test_every_token_class_litellm_prices_has_its_own_rate():
    """Reproduced: Anthropic cache-write tokens were priced at the input rate."""
    t = PriceTable()
    p = t.lookup("claude-sonnet-4-5")
    assert p.cache_write_per_mtok == pytest.approx(3.75) and p.cached_input_per_mtok == pytest.approx(0.3)
    assert p.max_output_tokens == 64000 and p.max_input_tokens == 200000
    # litellm's Anthropic usage: cache reads in the details, cache writes at the top level
    u = Usage.from_openai({"prompt_tokens": 1000, "completion_tokens": 100, "cache_creation_input_tokens": 600,
                           "prompt_tokens_details": {"cached_tokens": 300}})
    assert (u.cache_write, u.cached) == (600, 300)
    expected = (100 * 3.0 + 300 * 0.3 + 600 * 3.75 + 100 * 15.0) / 1e6
    assert cost_usd(u, p) == pytest.approx(expected, abs=1e-12)
    assert unpriced_classes(u, p) == ()
    audio = t.lookup("gpt-4o-audio-preview-2024-12-17")
    ua = Usage.from_openai({"prompt_tokens": 500, "completion_tokens": 200,
                            "prompt_tokens_details": {"audio_tokens": 400},
                            "completion_tokens_details": {"audio_tokens": 150}})
    assert cost_usd(ua, audio) == pytest.approx((100 * 2.5 + 400 * 40 + 50 * 10 + 150 * 80) / 1e6, abs=1e-12)


def test_an_override_inherits_the_rates_it_does_not_set_or_is_partially_priced():
    """Reproduced: an override without cached_input_per_mtok charged cached tokens at the full
    input rate, silently."""
    t = PriceTable({"claude-sonnet-4-5": {"input_per_mtok": 2.0, "output_per_mtok": 10.0},
                    "house-model": {"input_per_mtok": 2.0, "output_per_mtok": 10.0}})
    known = t.lookup("claude-sonnet-4-5")
    assert known.source == "config" and known.input_per_mtok == 2.0
    assert known.cached_input_per_mtok == pytest.approx(0.3) and known.cache_write_per_mtok == pytest.approx(3.75)
    u = Usage.from_openai(usage(1000, 10, cached=800))
    assert cost_usd(u, known) == pytest.approx((200 * 2.0 + 800 * 0.3 + 10 * 10.0) / 1e6, abs=1e-12)
    assert unpriced_classes(u, known) == ()
    # a model the table does not know: cached tokens at the input rate, and the row says so
    house = t.lookup("house-model")
    assert house.cached_input_per_mtok is None
    assert cost_usd(u, house) == pytest.approx((1000 * 2.0 + 10 * 10.0) / 1e6, abs=1e-12)
    assert unpriced_classes(u, house) == ("cached",)
    assert unpriced_classes(Usage.from_openai(usage(1000, 10)), house) == ()  # nothing it lacks was used
    # a deployment's own price inherits from the table row of its model too
    dep = t.lookup("claude-sonnet-4-5", "anthropic", {"input_per_mtok": 1.0, "output_per_mtok": 5.0})
    assert dep.source == "deployment" and dep.cache_write_per_mtok == pytest.approx(3.75)
