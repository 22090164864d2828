"""How much trailing stream text each output scanner could still match: the stream guard holds
back only that, instead of a fixed window.

A `Holdback` answers, for the text a stream stage has not released yet (and a peek at the text
still behind it, `look`, which may yet change), the index from which that text must be held: the
start of a trailing run that could still grow into (or is) a match. Everything before it may be
released once it ends at a word boundary (`word_cut`). `context` is how many released characters a
scan of the next text needs in front of it (regex `\\b`, a keyword before a secret's value).

Scanners are looked up by type here (no scanner file is changed); a scanner may instead offer
`stream_holdback(ctx) -> Holdback | None` itself, which wins. `None` means the scanner's matches
cannot be bounded from the text: the stream keeps the policy's fixed `stream_window_chars` for it.

The per-scanner knowledge (over each scanner's public attributes, except the denylist's compiled
terms, which it keeps privately: read defensively, fixed window if their shape is not as expected):
- PII: the trailing token (no whitespace: e-mail, URL, IPv6, wallet, MAC), the trailing run of
  digits and separators (card, phone, SSN, IPv4, bank/passport numbers), an IBAN start (two capitals
  and a digit), each bounded by its entity's longest match.
- secrets: the trailing token (keys, tokens, `://user:pass@`, JWTs; every plugin's match is one
  token) and an unfinished PEM block (`-----BEGIN` without its `-----END`).
- canary / denylist substrings and topics: the longest suffix that is a prefix of a term.
- invisible text: nothing (removing a run in two pieces removes the same characters).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from guardrails.scanners import secrets as _secrets_module
from guardrails.scanners.base import Scanner
from guardrails.scanners.canary import CanaryScanner
from guardrails.scanners.pii import PiiScanner
from guardrails.scanners.rules import DenyListScanner
from guardrails.scanners.secrets import PLUGINS, SecretsScanner
from guardrails.scanners.unicode import InvisibleTextScanner
from guardrails.types import ScanContext


class Holdback(Protocol):
    @property
    def context(self) -> int:
        """Released characters a scan needs before the text it releases."""
        ...

    def hold(self, text: str, look: str) -> int:
        """Index in `text` from which it must be held (len(text): nothing)."""
        ...

    @property
    def right(self) -> int:
        """Characters after the released text a scan sees (of what is held or still arriving)."""
        ...

    def may_match(self, text: str) -> bool:
        """False only if no match of the scanner can overlap `text` (the text being released and
        what follows it): the stream then skips that scan."""
        ...


# Characters that end a token (an e-mail, a key, a URL never contains them).
_TOKEN_STOP = frozenset(' \t\n\r\f\v"<>()[],;\u00a0\u2028\u2029')
_DIGIT_RUN = frozenset("0123456789 -./()+[]\u00a0\u2010\u2011\u2012\u2013\u2014\u2212")
_DIGIT_START = frozenset("0123456789+([")
_IBAN_RUN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -")
_IBAN_START = re.compile(r"(?<![A-Z0-9])[A-Z]{2}[0-9]")
_PEM_BEGIN = "-----BEGIN"
_PEM_END = "-----END"

# Longest match per kind of run (characters): an e-mail is at most 254; a card 19 digits and 18
# separators; a phone number with its punctuation stays under 64; an IBAN 34 characters and 8
# separators.
TOKEN_MAX = 256
SECRET_TOKEN_MAX = 1024
DIGITS_MAX = 64
IBAN_MAX = 48
PEM_MAX = 16384


def _is_token(c: str) -> bool:
    return c not in _TOKEN_STOP and not c.isspace()


def _continues(look: str, inside: Callable[[str], bool]) -> bool:
    """Whether a run ending the text may go on: nothing seen after it yet, or it does."""
    return not look or inside(look[0])


def _class(chars: frozenset[str]) -> str:
    return "[" + "".join(re.escape(c) for c in sorted(chars)) + "]"


# The runs, matched on the reversed text (a forward match from its start is the trailing run).
_REV_TOKEN = re.compile(r"[^\s" + _class(_TOKEN_STOP)[1:] + "*")
_REV_DIGITS = re.compile(_class(_DIGIT_RUN) + "*")
_REV_IBAN = re.compile(_class(_IBAN_RUN) + "*")


def _trailing(text: str, rx: re.Pattern[str], bound: int) -> int:
    """Start of the trailing run of `rx`'s characters, at most `bound` back."""
    n = len(text)
    m = rx.match(text[: max(0, n - bound) - 1 if n > bound else None : -1])
    return n - m.end() if m else n


