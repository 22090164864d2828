"""The verdict vocabulary shared by scanners, the policy engine and the gateway hook.

Findings carry spans and rule names, never the matched text, so a verdict can be logged as is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Direction = Literal["input", "output"]
Action = Literal["pass", "flag", "redact", "block", "error"]


class GuardrailError(Exception):
    """Base of this package's exceptions."""


class ScannerError(GuardrailError):
    """A scanner failed to run; the policy's fail mode decides what happens."""

    def __init__(self, scanner: str, reason: str) -> None:
        super().__init__(f"scanner {scanner!r} failed: {reason}")
        self.scanner = scanner
        self.reason = reason


class Blocked(GuardrailError):
    """A block rule matched. The message names scanner and rule and never the offending text."""

    def __init__(self, scanner: str, rule: str, direction: Direction) -> None:
        super().__init__(f"{direction} blocked by guardrail scanner {scanner!r} (rule {rule!r})")
        self.scanner = scanner
        self.rule = rule
        self.direction = direction


@dataclass(frozen=True, slots=True)
class Finding:
    """One match. `start`/`end` index the scanned text (end exclusive); None for whole-text rules."""

    rule: str
    start: int | None = None
    end: int | None = None
    score: float = 1.0

    @property
    def has_span(self) -> bool:
        return self.start is not None and self.end is not None


@dataclass(frozen=True, slots=True)
class ScanContext:
    """What a scanner may know besides the text."""

    direction: Direction = "input"
    canaries: tuple[str, ...] = ()
    json_schema: dict[str, Any] | None = None  # response_format's schema, for output checks
    expect_json: bool = False
    final: bool = True  # False while scanning a partial stream window


@dataclass(slots=True)
class Outcome:
    scanner: str
    direction: Direction
    action: Action
    rule: str | None = None
    latency_ms: float = 0.0
    count: int = 0


@dataclass(slots=True)
class Verdict:
    """The result of applying one direction of a policy to a text."""

    text: str  # the text to send on (redacted where a redact rule matched)
    action: Action = "pass"  # the strongest action taken
    outcomes: list[Outcome] = field(default_factory=list)
    blocked: Blocked | None = None

    @property
    def changed(self) -> bool:
        return self.action == "redact"
