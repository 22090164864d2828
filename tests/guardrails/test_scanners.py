"""Each scanner on its own: what it finds, where, and what it must not find."""

from __future__ import annotations

import pytest

from guardrails.scanners.canary import CanaryScanner
from guardrails.scanners.json_output import JsonOutputScanner
from guardrails.scanners.limits import MaxTokensScanner
from guardrails.scanners.pii import PiiScanner
from guardrails.scanners.rules import DenyListScanner
from guardrails.scanners.secrets import SecretsScanner
from guardrails.scanners.unicode import InvisibleTextScanner
from guardrails.types import ScanContext

CTX = ScanContext()


@pytest.fixture(scope="module")
def pii() -> PiiScanner:
    s = PiiScanner()
    s.warm()
    return s


def _found(scanner, text):  # -> list[(rule, matched text)]
    return [(f.rule, text[f.start : f.end]) for f in scanner.scan(text, CTX)]


def test_pii_finds_pattern_entities(pii: PiiScanner) -> None:
    text = ("Mail jane.doe@example.org, card 4111 1111 1111 1111, IBAN DE89370400440532013000, "
            "from 192.168.10.20, SSN 536-22-8726.")
    got = _found(pii, text)
    assert ("EMAIL_ADDRESS", "jane.doe@example.org") in got
    assert ("CREDIT_CARD", "4111 1111 1111 1111") in got
    assert ("IBAN_CODE", "DE89370400440532013000") in got
    assert ("IP_ADDRESS", "192.168.10.20") in got
    assert ("US_SSN", "536-22-8726") in got


def test_pii_card_needs_luhn(pii: PiiScanner) -> None:
    assert not [r for r, _ in _found(pii, "order number 4111 1111 1111 1112 shipped") if r == "CREDIT_CARD"]


def test_pii_card_ranges_presidio_misses(pii: PiiScanner) -> None:
    # 2-series Mastercard and 19-digit Visa (Luhn-valid), both outside Presidio's own pattern
    got = _found(pii, "cards 2223003122003222 and 4131034282458809939 on file")
    assert [v for r, v in got if r == "CREDIT_CARD"] == ["2223003122003222", "4131034282458809939"]


def test_pii_iban_checksum(pii: PiiScanner) -> None:
    assert not _found(pii, "ref DE89370400440532013001 done")  # mod-97 fails


def test_pii_prose_without_entities(pii: PiiScanner) -> None:
    assert _found(pii, "The quick brown fox jumps over the lazy dog near the river bank.") == []


def test_pii_unknown_entity_rejected() -> None:
    with pytest.raises(ValueError, match="unknown PII entities"):
        PiiScanner(["PERSON"])


