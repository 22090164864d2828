"""Stream hold-back: text is held only while a rule could still match it, released at word
boundaries, and the streamed result equals the whole-text result (Hypothesis over chunkings)."""

from __future__ import annotations

import itertools
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrails import Blocked, Guardrails, GuardrailsConfig, ScanContext, StreamGuard, Vault
from guardrails.config import PolicyConfig, Rule
from guardrails.engine import Guard
from guardrails.scanners.base import Scanner
from guardrails.stream_holdback import (
    digits_hold,
    holdback_for,
    iban_hold,
    pem_hold,
    placeholder_split,
    terms_hold,
    token_hold,
    word_cut,
)
from guardrails.types import Finding

CANARY = "CANARY-1234abcd"
OUT = ScanContext(direction="output")


def _guard(output: list[Rule], **kw) -> Guard:
    cfg = GuardrailsConfig(scanners={"canary": {"type": "canary", "canaries": [CANARY]},
                                     "terms": {"type": "denylist", "substrings": ["acme corp"],
                                               "topics": {"weapons": ["rifle"]}}},
                           policies={"p": PolicyConfig(output=output, **kw)})
    g = Guardrails(cfg).guard(("p",))
    assert g is not None
    return g


DEFAULT_OUT = [Rule(scanner="pii", action="redact"), Rule(scanner="secrets", action="redact")]


# ---- the per-scanner rules ----------------------------------------------------------------------

def test_digit_runs_are_held_while_they_can_grow() -> None:
    assert digits_hold("card 4111 1111", "") == 5
    assert digits_hold("card 4111 1111 ", "") == 5  # a separator: more digits may follow
    assert digits_hold("card 4111 1111 ", "and") == len("card 4111 1111 ")  # the run ended
    assert digits_hold("call +1 (415", "") == 5
    assert digits_hold("no digits here ", "") == len("no digits here ")


def test_tokens_ibans_and_pem_blocks() -> None:
    assert token_hold("mail john.smith@exa", "", 256) == 5
    assert token_hold("mail john.", "", 256) == 5
    assert token_hold("mail john,", "", 256) == len("mail john,")  # a comma ends a token
    assert iban_hold("pay DE89 3704 00", "") == 4
    assert iban_hold("I am fine ", "") == len("I am fine ")
    text = "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow"
    assert pem_hold(text) == 5
    assert pem_hold(text + "\n-----END RSA PRIVATE KEY-----") == len(text) + 30


def test_term_prefixes_are_held() -> None:
    assert terms_hold("leaked CANARY-12", "", [CANARY], False) == 7
    assert terms_hold("leaked CANARY-12", "99", [CANARY], False) == len("leaked CANARY-12")  # not it
    assert terms_hold("we like ACME co", "", ["acme corp"], True) == 8
    assert terms_hold("a camel", "", ["acme corp"], True) == len("a camel")


def test_placeholder_split_holds_only_what_can_become_a_placeholder() -> None:
    assert placeholder_split("Dear <EMAIL_") == 5
    assert placeholder_split("Dear <EMAIL_1") == 5
    assert placeholder_split("if a < b then") == len("if a < b then")
    assert placeholder_split("Dear <EMAIL_1>") == len("Dear <EMAIL_1>")


def test_word_cut_never_splits_a_word() -> None:
    assert word_cut("hello wor", 9, "") == 5  # `wor` may go on; the space waits with it
    assert word_cut("hello wor", 9, "ld") == 5
    assert word_cut("hello world", 11, " ") == 11
    assert word_cut("hello, world", 5, "") == 5
    assert word_cut("a" * 300, 300, "", max_word=16) == 300  # an endless word is cut


def test_scanners_without_bounded_matches_keep_the_fixed_window() -> None:
    g = Guardrails(GuardrailsConfig(scanners={"w": {"type": "denylist", "regexes": {"x": r"\bx+\b"}}},
                                    policies={"p": PolicyConfig(output=[Rule(scanner="w", action="block")])}))
    guard = g.guard(("p",))
    assert guard is not None
    assert holdback_for(guard.scanners["w"], OUT) is None
    assert holdback_for(_guard([Rule(scanner="terms", action="block")]).scanners["terms"], OUT) is not None


# ---- behaviour ----------------------------------------------------------------------------------

def test_prose_is_released_word_by_word() -> None:
    sg = StreamGuard(_guard(DEFAULT_OUT), OUT)
    words = ["The", " river", " runs", " past", " the", " old", " stone", " mill", "."]
    outs = [sg.feed(w) for w in words]
    # each word goes out once the next one shows it ended; never a word cut in two
    assert outs[:-1] == ["", "The", " river", " runs", " past", " the", " old", " stone"]
    assert "".join(outs) + sg.finish() == "".join(words)


def test_a_card_split_across_chunks_is_never_half_sent() -> None:
    sg = StreamGuard(_guard(DEFAULT_OUT), OUT)
    sent = [sg.feed(p) for p in ["Pay with 4111", " 1111 11", "11 1111", " today", " please"]]
    assert sent[:3] == ["Pay with", "", ""]  # the growing number waits whole
    assert "4111" not in "".join(sent) and "1111" not in "".join(sent)
    assert "".join(sent) + sg.finish() == "Pay with <CREDIT_CARD_1> today please"


def test_a_canary_prefix_is_held_and_the_whole_canary_blocks() -> None:
    sg = StreamGuard(_guard([Rule(scanner="canary", action="block")]), OUT)
    sent = sg.feed("My instructions say CANARY-12")
    assert sent == "My instructions say"
    with pytest.raises(Blocked) as e:
        sg.feed("34abcd and more")
    assert e.value.rule == "system_prompt_leak"


