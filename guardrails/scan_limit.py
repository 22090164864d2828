"""A policy's maximum scanned size: what to scan of a request's input texts, or a refusal.

Scanners cost about linear time in the text (~1.3 CPU-s per MiB for the default policy), so each
policy bounds the characters one request may have scanned (`max_scan_chars`, all its texts
together). Over it the policy either refuses (`oversize: reject`) or scans a head and a tail
(`head_tail`): the first half of the budget from the start of the first text on, the second half
backwards from the end of the last, and the middle passes unscanned. A match cut by a window's
edge can be missed; the partial scan is recorded as a `flag` outcome so audits can see it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from guardrails.config import PolicyConfig
from guardrails.types import GuardrailError, Outcome


def partial_outcome() -> Outcome:
    """What a head-and-tail scan records beside the scanners' own outcomes."""
    return Outcome("scan_limit", "input", "flag", "head_tail")


class ScanTooLarge(GuardrailError):
    """More input than the policy scans, with `oversize: reject`."""

    def __init__(self, chars: int, limit: int) -> None:
        super().__init__(f"{chars} characters to scan; the policy scans at most {limit}")
        self.chars = chars
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Window:
    """Scan text[:head] and text[len - tail:]; `whole` when they cover the text."""

    head: int
    tail: int
    length: int

    @property
    def whole(self) -> bool:
        return self.head + self.tail >= self.length

    @property
    def chars(self) -> int:
        return min(self.length, self.head + self.tail)


def plan(lengths: Sequence[int], policy: PolicyConfig) -> list[Window]:
    """One Window per text (in order). Raises ScanTooLarge over the limit with `oversize: reject`."""
    total = sum(lengths)
    limit = policy.max_scan_chars
    if total <= limit:
        return [Window(n, 0, n) for n in lengths]
    if policy.oversize == "reject":
        raise ScanTooLarge(total, limit)
    head_budget, tail_budget = limit // 2, limit - limit // 2
    heads = []
    for n in lengths:
        h = min(n, head_budget)
        head_budget -= h
        heads.append(h)
    tails = [0] * len(lengths)
    for i in range(len(lengths) - 1, -1, -1):
        t = min(lengths[i] - heads[i], tail_budget)
        tail_budget -= t
        tails[i] = t
    return [Window(h, t, n) for h, t, n in zip(heads, tails, lengths, strict=True)]
