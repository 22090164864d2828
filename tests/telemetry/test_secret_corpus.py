"""The scrubber against a corpus of real token formats (tests/telemetry/data/secret_formats.txt),
each embedded in the contexts a log line, a span or an upstream error puts it in."""

from __future__ import annotations

import random
import re
import string
from pathlib import Path

import pytest

from gateway.telemetry import scrub
from gateway.telemetry.scrub import scrub_text

FORMATS = Path(__file__).parent / "data" / "secret_formats.txt"
_KINDS = {
    "alnum": string.ascii_letters + string.digits,
    "urlsafe": string.ascii_letters + string.digits + "-_",
    "hex": "0123456789abcdef",
    "HEXUPPER": string.ascii_uppercase + "234567",
    "upper": string.ascii_uppercase,
    "digits": string.digits,
    "b64": string.ascii_letters + string.digits + "+/",
}
_PLACEHOLDER = re.compile(r"\{(\w+):(\d+)\}")


def _expand(template: str, rng: random.Random) -> tuple[str, list[str]]:
    """The token and its random parts (the parts that must not survive; fixed prefixes may)."""
    parts: list[str] = []

    def fill(m: re.Match[str]) -> str:
        value = "".join(rng.choice(_KINDS[m.group(1)]) for _ in range(int(m.group(2))))
        parts.append(value)
        return value

    return _PLACEHOLDER.sub(fill, template), parts


def _corpus() -> list[tuple[str, str, list[str]]]:
    rng = random.Random(17)
    rows = []
    for line in FORMATS.read_text().splitlines():
        if line and not line.startswith("#"):
            name, template = line.split("\t")
            token, parts = _expand(template, rng)
            rows.append((name, token, parts))
    return rows


CORPUS = _corpus()
CONTEXTS = {
    "alone": "{t}",
    "sentence": "upstream said: invalid credential {t} (HTTP 401)",
    "json": '{{"error": {{"message": "Incorrect API key provided: {t}", "type": "invalid_request_error"}}}}',
    "escaped-newlines": "config loaded\\n{t}\\nnext line",
    "repr-in-traceback": "ValueError: bad value '{t}'",
}


def test_the_corpus_is_loaded() -> None:
    assert len(CORPUS) >= 50
    assert {"stripe-live-secret", "gitlab-pat", "npm-access-token", "password-after-escaped-newline"} <= {
        n for n, _, _ in CORPUS}


@pytest.mark.parametrize("context", list(CONTEXTS))
@pytest.mark.parametrize(("name", "token", "parts"), CORPUS, ids=[n for n, _, _ in CORPUS])
def test_no_random_part_of_a_token_survives(name: str, token: str, parts: list[str], context: str) -> None:
    text = CONTEXTS[context].format(t=token)
    out = scrub_text(text)
    leaked = [p for p in parts if len(p) >= 8 and p in out]
    assert not leaked, f"{name} in {context}: {out!r}"


def test_a_pem_key_with_real_newlines_is_removed_whole() -> None:
    _, token, parts = next(row for row in CORPUS if row[0] == "pem-private-key")
    out = scrub_text("loaded key:\n" + token.replace("\\n", "\n") + "\ndone")
    assert not [p for p in parts if p in out] and out.endswith("\ndone")


def test_a_pem_key_cut_off_by_a_clip_is_removed_to_the_end() -> None:
    _, token, parts = next(row for row in CORPUS if row[0] == "pem-private-key")
    out = scrub_text(token[: len(token) // 2])
    assert parts[0][:20] not in out


@pytest.mark.parametrize("text", [
    "request 6f1c2e0a9b8d4f3e8a7b6c5d4e3f2a1b took 12 ms",
    "model gpt-4o-mini-2024-07-18 served by azure/gpt-4o#0",
    "POST /sluice/v1/keys/key_0123456789abcdef/rotate -> 201",
    "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
    "cache key sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "max_tokens=256 input_tokens=12 prompt_tokens: 40 cached_tokens=0",
    "prompt summarize@3 rendered for team_0a1b2c3d4e5f",
    "upstream 10.0.0.12:8080 answered 503 after 1760000000.123",
    "the password must be at least 12 characters",
    "Traceback (most recent call last):\n  File \"/srv/app/gateway/engine/router.py\", line 283, in _call",
])
def test_operational_text_is_left_alone(text: str) -> None:
    assert scrub_text(text) == text


def test_every_detect_secrets_regex_plugin_is_used() -> None:
    """The rules include each regex of each detect-secrets regex plugin (the public-IP one aside),
    so an upgrade that adds a plugin adds its rules too."""
    import importlib
    import pkgutil

    from detect_secrets import plugins
    from detect_secrets.plugins.base import RegexBasedDetector

    expected = set()
    for mod in pkgutil.iter_modules(plugins.__path__):
        module = importlib.import_module(f"detect_secrets.plugins.{mod.name}")
        for obj in vars(module).values():
            if (isinstance(obj, type) and issubclass(obj, RegexBasedDetector) and obj is not RegexBasedDetector
                    and obj.__module__ == module.__name__ and obj.__name__ != "IPPublicDetector"):
                expected |= {(obj.__name__, r.pattern) for r in obj.denylist}
    used = {(r.source, r.pattern.pattern) for r in scrub.RULES if r.source != "sluicegate"}
    assert expected and used == expected


def test_triggers_are_found_in_every_match_of_their_rule() -> None:
    """A trigger is only a speed filter: for every corpus token a rule's regex matches, one of the
    rule's triggers (and its gate) must be present, or the rule would be skipped on that text."""
    checked = 0
    for _name, token, _parts in CORPUS:
        for context in CONTEXTS.values():
            text = context.format(t=token)
            for rule in scrub.RULES:
                if rule.pattern.search(text) is None:
                    continue
                hay = scrub._view(text, rule.view)
                if rule.triggers:
                    assert any(t in hay for t in rule.triggers), (rule.source, rule.pattern.pattern, text)
                if rule.gate is not None:
                    assert rule.gate.search(hay), (rule.source, rule.pattern.pattern, text)
                checked += 1
    assert checked > 200


def test_dict_entries_named_as_secrets_are_dropped_prefix_or_not() -> None:
    out = scrub.scrub_value({"db_password": "hunter2", "http.request.header.authorization": "Basic eA==",
                             "client_secret": "s3", "max_tokens": 5, "token_count": 3, "prompt_tokens": 7})
    assert out == {"db_password": scrub.REDACTED, "http.request.header.authorization": scrub.REDACTED,
                   "client_secret": scrub.REDACTED, "max_tokens": 5, "token_count": 3, "prompt_tokens": 7}
