"""Scrub credentials and PII out of text before it reaches a log line, an exported span or a client.

Used by the logging filter (gateway/telemetry/logs.py), the span exporter wrapper
(gateway/telemetry/tracing.py) and upstream errors (gateway/errors.py). It is a last line of
defence, so it errs towards over-redaction; the guardrails package does the precise, model-based
PII work on request content.

The rules are in gateway/telemetry/secret_patterns.py: our own patterns, then detect-secrets'
plugin regexes. This runs on every log line, so a rule's regex runs only when one of its literal
triggers is in the text (most text holds none), and clean short strings are remembered.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.telemetry.secret_patterns import DIGITS_AS_ZERO, OWN_RULES, REDACTED, Rule, detect_secrets_rules

__all__ = ["REDACTED", "RULES", "scrub_text", "scrub_value"]

RULES: list[Rule] = [*OWN_RULES, *detect_secrets_rules()]

# Short strings repeat (model names, deployment ids, routes, log templates): remember the ones
# that are clean, so they skip the patterns next time. Only clean strings are kept, so no secret
# lingers in this memo.
_CLEAN: set[str] = set()
_CLEAN_MAX_ITEMS = 8192
_CLEAN_MAX_LEN = 160


def _any_in(needles: tuple[str, ...], hay: str) -> bool:
    for t in needles:  # a loop, not any(genexpr): cheaper for these few needles
        if t in hay:
            return True
    return False


def _view(text: str, view: str) -> str:
    if view == "lower":
        return text.lower()
    if view == "digits":
        return text.translate(DIGITS_AS_ZERO)
    return text


def scrub_text(text: str) -> str:
    """Return `text` with credentials and PII replaced by placeholders."""
    if text in _CLEAN:
        return text
    out = text
    views: dict[str, str] = {}  # the lower-cased / digit views of `out`, made when first needed
    gates: dict[re.Pattern[str], bool] = {}  # one gate serves several rules: search it once
    seen: dict[tuple[str, tuple[str, ...]], bool] = {}
    for rule in RULES:
        if rule.triggers or rule.gate is not None:
            hay = views.get(rule.view)
            if hay is None:
                hay = views[rule.view] = _view(out, rule.view)
            if rule.triggers:
                key = (rule.view, rule.triggers)  # a plugin's regexes share one tuple: look once
                found = seen.get(key)
                if found is None:
                    found = seen[key] = _any_in(rule.triggers, hay)
                if not found:
                    continue
            if rule.gate is not None:
                hit = gates.get(rule.gate)
                if hit is None:
                    hit = gates[rule.gate] = rule.gate.search(hay) is not None
                if not hit:
                    continue
        new = rule.pattern.sub(rule.repl, out)
        if new is not out:
            out = new
            views.clear()
            gates.clear()
            seen.clear()
    if out == text and len(text) <= _CLEAN_MAX_LEN:
        if len(_CLEAN) >= _CLEAN_MAX_ITEMS:
            _CLEAN.clear()  # bounded; a rare full reset is cheaper than LRU bookkeeping per call
        _CLEAN.add(text)
    return out


# A dict key naming a secret, also with a prefix (`db_password`, `http.request.header.authorization`);
# the name must end the key, so `max_tokens` and `token_count` are not secrets.
_SECRET_KEY_NAMES = re.compile(
    r"(?i)^(?:[a-z0-9]+[_.-])*(authorization|proxy-authorization|x-api-key|api-key|api_key|apikey|cookie|"
    r"set-cookie|password|passwd|secret|client_secret|token|access_token|refresh_token|master_key|private_key|"
    r"virtual_key|x-goog-api-key)$"
)


def scrub_value(value: Any, _depth: int = 0) -> Any:
    """Scrub strings inside dicts/lists/tuples; a dict entry whose key names a secret is dropped."""
    if isinstance(value, str):
        return scrub_text(value)
    if _depth > 8:
        return REDACTED
    if isinstance(value, dict):
        return {k: (REDACTED if isinstance(k, str) and _SECRET_KEY_NAMES.match(k)
                    else scrub_value(v, _depth + 1)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(scrub_value(v, _depth + 1) for v in value)
    return value
