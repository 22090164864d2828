"""The verdict vocabulary shared by scanners, the policy engine and the gateway hook.

Findings carry spans and rule names, never the matched text, so a verdict can be logged as is.
Outcomes carry their findings (rule, start, end) and the text's `Source` (which message, tool
output, tool-call arguments or retrieved document); only `Blocked.excerpt` holds any text: a short
window around the triggering span, with a secret's or PII value masked, for the client's error.
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


@dataclass(frozen=True, slots=True)
class Source:
    """Which text of a request or response a finding is in. `path` addresses it in the (chat-shaped)
    body: `messages[2].content`, `messages[1].content[0].text`, `input[3]`, `question`,
    `choices[0].message.content`, `choices[0].message.tool_calls[1].function.arguments`, or
    `documents[4]` for a retrieved chunk; `role` is the message's (user, tool, assistant, ...); `id`
    a retrieved document's or chunk's id."""

    path: str
    role: str | None = None
    id: str | None = None

    def as_dict(self) -> dict[str, str]:
        d = {"path": self.path}
        if self.role is not None:
            d["role"] = self.role
        if self.id is not None:
            d["id"] = self.id
        return d


class Blocked(GuardrailError):
    """A block rule matched. The message names scanner and rule and never the offending text.

    `finding` is the match that blocked (its span indexes the text as that rule saw it, i.e. after
    earlier rules' redactions), `source` the text it is in, `excerpt` a short window of that text
    around the span with a secret or PII value masked (the only text a verdict carries: meant for
    the client's error body, never for logs or outcomes)."""

    def __init__(self, scanner: str, rule: str, direction: Direction, *, finding: Finding | None = None,
                 source: Source | None = None, excerpt: str | None = None) -> None:
        super().__init__(f"{direction} blocked by guardrail scanner {scanner!r} (rule {rule!r})")
        self.scanner = scanner
        self.rule = rule
        self.direction = direction
        self.finding = finding
        self.source = source
        self.excerpt = excerpt


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
    """One rule's result on one text: its findings (rule and span, no text) and where the text is."""

    scanner: str
    direction: Direction
    action: Action
    rule: str | None = None
    latency_ms: float = 0.0
    count: int = 0
    findings: tuple[Finding, ...] = ()
    source: Source | None = None


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