def token_hold(text: str, look: str, bound: int) -> int:
    n = len(text)
    if not n or not _is_token(text[-1]) or not _continues(look, _is_token):
        return n
    return _trailing(text, _REV_TOKEN, bound)


def digits_hold(text: str, look: str) -> int:
    n = len(text)
    inside = _DIGIT_RUN.__contains__
    if not n or not inside(text[-1]) or not _continues(look, inside):
        return n
    s = _trailing(text, _REV_DIGITS, DIGITS_MAX)
    for i in range(s, n):
        if text[i] in _DIGIT_START:
            return i
    return n


def iban_hold(text: str, look: str) -> int:
    n = len(text)
    inside = _IBAN_RUN.__contains__
    if not n or not inside(text[-1]) or not _continues(look, inside):
        return n
    m = _IBAN_START.search(text, _trailing(text, _REV_IBAN, IBAN_MAX))
    return m.start() if m else n


def pem_hold(text: str) -> int:
    i = text.rfind(_PEM_BEGIN, max(0, len(text) - PEM_MAX))
    if i < 0 or text.find(_PEM_END, i) >= 0:
        return len(text)
    return i


def terms_hold(text: str, look: str, terms: Sequence[str], folded: bool) -> int:
    """The earliest start of a suffix of `text` that, continued by `look`, is (or may become) a term."""
    n = len(text)
    longest = max((len(t) for t in terms), default=0)
    if not n or not longest:
        return n
    lo = max(0, n - longest + 1)
    tail = text[lo:] + look[:longest]
    if folded:
        tail = tail.lower()
    firsts = {t[0] for t in terms}
    for i in range(n - lo):
        if tail[i] not in firsts:
            continue
        for t in terms:
            if i + len(t) < n - lo:
                continue  # a whole match inside the text: the scan finds it, nothing to wait for
            c = tail[i : i + len(t)]
            if t.startswith(c) or c == t:
                return lo + i
    return n


# Every match of the default PII entities holds a digit (card, phone, SSN, IBAN, IPv4), an `@`
# (e-mail) or a `:` (IPv6); the scanner's own per-entity gates (pii._GATES) need one of them too.
_PII_NEEDS = re.compile(r"[0-9@:]")
_PII_NEEDS_ENTITIES = {"EMAIL_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN", "PHONE_NUMBER",
                       "US_ITIN", "US_PASSPORT", "US_BANK_NUMBER", "UK_NHS", "MAC_ADDRESS"}
# The secrets scanner runs its token plugins only on a text with an 11+ character token
# (secrets._NEEDS_LONG_TOKEN); the two it always runs need `://` (credentials in a URL) or a
# private key's header. A match overlapping the released text has its token there: the token and
# the PEM holds never release part of one. Of the long tokens, a word (letters, lower case after
# the first) shorter than 20 is none of the plugins' secrets: each has a digit, a capital, `_`,
# `-`, `.` or `=` in a fixed prefix or body (AKIA, ghp_, sk-, xox?-, eyJ, SG., AC/SK + hex ...), or
# is 24+ characters (the keyword-and-value plugins' values: Cloudant's 24 letters, IBM's 44).
_LONG_TOKEN = re.compile(r"[A-Za-z0-9_\-+/=]{11,}")
_ALWAYS_NEEDS = re.compile(r"://|PRIVATE KEY|PuTTY-User-Key-File")


def secrets_may_match(text: str) -> bool:
    if _ALWAYS_NEEDS.search(text) is not None:
        return True
    for m in _LONG_TOKEN.finditer(text):
        t = m.group(0)
        if len(t) >= 20 or not (t.isalpha() and t[1:].islower()):
            return True
    return False


