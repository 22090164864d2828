"""The scanner interface: text and context in, findings out. Scanners are pure and thread-safe."""

from __future__ import annotations

from abc import ABC, abstractmethod

from guardrails.types import Finding, ScanContext


class Scanner(ABC):
    name: str = "scanner"
    # Whether findings carry spans that can be replaced by typed placeholders.
    redactable: bool = False
    # Whether the scanner needs the whole text (JSON validity): in streams it runs at the end only.
    needs_full_text: bool = False
    # Whether a match is a value that must not be echoed (a secret, PII, a canary): an error's
    # excerpt masks it.
    sensitive: bool = False

    @abstractmethod
    def scan(self, text: str, ctx: ScanContext) -> list[Finding]: ...

    def warm(self) -> None:
        """Load models or compile patterns ahead of the first request."""
