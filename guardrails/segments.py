"""Scan a long text in overlapping segments, so no single scanner call runs for long.

Why: the gateway runs scans in worker threads to keep its event loop free, but a regex (or any C
call) over a whole 2 MiB text holds the GIL for 100-300 ms at a time, and the loop waits for it.
Segments of SEGMENT characters keep each call to a few milliseconds. They overlap by OVERLAP
characters so a match (an e-mail, a key, a card number) cut by one segment's end is seen whole in
the next; a span finding is kept from the segment in which it starts before the overlap, and the
cut-off rest of a match an earlier segment kept is dropped, so none is reported twice. Whole-text findings (the injection classifier's) are merged per rule, best score
first: a long text is judged segment by segment, and any segment can block it. Texts up to SEGMENT
characters (every text in the quality datasets) are scanned in one call, exactly as before.
"""

from __future__ import annotations

from guardrails.scanners.base import Scanner
from guardrails.types import Finding, ScanContext

SEGMENT = 16 * 1024
OVERLAP = 512  # longer than any span a scanner reports (keys, cards, IBANs, e-mail addresses)


def scan(scanner: Scanner, text: str, ctx: ScanContext) -> list[Finding]:
    if len(text) <= SEGMENT or scanner.needs_full_text:
        return scanner.scan(text, ctx)
    step = SEGMENT - OVERLAP
    spans: list[Finding] = []
    whole: dict[str, Finding] = {}
    covered = 0  # the furthest end of the spans kept from earlier segments
    for offset in range(0, len(text), step):
        last = offset + SEGMENT >= len(text)
        reach = covered
        for f in scanner.scan(text[offset:offset + SEGMENT], ctx):
            if f.start is not None and f.end is not None:
                start, end = f.start + offset, f.end + offset
                # starts in the overlap: the next segment sees it whole; starts inside a span an
                # earlier segment kept: the cut-off rest of that match
                if (last or f.start < step) and start >= covered:
                    spans.append(Finding(f.rule, start, end, f.score))
                    reach = max(reach, end)
            elif f.rule not in whole or f.score > whole[f.rule].score:
                whole[f.rule] = f
        covered = reach
        if last:
            break
    return [*spans, *whole.values()]
