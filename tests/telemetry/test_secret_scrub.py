"""The scrubber removes credentials and PII and leaves ordinary operational text alone."""

import pytest

from gateway.telemetry.scrub import REDACTED, scrub_text, scrub_value

SECRETS = [
    ("Authorization: Bearer abcDEF123456789xyz", "abcDEF123456789xyz"),
    ('{"authorization": "Bearer tok_9f8e7d6c5b4a"}', "tok_9f8e7d6c5b4a"),
    ("x-api-key=secretvalue12345", "secretvalue12345"),
    ("calling with bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "eyJhbGciOiJIUzI1NiJ9"),
    ("my key is sk-proj-AbC123xyz987QQQ please", "sk-proj-AbC123xyz987QQQ"),
    ("anthropic sk-ant-api03-ZZZZ1111yyyy", "sk-ant-api03-ZZZZ1111yyyy"),
    ("virtual key sk-sluice-0123456789abcdef", "sk-sluice-0123456789abcdef"),
    ("aws AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE"),
    ("gh token ghp_aaaaBBBBccccDDDDeeeeFFFFgggg1234", "ghp_aaaaBBBBccccDDDDeeeeFFFFgggg1234"),
    ("password=hunter2hunter2", "hunter2hunter2"),
    ('{"client_secret": "s3cr3t-value"}', "s3cr3t-value"),
    ("dsn postgresql://sluice:p4ssw0rd@db:5432/sluice", "p4ssw0rd"),
    ("mail alice.smith@example.com now", "alice.smith@example.com"),
    ("card 4111 1111 1111 1111 ok", "4111 1111 1111 1111"),
    ("ssn 123-45-6789", "123-45-6789"),
    ("call +1 415-555-0132", "415-555-0132"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "MIIEow"),
]


@pytest.mark.parametrize("text,secret", SECRETS)
def test_secret_is_removed(text: str, secret: str) -> None:
    out = scrub_text(text)
    assert secret not in out
    assert "[" in out  # a placeholder took its place


@pytest.mark.parametrize("text", [
    "max_tokens=256 input_tokens=12 tokens: 40",
    "request 0f3c9a2e took 12.5 ms, status 200, ts 1760000000.123",
    "deployment gpt-4o/openai/gpt-4o#0 cooled down for 30s on 2026-11-24",
    "GET /v1/chat/completions HTTP/1.1",
    "number 4111111111111112 fails Luhn",  # not a card number
])
def test_ordinary_text_is_untouched(text: str) -> None:
    assert scrub_text(text) == text


def test_header_name_is_kept_for_debugging() -> None:
    assert scrub_text("Authorization: Bearer abcdefghijkl") == f"Authorization: {REDACTED}"


def test_scrub_value_drops_secret_keys_and_walks_containers() -> None:
    value = {
        "headers": {"authorization": "Basic Zm9vOmJhcg==", "content-type": "application/json"},
        "messages": [{"role": "user", "content": "hi, I am bob@example.org"}],
        "n": 3,
        "pair": ("sk-abcdefghijkl", 1),
    }
    out = scrub_value(value)
    assert out["headers"]["authorization"] == REDACTED
    assert out["headers"]["content-type"] == "application/json"
    assert "bob@example.org" not in out["messages"][0]["content"]
    assert out["n"] == 3
    assert out["pair"] == (REDACTED, 1)
