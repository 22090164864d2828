"""Values a client sent, made safe to echo in an error body or a log line.

A client controls model names, ids and paths; the gateway repeats them in 404 messages, access log
lines and spans. Unbounded, one request with a 1 MB model name writes megabytes of log; with a
newline in it, a plain-text log line can be forged. So echoed text is clipped (with a marker saying
how much was cut) and, where lines matter, has its control characters escaped.
"""

from __future__ import annotations

import re

MAX_ECHO_CHARS = 512

# C0 controls (newline, carriage return, escape, ...), DEL, C1 controls, and the Unicode line and
# paragraph separators that some log viewers also break lines on.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def clip(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """`text` cut to `limit` characters, ending with `…[+N chars]` when anything was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[+{len(text) - limit} chars]"


def _escape(m: re.Match[str]) -> str:
    ch = m.group(0)
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def escape_controls(text: str) -> str:
    """`text` on one line: control characters written as escapes (`\\n`, `\\x1b`, `\\u2028`)."""
    return _CONTROL.sub(_escape, text)
