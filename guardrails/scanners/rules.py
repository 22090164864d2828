"""Deny lists: substrings, regexes and topics (a topic is a named list of keywords/phrases)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from guardrails.scanners.base import Scanner
from guardrails.types import Finding, ScanContext


class DenyListScanner(Scanner):
    name = "denylist"
    redactable = True

    def __init__(
        self,
        *,
        substrings: Sequence[str] = (),
        regexes: Mapping[str, str] | Sequence[str] = (),
        topics: Mapping[str, Sequence[str]] | None = None,
        case_sensitive: bool = False,
        name: str = "denylist",
    ) -> None:
        self.name = name
        flags = 0 if case_sensitive else re.IGNORECASE
        self._rules: list[tuple[str, re.Pattern[str]]] = []
        if substrings:
            alt = "|".join(re.escape(s) for s in sorted(substrings, key=len, reverse=True) if s)
            self._rules.append(("substring", re.compile(alt, flags)))
        named = regexes.items() if isinstance(regexes, Mapping) else ((f"regex_{i}", r) for i, r in enumerate(regexes))
        for rule, pattern in named:
            try:
                self._rules.append((rule, re.compile(pattern, flags)))
            except re.error as e:
                raise ValueError(f"denylist regex {rule!r} does not compile: {e}") from e
        for topic, phrases in (topics or {}).items():
            words = [re.escape(p) for p in phrases if p]
            if words:
                # word boundaries so "art" does not match "start"
                self._rules.append((f"topic:{topic}", re.compile(r"\b(?:" + "|".join(words) + r")\b", flags)))

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        out: list[Finding] = []
        for rule, rx in self._rules:
            out.extend(Finding(rule, m.start(), m.end()) for m in rx.finditer(text) if m.end() > m.start())
        return out