def _anything(text: str) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class _Pii:
    tokens: bool
    digits: bool
    iban: bool
    needs: Callable[[str], object] = _anything
    context: int = 16
    right: int = 16

    def may_match(self, text: str) -> bool:
        return bool(self.needs(text))

    def hold(self, text: str, look: str) -> int:
        h = len(text)
        if self.tokens:
            h = min(h, token_hold(text, look, TOKEN_MAX))
        if self.digits:
            h = min(h, digits_hold(text, look))
        if self.iban:
            h = min(h, iban_hold(text, look))
        return h


@dataclass(frozen=True, slots=True)
class _Secrets:
    skip: bool = True
    kv: bool = False  # the connection-string rules are on
    # keyword-and-value plugins (IBM, SoftLayer, Azure `AccountKey=`) match the keyword before the value
    context: int = 96
    right: int = 16

    def may_match(self, text: str) -> bool:
        if not self.skip:
            return True
        return secrets_may_match(text) or (self.kv and _KV_NEEDS.search(text) is not None)

    def hold(self, text: str, look: str) -> int:
        h = min(token_hold(text, look, SECRET_TOKEN_MAX), pem_hold(text))
        if self.kv:
            # `Password=...;` counts beside another connection-string key up to KV_REACH characters
            # away, before or after: hold the keyword and its value until that much has followed
            for m in _KV_KEY.finditer(text, max(0, len(text) - KV_REACH)):
                h = min(h, m.start())
                break
        return h


@dataclass(frozen=True, slots=True)
class _Terms:
    terms: tuple[str, ...]
    folded: bool
    context: int = 8
    right: int = 16

    def may_match(self, text: str) -> bool:
        return True

    def hold(self, text: str, look: str) -> int:
        return terms_hold(text, look, self.terms, self.folded)


@dataclass(frozen=True, slots=True)
class _Nothing:
    context: int = 0
    right: int = 16

    def may_match(self, text: str) -> bool:
        return True

    def hold(self, text: str, look: str) -> int:
        return len(text)


_TOKEN_ENTITIES = {"EMAIL_ADDRESS", "URL", "CRYPTO", "IP_ADDRESS", "MAC_ADDRESS"}
_DIGIT_ENTITIES = {"CREDIT_CARD", "PHONE_NUMBER", "US_SSN", "US_ITIN", "US_PASSPORT", "US_BANK_NUMBER",
                   "UK_NHS", "IP_ADDRESS", "MAC_ADDRESS"}


def _pii(s: PiiScanner, ctx: ScanContext) -> Holdback | None:
    entities = set(s.entities)
    if entities - _TOKEN_ENTITIES - _DIGIT_ENTITIES - {"IBAN_CODE"}:
        return None
    return _Pii(tokens=bool(entities & _TOKEN_ENTITIES), digits=bool(entities & _DIGIT_ENTITIES),
                iban="IBAN_CODE" in entities,
                needs=_PII_NEEDS.search if entities <= _PII_NEEDS_ENTITIES else _anything)


# The connection-string rules (secrets.CONNECTION_STRINGS, guardrails/scanners/connection_strings.py):
# `scheme://user:pw@` is one token; `Password=...;` needs another key within KV_REACH characters.
KV_REACH = 300
_KV_KEY = re.compile(r"(?i)(?<![A-Za-z0-9_])(?:password|pwd)\s*=")
_KV_NEEDS = re.compile(r"://|(?i:p(?:ass)?w(?:or)?d\s*=)")


def _secrets(s: SecretsScanner, ctx: ScanContext) -> Holdback | None:
    names = set(s.plugin_names)
    cs = getattr(_secrets_module, "CONNECTION_STRINGS", None)
    kv = cs is not None and cs in names
    known = set(PLUGINS) | ({cs} if cs is not None else set())
    if kv:
        return _Secrets(skip=names <= known, kv=True, context=KV_REACH + 32, right=KV_REACH + 32)
    return _Secrets(skip=names <= known)


def _canary(s: CanaryScanner, ctx: ScanContext) -> Holdback | None:
    terms = tuple(c for c in (*s.static, *ctx.canaries) if c)
    return _Terms(terms, folded=False, context=0) if terms else _Nothing()


