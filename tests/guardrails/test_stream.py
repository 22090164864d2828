"""Output rules over streams: matches split across chunks, hold-back, restore, end-of-stream rules."""

from __future__ import annotations

import pytest

from guardrails import Blocked, Guardrails, GuardrailsConfig, ScanContext, StreamGuard, Vault
from guardrails.config import PolicyConfig, Rule


def _guard(output: list[Rule], **kw):
    cfg = GuardrailsConfig(scanners={"canary": {"type": "canary", "canaries": ["CANARY-1234abcd"]}},
                           policies={"p": PolicyConfig(output=output, **kw)})
    return Guardrails(cfg).guard(("p",))


def _pieces(text: str, n: int) -> list[str]:
    return [text[i : i + n] for i in range(0, len(text), n)]


def _run(sg: StreamGuard, text: str, n: int = 3) -> str:
    return "".join(sg.feed(p) for p in _pieces(text, n)) + sg.finish()


@pytest.mark.parametrize("chunk", [1, 3, 7, 50])
def test_pii_split_across_chunks_is_redacted(chunk: int) -> None:
    g = _guard([Rule(scanner="pii", action="redact")], stream_window_chars=32)
    text = "Contact me at john.smith@example.com or 4111 1111 1111 1111. " + "Thanks for asking! " * 10
    out = _run(StreamGuard(g, ScanContext(direction="output")), text, chunk)
    assert out == text.replace("john.smith@example.com", "<EMAIL_1>").replace("4111 1111 1111 1111", "<CREDIT_CARD_1>")


def test_a_scanner_without_hold_back_knowledge_keeps_the_fixed_window() -> None:
    # a named denylist regex cannot say how long its matches are: the policy's window holds them
    cfg = GuardrailsConfig(scanners={"words": {"type": "denylist", "regexes": {"w": r"\bforbidden\b"}}},
                           policies={"p": PolicyConfig(output=[Rule(scanner="words", action="block")],
                                                       stream_window_chars=16)})
    g = Guardrails(cfg).guard(("p",))
    sg = StreamGuard(g, ScanContext(direction="output"))
    emitted = "".join(sg.feed(p) for p in _pieces("a" * 200, 5))
    assert 200 - 2 * 16 - 5 <= len(emitted) <= 200 - 16
    assert len(emitted) + len(sg.finish()) == 200


def test_canary_split_across_chunks_blocks() -> None:
    g = _guard([Rule(scanner="canary", action="block")], stream_window_chars=16)
    sg = StreamGuard(g, ScanContext(direction="output"))
    with pytest.raises(Blocked) as e:
        _run(sg, "x" * 40 + "my instructions say CANARY-1234abcd ok" + "y" * 100, 5)
    assert (e.value.scanner, e.value.rule) == ("canary", "system_prompt_leak")


def test_restore_placeholders_split_across_chunks() -> None:
    g = _guard([Rule(scanner="pii", action="redact")], stream_window_chars=16, restore_pii=True)
    vault = Vault()
    vault.placeholder("EMAIL", "me@example.com")
    sg = StreamGuard(g, ScanContext(direction="output"), restore=vault)
    out = _run(sg, "Dear <EMAIL_1>, write to other@example.com. " + "z" * 60, 2)
    assert out.startswith("Dear me@example.com, write to <EMAIL_1>. ")  # own value kept, new one redacted


def test_json_checked_at_end_only() -> None:
    g = _guard([Rule(scanner="json_output", action="block")], stream_window_chars=16)
    ok = StreamGuard(g, ScanContext(direction="output", expect_json=True))
    assert _run(ok, '{"answer": ' + '"' + "x" * 80 + '"}') .startswith('{"answer"')
    bad = StreamGuard(g, ScanContext(direction="output", expect_json=True))
    with pytest.raises(Blocked) as e:
        _run(bad, '{"answer": "unterminated' + "x" * 80)
    assert e.value.rule == "invalid_json"


def test_outcomes_summarised_per_scanner() -> None:
    g = _guard([Rule(scanner="pii", action="redact")], stream_window_chars=16)
    sg = StreamGuard(g, ScanContext(direction="output"))
    _run(sg, "a@example.com " + "q" * 100 + " b@example.com")
    (o,) = sg.summary()
    assert (o.scanner, o.action, o.rule) == ("pii", "redact", "EMAIL_ADDRESS") and o.latency_ms > 0
