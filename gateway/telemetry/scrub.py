"""Scrub credentials and PII out of text before it reaches a log line or an exported span.

Used by the logging filter (gateway/telemetry/logs.py) and the span exporter wrapper
(gateway/telemetry/tracing.py). It is a last line of defence, so it errs towards over-redaction; the
guardrails package does the precise, model-based PII work on request content.

Regular expressions rather than detect-secrets here: this runs on every log line, and a handful of
compiled patterns costs microseconds where detect-secrets' plugin scan costs milliseconds.
Virtual keys are caught by the `sk-` pattern: sluicegate keys must keep that prefix.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

REDACTED = "[REDACTED]"

# Header-like names whose whole value is a credential ("Authorization: Bearer x", "x-api-key=y").
_HEADER_VALUE = re.compile(
    r"(?i)\b((?:proxy-)?authorization|x-api-key|api-key|x-goog-api-key|cookie|set-cookie)"
    r"(['\"]?\s*[:=]\s*['\"]?)"
    r"((?:(?:bearer|basic|token)\s+)?[^\s'\",;}]+)"
)
# key=value / "key": "value" where the key names a secret. `\b` keeps "max_tokens" / "tokens" out.
_NAMED_SECRET = re.compile(
    r"(?i)\b(api[_-]?key|secret|client[_-]?secret|password|passwd|pwd|token|access[_-]?token|"
    r"refresh[_-]?token|access[_-]?key|secret[_-]?key|master[_-]?key|private[_-]?key|virtual[_-]?key)"
    r"(['\"]?\s*[:=]\s*['\"]?)"
    r"([^\s'\",;}&]{4,})"
)

# (pattern, replacement) applied in order; a later pattern never sees what an earlier one replaced.
_RULES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"), REDACTED),
    (_HEADER_VALUE, lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}"),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{6,}"), f"Bearer {REDACTED}"),
    # provider and virtual keys: sk-..., sk-proj-..., sk-ant-...
    (re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"), REDACTED),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), REDACTED),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}\b"), REDACTED),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), REDACTED),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), REDACTED),
    (re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"), REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), REDACTED),  # JWT
    (_NAMED_SECRET, lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}"),
    # credentials in URLs: postgresql://user:pass@host -> postgresql://[REDACTED]@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@:]+:[^\s/@]+@"), lambda m: f"{m.group(1)}{REDACTED}@"),
    (re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"), "[EMAIL]"),
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), "[SSN]"),
    (re.compile(r"(?<![\w.])\+?\d{1,3}[ .-]?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b"), "[PHONE]"),
]

_CARD = re.compile(r"\b(?:4\d{3}|5[1-5]\d{2}|3[47]\d{2}|6011)(?:[ -]?\d{4}){2}[ -]?\d{1,4}\b")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group(0))
    return "[CARD]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else m.group(0)


# Short strings repeat (model names, deployment ids, routes, log templates): remember the ones
# that are clean, so they skip the patterns next time. Only clean strings are kept, so no secret
# lingers in this memo.
_CLEAN: set[str] = set()
_CLEAN_MAX_ITEMS = 8192
_CLEAN_MAX_LEN = 160


def scrub_text(text: str) -> str:
    """Return `text` with credentials and PII replaced by placeholders."""
    if text in _CLEAN:
        return text
    out = text
    for pattern, repl in _RULES:
        out = pattern.sub(repl, out)
    out = _CARD.sub(_card, out)
    if out == text and len(text) <= _CLEAN_MAX_LEN:
        if len(_CLEAN) >= _CLEAN_MAX_ITEMS:
            _CLEAN.clear()  # bounded; a rare full reset is cheaper than LRU bookkeeping per call
        _CLEAN.add(text)
    return out


_SECRET_KEY_NAMES = re.compile(
    r"(?i)^(authorization|proxy-authorization|x-api-key|api-key|api_key|apikey|cookie|set-cookie|"
    r"password|passwd|secret|client_secret|token|access_token|refresh_token|master_key|private_key|"
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