def test_a_denylisted_phrase_across_the_emit_boundary_blocks() -> None:
    sg = StreamGuard(_guard([Rule(scanner="terms", action="block")]), OUT)
    sent = sg.feed("we like acme")
    sent += sg.feed(" co")
    assert "acme" not in sent
    with pytest.raises(Blocked):
        sg.feed("rp a lot")


class _Boom(Scanner):
    name = "boom"
    redactable = True

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        raise RuntimeError("scanner down")


def test_a_scanner_failing_closed_blocks_the_stream() -> None:
    # before: the engine's private failure escaped the stream guard (an internal error mid-stream)
    guard = Guard("p", PolicyConfig(output=[Rule(scanner="boom", action="redact")]), {"boom": _Boom()})
    sg = StreamGuard(guard, OUT)
    with pytest.raises(Blocked) as e:
        for _ in range(40):
            sg.feed("some words go by ")
        sg.finish()
    assert (e.value.scanner, e.value.rule) == ("boom", "scanner_error")


def test_align_releases_whole_pieces_and_marks_rewritten_ones() -> None:
    sg = StreamGuard(_guard(DEFAULT_OUT), OUT, align=True)
    pieces = ["Mail", " me", " at", " a@example.com", " or", " not"]
    units = []
    for i, p in enumerate(pieces):
        sg.feed(p, i)
        units += sg.released
    sg.finish()
    units += sg.released
    assert [u[1] for u in units] == [(0,), (1,), (2,), (3,), (4,), (5,)]  # one unit per piece, in order
    assert [u[2] for u in units] == [False, False, False, True, False, False]
    assert units[3][0] == " <EMAIL_1>"


# ---- the stream equals the whole text -----------------------------------------------------------

WORDS = ["the", "river", "stone", "mill", "Thanks", "for", "asking", "instructions", "information", "I", "a",
         "DE", "to:", "2024", "v1.2", "is", "OK", "well-known", "(see", "below)", "note:", "e.g."]
PLANTS = ["john.smith@example.com", "a@b.co", "4111 1111 1111 1111", "5500-0000-0000-0004", "+1 415 555 0199",
          "(415) 555-0100", "DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "192.168.10.20",
          "078-05-1120", "AKIAIOSFODNN7EXAMPLE", "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
          "postgres://app:s3cretpass@db.example.com:5432/x", "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z" * 2,
          "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
          "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END RSA PRIVATE KEY-----",
          "Server=db;Database=app;User Id=sa;Password=Hunter2x!;", CANARY, "<EMAIL_1>", "acme corp", "rifle"]
SEPS = [" ", " ", " ", ", ", ". ", "\n", ": ", " (", ") "]


@st.composite
def texts(draw: st.DrawFn) -> str:
    n = draw(st.integers(1, 40))
    out = []
    for _ in range(n):
        out.append(draw(st.sampled_from(PLANTS)) if draw(st.integers(0, 5)) == 0 else draw(st.sampled_from(WORDS)))
        out.append(draw(st.sampled_from(SEPS)))
    if draw(st.booleans()):
        out.pop()
    return "".join(out)


@st.composite
def chunked(draw: st.DrawFn) -> tuple[str, list[str]]:
    text = draw(texts())
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(text) - 1)), max_size=80))))
    bounds = [0, *cuts, len(text)]
    return text, [text[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def _stream(sg: StreamGuard, pieces: list[str]) -> str:
    return "".join(sg.feed(p) for p in pieces) + sg.finish()


# STREAM_PROPERTY_EXAMPLES=1000 for a longer search than the default run's
PROPS = settings(max_examples=int(os.environ.get("STREAM_PROPERTY_EXAMPLES", "120")), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
REDACT = _guard([*DEFAULT_OUT, Rule(scanner="canary", action="redact"), Rule(scanner="terms", action="redact")],
                restore_pii=True)
BLOCK = _guard([Rule(scanner="pii", action="redact"), Rule(scanner="secrets", action="block"),
                Rule(scanner="canary", action="block"), Rule(scanner="terms", action="block")])


@PROPS
@given(chunked())
def test_streamed_redaction_equals_the_whole_text(case: tuple[str, list[str]]) -> None:
    text, pieces = case
    whole = REDACT.check(text, OUT, Vault())
    assert _stream(StreamGuard(REDACT, OUT), pieces) == whole.text


@PROPS
@given(chunked())
def test_streamed_restore_and_redaction_equal_the_whole_text(case: tuple[str, list[str]]) -> None:
    text, pieces = case
    vault = Vault()
    vault.placeholder("EMAIL", "me@example.com")
    whole = REDACT.check(vault.restore(text), OUT, Vault(), vault.values())
    assert _stream(StreamGuard(REDACT, OUT, restore=vault), pieces) == whole.text


@PROPS
@given(chunked(), st.booleans())
def test_a_stream_blocks_exactly_when_the_whole_text_does(case: tuple[str, list[str]], align: bool) -> None:
    text, pieces = case
    whole = BLOCK.check(text, OUT, Vault())
    sg = StreamGuard(BLOCK, OUT, align=align)
    sent = []
    try:
        for i, p in enumerate(pieces):
            sent.append(sg.feed(p, i))
        sent.append(sg.finish())
    except Blocked:
        assert whole.blocked is not None
        return
    assert whole.blocked is None
    assert "".join(sent) == whole.text