def _unescape_alternation(pattern: str) -> list[str] | None:
    """`a|b\\.c` (re.escape'd terms joined by |) back to its terms; None if it is not that shape."""
    terms, cur, i = [], [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            cur.append(pattern[i + 1])
            i += 2
            continue
        if c == "|":
            terms.append("".join(cur))
            cur = []
        elif c in ".^$*+?{}[]()":
            return None  # a regex metacharacter: not a list of escaped literals
        else:
            cur.append(c)
        i += 1
    terms.append("".join(cur))
    return [t for t in terms if t]


def _denylist(s: DenyListScanner, ctx: ScanContext) -> Holdback | None:
    rules: Any = getattr(s, "_rules", None)
    if not isinstance(rules, list):
        return None
    terms: list[str] = []
    folded = False
    for item in rules:
        try:
            name, rx = item
            pattern, flags = rx.pattern, rx.flags
        except (TypeError, ValueError, AttributeError):
            return None
        if name == "substring":
            body = pattern
        elif isinstance(name, str) and name.startswith("topic:") and pattern.startswith(r"\b(?:") \
                and pattern.endswith(r")\b"):
            body = pattern[len(r"\b(?:"): -len(r")\b")]
        else:
            return None  # a named regex: its matches cannot be bounded from here
        words = _unescape_alternation(body)
        if words is None:
            return None
        terms += words
        folded = folded or bool(flags & re.IGNORECASE)
    if not terms:
        return _Nothing()
    return _Terms(tuple(dict.fromkeys(t.lower() if folded else t for t in terms)), folded=folded)


def _invisible(s: InvisibleTextScanner, ctx: ScanContext) -> Holdback | None:
    return _Nothing()


_BY_TYPE: list[tuple[type[Scanner], Callable[[Any, ScanContext], Holdback | None]]] = [
    (PiiScanner, _pii), (SecretsScanner, _secrets), (CanaryScanner, _canary), (DenyListScanner, _denylist),
    (InvisibleTextScanner, _invisible),
]


def holdback_for(scanner: Scanner, ctx: ScanContext) -> Holdback | None:
    """The scanner's hold-back rule, or None (fixed window)."""
    own = getattr(scanner, "stream_holdback", None)
    if callable(own):
        result: Holdback | None = own(ctx)
        return result
    for cls, make in _BY_TYPE:
        if isinstance(scanner, cls):
            return make(scanner, ctx)
    return None


def _is_word(c: str) -> bool:
    return c.isalnum() or c == "_"


def word_cut(text: str, cut: int, look: str, *, max_word: int = 256) -> int:
    """The largest index <= `cut` that splits no word, with the whitespace before the next word
    left with it (so a release ends where a token such as ` word` begins). A word is released when
    whitespace or punctuation follows it; a run of word characters longer than `max_word` is cut."""
    n = len(text)
    c = min(cut, n)
    nxt = text[c] if c < n else (look[0] if look else "")
    if c and _is_word(text[c - 1]) and (nxt == "" or _is_word(nxt)):
        lo = max(0, c - max_word)
        while c > lo and _is_word(text[c - 1]):
            c -= 1
        if c == lo and lo > 0:
            c = min(cut, n)  # an endless word: cut it rather than hold it all
    while c and text[c - 1].isspace():
        c -= 1
    return c


_PLACEHOLDER_PREFIX = re.compile(r"<(?:[A-Z][A-Z_]*\d*)?")
# Longest placeholder the vault writes (redaction.MAX_PLACEHOLDER_CHARS).
PLACEHOLDER_MAX = 40


def placeholder_split(raw: str) -> int:
    """Index up to which upstream text can be restored now: not inside an unfinished placeholder
    (`<EMAIL_`). Only a trailing `<` that can still become one is held, not any `<`."""
    lt = raw.rfind("<", max(0, len(raw) - PLACEHOLDER_MAX))
    if lt < 0 or _PLACEHOLDER_PREFIX.fullmatch(raw, lt) is None:
        return len(raw)
    return lt
