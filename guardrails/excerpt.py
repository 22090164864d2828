"""A short window of text around the span that triggered a block, for the client's error.

The excerpt is the only text a verdict carries, and it is meant for the 400 body alone (never for
logs, outcomes or spans). Values a sensitive scanner found (a secret, an e-mail, a card) are masked
with `****`, so the error names *where* the problem is without echoing a credential:
`postgres://app:****@db.internal/x`. Control and invisible characters are shown escaped
(`\\u200b`), since they would otherwise be invisible in the error too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "****"
WIDTH = 60  # characters of text around (and including) the span, before masking and escaping
_INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f"
                        r"\ufeff\ufff9-\ufffb\U000e0000-\U000e007f]")


def excerpt(text: str, start: int | None, end: int | None, masks: Iterable[tuple[int, int]] = (),
            width: int = WIDTH) -> str:
    """About `width` characters of `text` centred on text[start:end] (the text's head for a whole-
    text finding), "…" where cut, every (s, e) in `masks` that overlaps the window replaced by
    MASK. A span longer than the window is shown by its head."""
    n = len(text)
    if start is None or end is None:
        lo, hi = 0, min(n, width)
    else:
        start, end = max(0, min(start, n)), max(0, min(end, n))
        room = max(0, width - (end - start))
        lo = max(0, start - room // 2)
        hi = min(n, max(end, lo + width) if end - start <= width else start + width)
        lo = max(0, min(lo, hi - width))
    spans = sorted((max(s, lo), min(e, hi)) for s, e in masks if s < hi and e > lo)
    out: list[str] = ["…"] if lo > 0 else []
    pos = lo
    for s, e in spans:
        if e <= pos:
            continue
        out.append(text[pos:max(pos, s)])
        out.append(MASK)
        pos = e
    out.append(text[pos:hi])
    if hi < n:
        out.append("…")
    shown = "".join(out)
    shown = shown.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace("\t", " ")
    return _INVISIBLE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", shown)
