"""CPU per call of the secret scrubber (gateway/telemetry/scrub.py), against a baseline in the same run.

  baseline   the scrubber as it was before detect-secrets' rules (16 regexes run on every call)
  scrubber   today's: our rules plus detect-secrets' plugin regexes (~70), each run only when one
             of its literal triggers is in the text

on four texts a log line or span carries: an access-log line, a 2 kB upstream error message, a
3 kB traceback, and 40 kB of prompt text (content recording on). The clean-string memo is cleared
before every call, so this is the cost of a string seen for the first time.

Run: .venv/bin/python bench/scrub_bench.py [ROUNDS]
"""

from __future__ import annotations

import re
import sys
import timeit
from collections.abc import Callable

from gateway.telemetry import scrub

SAMPLES = {
    "access line": "chat.completions gpt-4o-mini -> 200 deployment=gpt-4o/openai/gpt-4o#0 attempts=1 latency_ms=12.5",
    "2 kB error": ("upstream returned HTTP 400: the request was invalid because max_tokens exceeded the context "
                   "window of this model; reduce the prompt or max_tokens. request 0f3c9a2e1b status 400 ts "
                   "1760000000.123 ") * 10,
    "3 kB traceback": "".join(f'  File "/srv/app/gateway/engine/router.py", line {i}, in _call\n    result = '
                              "await op(st, min(st.deployment.timeout_s, remaining))\n" for i in range(25)),
    "40 kB prompt": "The river flows through the valley and the people who live along it fish for trout. " * 480,
}

_R = "[REDACTED]"
# The rule list of gateway/telemetry/scrub.py before this change, kept here as the baseline.
_BASELINE: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"), _R),
    (re.compile(r"(?i)\b((?:proxy-)?authorization|x-api-key|api-key|x-goog-api-key|cookie|set-cookie)"
                r"(['\"]?\s*[:=]\s*['\"]?)((?:(?:bearer|basic|token)\s+)?[^\s'\",;}]+)"),
     lambda m: f"{m.group(1)}{m.group(2)}{_R}"),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{6,}"), f"Bearer {_R}"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"), _R),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), _R),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}\b"), _R),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), _R),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), _R),
    (re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"), _R),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), _R),
    (re.compile(r"(?i)\b(api[_-]?key|secret|client[_-]?secret|password|passwd|pwd|token|access[_-]?token|"
                r"refresh[_-]?token|access[_-]?key|secret[_-]?key|master[_-]?key|private[_-]?key|virtual[_-]?key)"
                r"(['\"]?\s*[:=]\s*['\"]?)([^\s'\",;}&]{4,})"), lambda m: f"{m.group(1)}{m.group(2)}{_R}"),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@:]+:[^\s/@]+@"), lambda m: f"{m.group(1)}{_R}@"),
    (re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"), "[EMAIL]"),
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), "[SSN]"),
    (re.compile(r"(?<![\w.])\+?\d{1,3}[ .-]?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b"), "[PHONE]"),
    (re.compile(r"\b(?:4\d{3}|5[1-5]\d{2}|3[47]\d{2}|6011)(?:[ -]?\d{4}){2}[ -]?\d{1,4}\b"), "[CARD?]"),
]


def baseline(text: str) -> str:
    for pattern, repl in _BASELINE:
        text = pattern.sub(repl, text)
    return text


def scrubber(text: str) -> str:
    scrub._CLEAN.clear()
    return scrub.scrub_text(text)


def per_call_us(fn: Callable[[str], str], text: str) -> float:
    n = 2000 if len(text) < 5000 else 100
    return timeit.timeit(lambda: fn(text), number=n) / n * 1e6


def main(rounds: int) -> None:
    print(f"{len(scrub.RULES)} rules; best of {rounds} alternating rounds, µs per call")
    print(f"{'text':16s} {'baseline':>10s} {'scrubber':>10s} {'ratio':>7s}")
    for name, text in SAMPLES.items():
        base = best = float("inf")
        for _ in range(rounds):  # alternate, so a burst of load on the machine hits both
            base = min(base, per_call_us(baseline, text))
            best = min(best, per_call_us(scrubber, text))
        print(f"{name:16s} {base:10.1f} {best:10.1f} {best / base:7.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
