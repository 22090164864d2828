"""Typed placeholders (`<EMAIL_1>`) for one request, and restoring them in the response.

The vault lives only as long as the request; it is the one place raw values are kept.
"""

from __future__ import annotations

import re

from guardrails.types import Finding

_PLACEHOLDER = re.compile(r"<([A-Z][A-Z_]*)_(\d+)>")
# Longest placeholder we emit, for stream hold-back.
MAX_PLACEHOLDER_CHARS = 40

_TYPE_NAMES = {
    "EMAIL_ADDRESS": "EMAIL", "IBAN_CODE": "IBAN", "IP_ADDRESS": "IP", "US_SSN": "SSN",
    "PHONE_NUMBER": "PHONE", "CREDIT_CARD": "CREDIT_CARD",
}


def placeholder_type(scanner: str, rule: str) -> str:
    if scanner == "secrets" or rule.endswith(("_TOKEN", "_KEY", "_CREDENTIALS")):
        return "SECRET"
    t = _TYPE_NAMES.get(rule, rule)
    t = re.sub(r"[^A-Z_]", "_", t.upper()).strip("_") or "REDACTED"
    return t[:24]


class Vault:
    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self._originals: dict[str, str] = {}
        self._counters: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._originals)

    def placeholder(self, kind: str, value: str) -> str:
        """The same value gets the same placeholder within a request."""
        key = (kind, value)
        ph = self._by_value.get(key)
        if ph is None:
            n = self._counters.get(kind, 0) + 1
            self._counters[kind] = n
            ph = f"<{kind}_{n}>"
            self._by_value[key] = ph
            self._originals[ph] = value
        return ph

    def values(self) -> frozenset[str]:
        return frozenset(self._originals.values())

    def restore(self, text: str) -> str:
        if not self._originals or "<" not in text:
            return text
        return _PLACEHOLDER.sub(lambda m: self._originals.get(m.group(0), m.group(0)), text)


def apply(text: str, spans: list[tuple[Finding, str]], vault: Vault | None, keep: frozenset[str] = frozenset()) -> str:
    """Replace each finding's span with its placeholder (or remove it when kind is ""). Values in
    `keep` (the caller's own, restored into the response) stay as they are."""
    out: list[str] = []
    pos = 0
    for f, kind in sorted(spans, key=lambda x: x[0].start or 0):
        assert f.start is not None and f.end is not None
        if f.start < pos:  # overlaps an earlier replacement
            continue
        value = text[f.start : f.end]
        if value in keep:
            continue
        out.append(text[pos : f.start])
        if kind:
            out.append(vault.placeholder(kind, value) if vault is not None else f"<{kind}>")
        pos = f.end
    out.append(text[pos:])
    return "".join(out)


def split_safe(text: str) -> int:
    """Index up to which `text` can be restored now: not inside a placeholder cut in two."""
    lt = text.rfind("<", max(0, len(text) - MAX_PLACEHOLDER_CHARS))
    return lt if lt >= 0 and ">" not in text[lt:] else len(text)
