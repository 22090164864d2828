"""System-prompt leakage: a canary token (configured, or one the hook plants in the system prompt)
showing up in the output means the model repeated its instructions."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence

from guardrails.scanners.base import Scanner
from guardrails.types import Finding, ScanContext


def new_canary() -> str:
    return f"CANARY-{secrets.token_hex(8)}"


class CanaryScanner(Scanner):
    name = "canary"
    redactable = True
    sensitive = True

    def __init__(self, canaries: Sequence[str] = (), *, name: str = "canary") -> None:
        self.name = name
        self.static = tuple(c for c in canaries if c)

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        out: list[Finding] = []
        for c in (*self.static, *ctx.canaries):
            out.extend(Finding("system_prompt_leak", m.start(), m.end()) for m in re.finditer(re.escape(c), text))
        return out
