"""Invisible and control Unicode: zero-width characters, bidi overrides, tag characters (used to
smuggle hidden instructions), and C0/C1 controls other than ordinary whitespace."""

from __future__ import annotations

import re

from guardrails.scanners.base import Scanner
from guardrails.types import Finding, ScanContext

_CLASSES: dict[str, str] = {
    "zero_width": "\u200b-\u200d\u2060\u2061-\u2064\ufeff\u180e",
    "bidi_control": "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c",
    "tag_chars": "\U000e0000-\U000e007f",
    "control": "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f",
    "private_use": "\ue000-\uf8ff",
}


class InvisibleTextScanner(Scanner):
    name = "invisible_text"
    redactable = True  # redaction removes the characters (placeholder-free, see policy)

    def __init__(self, classes: tuple[str, ...] = tuple(_CLASSES), *, name: str = "invisible_text") -> None:
        unknown = [c for c in classes if c not in _CLASSES]
        if unknown:
            raise ValueError(f"unknown character classes {unknown}; supported: {sorted(_CLASSES)}")
        self.name = name
        # one pass: the classes as named alternatives (they do not overlap); an ASCII text can only
        # hold C0 controls and DEL
        self._rx = re.compile("|".join(f"(?P<{c}>[{_CLASSES[c]}]+)" for c in classes))
        self._ascii_rx = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]") if "control" in classes else None

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        if text.isascii() and (self._ascii_rx is None or self._ascii_rx.search(text) is None):
            return []
        return [Finding(m.lastgroup or "", m.start(), m.end()) for m in self._rx.finditer(text)]