def test_pii_email_validation_is_offline(pii: PiiScanner, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def no_network(*a, **k):
        raise AssertionError("network used")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    assert _found(pii, "write to a@b.co.uk") == [("EMAIL_ADDRESS", "a@b.co.uk")]


SECRETS = {
    "AWS_ACCESS_KEY": "AKIAIOSFODNN7EXAMPLE",
    "GITHUB_TOKEN": "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "JSON_WEB_TOKEN": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "SLACK_TOKEN": "xoxb-123456789012-1234567890123-abcdefghijklmnopqrstuvwx",
    "STRIPE_ACCESS_KEY": "sk_live_abcdefghijklmnopqrstuvwx",
}


@pytest.mark.parametrize("rule,secret", list(SECRETS.items()))
def test_secrets_found_with_full_span(rule: str, secret: str) -> None:
    text = f"config: token = {secret} # do not share"
    assert (rule, secret) in _found(SecretsScanner(), text)


def test_secrets_private_key_block_and_connection_string() -> None:
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"
    text = f"here {key} and postgres://admin:hunter2pass@db.internal:5432/app"
    got = _found(SecretsScanner(), text)
    assert ("PRIVATE_KEY", key) in got
    assert ("BASIC_AUTH_CREDENTIALS", "hunter2pass") in got


def test_secrets_invalid_jwt_and_prose_pass() -> None:
    s = SecretsScanner()
    assert _found(s, "eyJnotbase64.eyJalsonot.x is not a token") == []
    assert _found(s, "Please summarise the attached quarterly report in three bullet points.") == []


def test_secrets_unknown_plugin_rejected() -> None:
    with pytest.raises(ValueError, match="unknown detect-secrets plugins"):
        SecretsScanner(["NopeDetector"])


def test_denylist_substrings_regexes_topics() -> None:
    s = DenyListScanner(substrings=["Acme Corp"], regexes={"ticket": r"TCK-\d+"},
                        topics={"weapons": ["rifle", "explosive"]})
    got = _found(s, "acme corp said TCK-42 is about an explosive start; art and startups are fine")
    assert ("substring", "acme corp") in got and ("ticket", "TCK-42") in got and ("topic:weapons", "explosive") in got
    assert _found(s, "rifles") == []  # topics match whole words


def test_denylist_bad_regex_names_rule() -> None:
    with pytest.raises(ValueError, match="'broken'"):
        DenyListScanner(regexes={"broken": "(unclosed"})


def test_invisible_text() -> None:
    s = InvisibleTextScanner()
    text = "hi\u200bthere\u202eevil\U000e0041x\x07"
    assert [r for r, _ in _found(s, text)] == ["zero_width", "bidi_control", "tag_chars", "control"]
    assert _found(s, "plain text\nwith newline\tand tab, café") == []


def test_invisible_text_one_pass_equals_one_regex_per_class() -> None:
    """The single alternation (and the ASCII shortcut) finds what a regex per class finds."""
    import re

    from guardrails.scanners.unicode import _CLASSES
    from guardrails.types import Finding

    def per_class(text: str) -> list[Finding]:
        out = [Finding(c, m.start(), m.end()) for c, chars in _CLASSES.items() for m in re.finditer(f"[{chars}]+", text)]
        return sorted(out, key=lambda f: f.start or 0)

    s = InvisibleTextScanner()
    texts = ["", "plain", "a\x00b\x7fc", "tab\tnl\n", "\u200b\u202e\u200b", "x\U000e0041\U000e0042y\ue000",
             "caf\u00e9 \u0085 \u009f", "\ufeffBOM", "zw\u200d\u2066bidi\u2069"]
    for t in texts:
        assert s.scan(t, CTX) == per_class(t), t


def test_max_tokens() -> None:
    assert MaxTokensScanner(10).scan("x" * 41, CTX)[0].rule == "max_tokens_exceeded"
    assert MaxTokensScanner(10, count=lambda s: len(s.split())).scan("a b c", CTX) == []
    with pytest.raises(ValueError):
        MaxTokensScanner(0)


def test_json_output_validity_and_schema() -> None:
    s = JsonOutputScanner()
    schema = {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}
    assert s.scan("not json", ScanContext(expect_json=True))[0].rule == "invalid_json"
    assert s.scan('```json\n{"a": 1}\n```', ScanContext(json_schema=schema)) == []
    assert s.scan('{"a": "x"}', ScanContext(json_schema=schema))[0].rule == "schema_mismatch"
    assert s.scan("free text", ScanContext()) == []  # not asked for JSON
    assert s.scan("{}", ScanContext(json_schema={"type": 12}))[0].rule == "invalid_schema"


def test_canary() -> None:
    s = CanaryScanner(["CANARY-static"])
    assert [f.rule for f in s.scan("leak CANARY-static and CANARY-abc", ScanContext(canaries=("CANARY-abc",)))] == [
        "system_prompt_leak", "system_prompt_leak"]
    assert s.scan("nothing here", CTX) == []


def test_pii_phone_windows_match_whole_text_scan() -> None:
    """The phone recognizer runs on windows around digit runs: the same numbers, offsets shifted
    back, as a whole-text scan (several numbers, an extension, numbers at both ends, long filler)."""
    text = ("+1 (212) 555-0199 ext. 42 is the desk; " + "filler words " * 20 + "or 030 1234567, and "
            + "x" * 90 + " 0049 30 1234 5678. Order 12345678901234567890 ships. Fax 212.555.0100")
    windowed, whole = PiiScanner(["PHONE_NUMBER"]), PiiScanner(["PHONE_NUMBER"], phone_windows=False)
    got = [(f.start, f.end) for f in windowed.scan(text, ScanContext())]
    assert got == [(f.start, f.end) for f in whole.scan(text, ScanContext())]
    assert len(got) >= 4 and text[got[-1][0] : got[-1][1]] == "212.555.0100"


def test_pii_phone_needs_its_own_digit_run() -> None:
    """A short number is not read as a phone because a 7-digit run elsewhere let the scan start."""
    text = "We are at 6556 106 Rue Ettatawer Apt. 409\nSOUTH NEWDEGATE, WA 16469"
    assert PiiScanner(["PHONE_NUMBER"]).scan(text, ScanContext()) == []
    assert [text[f.start : f.end] for f in PiiScanner(["PHONE_NUMBER"], phone_windows=False).scan(text, ScanContext())] == ["16469"]


def test_pii_card_digits_are_not_phone_candidates() -> None:
    """What a higher-scoring recognizer found (a Luhn-valid card) is blanked before the phone scan:
    same findings as scanning everything, without parsing the card's digits per phone region."""
    text = "card 4111 1111 1111 1111, call +1 415 555 0199 today"
    fast, slow = PiiScanner(), PiiScanner(phone_windows=False)
    got = [(f.rule, text[f.start : f.end]) for f in fast.scan(text, ScanContext())]
    assert got == [("CREDIT_CARD", "4111 1111 1111 1111"), ("PHONE_NUMBER", "+1 415 555 0199")]
    assert got == [(f.rule, text[f.start : f.end]) for f in slow.scan(text, ScanContext())]
