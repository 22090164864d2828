"""Max input tokens. Counts with a tokenizer callable if given (e.g. tiktoken's encode), otherwise
estimates ~4 characters per token, which over-counts code and under-counts CJK: say so in config."""

from __future__ import annotations

from collections.abc import Callable

from guardrails.scanners.base import Scanner
from guardrails.types import Finding, ScanContext


class MaxTokensScanner(Scanner):
    name = "max_tokens"
    needs_full_text = True

    def __init__(
        self, max_tokens: int, *, count: Callable[[str], int] | None = None, name: str = "max_tokens"
    ) -> None:
        if max_tokens <= 0:
            raise ValueError("max_tokens must be positive")
        self.name = name
        self.max_tokens = max_tokens
        self._count = count or (lambda s: (len(s) + 3) // 4)

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        n = self._count(text)
        return [Finding("max_tokens_exceeded", score=float(n))] if n > self.max_tokens else []
