"""PII detection with Presidio's pattern recognizers and no NER model.

The recognizers are imported from their own modules, without `presidio_analyzer`'s package
imports, which pull in spaCy and the analyzer engine (~70 MiB; presidio_lite.py).

Presidio 2.2.366's pattern recognizers (regex + checksum validation; phonenumbers for phones)
need no NLP artifacts, so we run them without any NLP engine or spaCy model. We chose that
over a spaCy model because no official small model is installable offline here and pattern-
verifiable entities (e-mail, Luhn-checked cards, IBAN with its mod-97 check, IP, SSN, phone) are
what a gateway must catch reliably and fast. Names, locations and organisations are therefore
NOT detected; the README says so.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

from guardrails.scanners.base import Scanner
from guardrails.types import Finding, ScanContext, ScannerError

# Entities we claim (measured in README). Others may be enabled explicitly.
DEFAULT_ENTITIES: tuple[str, ...] = (
    "EMAIL_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN", "PHONE_NUMBER",
)

# Presidio recognizer classes by the entity they produce.
_RECOGNIZERS: dict[str, str] = {
    "EMAIL_ADDRESS": "EmailRecognizer",
    "CREDIT_CARD": "CreditCardRecognizer",
    "IBAN_CODE": "IbanRecognizer",
    "IP_ADDRESS": "IpRecognizer",
    "US_SSN": "UsSsnRecognizer",
    "PHONE_NUMBER": "PhoneRecognizer",
    "URL": "UrlRecognizer",
    "CRYPTO": "CryptoRecognizer",
    "MAC_ADDRESS": "MacAddressRecognizer",
    "US_ITIN": "UsItinRecognizer",
    "US_PASSPORT": "UsPassportRecognizer",
    "US_BANK_NUMBER": "UsBankRecognizer",
    "UK_NHS": "NhsRecognizer",
}

# Placeholder type names (`<EMAIL_1>`), shorter than Presidio's entity names.
PLACEHOLDER_TYPE: dict[str, str] = {
    "EMAIL_ADDRESS": "EMAIL",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP",
    "US_SSN": "SSN",
    "PHONE_NUMBER": "PHONE",
}


def supported_entities() -> list[str]:
    return sorted(_RECOGNIZERS)


# Cheap prechecks: a recognizer only runs when its entity could be in the text at all. They only
# skip work; Presidio's recognizer (regex + checksum / phonenumbers) still decides every match.
_GATES: dict[str, re.Pattern[str]] = {
    "EMAIL_ADDRESS": re.compile(r"@"),
    "CREDIT_CARD": re.compile(r"\d(?:[- ]?\d){11}"),
    "IBAN_CODE": re.compile(r"[A-Za-z]{2}\d{2}"),
    "IP_ADDRESS": re.compile(r"\d\.\d|[0-9A-Fa-f]:[0-9A-Fa-f]|::"),
    "US_SSN": re.compile(r"\d{3}[- .]?\d{2}[- .]?\d{4}"),  # Presidio's five SSN patterns all need this
    "PHONE_NUMBER": re.compile(r"\d(?:[\s\-().]{0,3}\d){6}"),
    "US_ITIN": re.compile(r"9\d{2}[- ]?\d{2}[- ]?\d{4}"),
    "US_PASSPORT": re.compile(r"\d{6}"),
    "US_BANK_NUMBER": re.compile(r"\d{8}"),
    "UK_NHS": re.compile(r"\d{3}[- ]?\d{3}[- ]?\d{4}"),
    "MAC_ADDRESS": re.compile(r"[0-9A-Fa-f]{2}[:-][0-9A-Fa-f]{2}"),
}
# The same gates, taken apart where one cheap test answers first: "@" for e-mail; a digit for every
# gate that needs one; IP as IPv4 (a digit) or IPv6 (a colon).
_DIGIT = re.compile(r"\d")
_IPV4_GATE = re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d")  # a dotted quad (IPv4-in-IPv6 needs ":" too)
_IPV6_GATE = re.compile(r"[0-9A-Fa-f]:[0-9A-Fa-f]|::")
_DIGIT_GATED = frozenset({"CREDIT_CARD", "IBAN_CODE", "US_SSN", "PHONE_NUMBER", "US_ITIN", "US_PASSPORT",
                          "US_BANK_NUMBER", "UK_NHS"})


class PiiScanner(Scanner):
    name = "pii"
    redactable = True
    sensitive = True

    def __init__(
        self,
        entities: Sequence[str] = DEFAULT_ENTITIES,
        *,
        score_threshold: float = 0.3,
        phone_regions: Sequence[str] = ("US", "UK", "DE", "FR", "IL", "IN", "CA", "BR"),
        name: str = "pii",
        phone_windows: bool = True,
        gates: bool = True,
    ) -> None:
        unknown = [e for e in entities if e not in _RECOGNIZERS]
        if unknown:
            raise ValueError(f"unknown PII entities {unknown}; supported: {supported_entities()}")
        self.name = name
        self.entities = list(entities)
        self.score_threshold = score_threshold
        self.phone_regions = list(phone_regions)
        self.phone_windows = phone_windows
        self.gates = gates  # False: every recognizer runs on every text (tests compare the two)
        self._recognizers: list[tuple[str, Any]] | None = None
        self._lock = threading.Lock()

    def warm(self) -> None:
        self._get_recognizers()

    def _get_recognizers(self) -> list[tuple[str, Any]]:
        if self._recognizers is None:
            with self._lock:
                if self._recognizers is None:
                    self._recognizers = [(e, _build_recognizer(e, self.phone_regions)) for e in self.entities]
        return self._recognizers

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        if not text:
            return []
        # Recognizers are called directly rather than through AnalyzerEngine: with a no-op NLP
        # engine the engine adds nothing but per-call overhead (~2x here).
        results: list[Any] = []
        digit = _DIGIT.search(text) is not None  # most gates need one: one search answers them all
        gates = self.gates
        for entity, recognizer in self._get_recognizers():
            if not gates:
                pass
            elif entity == "EMAIL_ADDRESS":
                if "@" not in text:
                    continue
            elif entity == "IP_ADDRESS":
                if not ((digit and _IPV4_GATE.search(text) is not None)
                        or (":" in text and _IPV6_GATE.search(text) is not None)):
                    continue
            elif entity in _DIGIT_GATED:
                if not digit or _GATES[entity].search(text) is None:
                    continue
            else:
                gate = _GATES.get(entity)
                if gate is not None and gate.search(text) is None:
                    continue
            try:
                if entity == "PHONE_NUMBER" and self.phone_windows:
                    found = _analyze_windows(recognizer, entity, _mask(text, results, recognizer))
                else:
                    found = recognizer.analyze(text, [entity], None)
            except (ValueError, RuntimeError) as e:
                raise ScannerError(self.name, f"{entity}: {type(e).__name__}") from e
            results.extend(r for r in found if r.score >= self.score_threshold)
        results = _drop_overlaps(results)
        return [Finding(r.entity_type, r.start, r.end, float(r.score)) for r in results
                if r.entity_type != "IP_ADDRESS" or not is_version_number(text, r.start, r.end)]


# A dotted quad read as an IPv4 address is a version number when (a) it is glued to a "v"
# ("v4.0.0.1") or to more dotted groups ("1.2.3.4.5", "10.0.0.1.2"), or carries a pre-release or
# build suffix ("1.2.3.4-beta", "1.2.3.4+build7"), or (b) the words right before it name a version:
# version/ver/v/release/build/patch/firmware/upgrade/update/downgrade or a product that is
# versioned so (Chrome, Firefox, Windows, iOS, Android, Python, OpenSSL, ...), joined to it by at most
# "to"/"from"/"is"/"of"/":"/"="/"/" ("upgrade to 10.2.0.1", "Chrome/120.0.0.1", "version: 1.2.3.4");
# one that follows another dotted number and "to"/"and"/"or"/","/"-" is what that one is.
# A port or prefix length after it ("10.2.0.1:5432", "10.0.0.0/8") or an address word before it
# ("IP", "host", "server", "address", "connect to") keeps it an address whatever else is near.
_VERSION_WORDS = (r"version|ver|vers|v|release|rel|build|patch|firmware|fw|bios|kernel|upgrade|upgraded|upgrading|"
                  r"update|updated|updating|downgrade|downgraded|downgrading|"
                  r"chrome|chromium|firefox|safari|opera|windows|macos|ios|ipados|android|"
                  r"python|nodejs|java|jdk|rust|php|ruby|perl|sdk|driver|package|pkg|tag|libc|openssl")
# (words that also name hosts — node, app, api, redis, postgres, nginx, linux — are left out:
# "node 10.0.0.5", "redis: 10.0.0.3" are addresses)
_VERSION_BEFORE = re.compile(r"(?i)\b(?:" + _VERSION_WORDS + r")\.?"
                             r"(?:\s*[:=/#]\s*|\s+(?:(?:to|from|is|of|was|=|number|no\.?)\s+)*)v?$")
_ADDRESS_BEFORE = re.compile(r"(?i)\b(?:ip|ipv4|host|hostname|server|address|addr|gateway|dns|subnet|ping|ssh|"
                             r"connect|connecting|connected)\b[^.\n]{0,20}$")
_VERSION_GLUE_BEFORE = re.compile(r"(?:[vV]|\d\.)$")
_VERSION_GLUE_AFTER = re.compile(r"\.\d|[-+~][A-Za-z]")
_ADDRESS_AFTER = re.compile(r":\d|/\d")
_PREV_DOTTED = re.compile(r"(?<![\d.])(\d+(?:\.\d+){2,})\s*(?:to|->|→|and|or|,|-)\s*$")


def is_version_number(text: str, start: int, end: int) -> bool:
    """Whether the IPv4-looking text[start:end] is a version number in its context (see above)."""
    if ":" in text[start:end]:  # IPv6
        return False
    after = text[end:end + 2]
    if _ADDRESS_AFTER.match(after):
        return False
    before = text[max(0, start - 40):start]
    if _VERSION_GLUE_BEFORE.search(before) or _VERSION_GLUE_AFTER.match(after):
        return True
    if _ADDRESS_BEFORE.search(before):
        return False
    prev = _PREV_DOTTED.search(before)  # "from 1.1.0.9 to 1.1.0.8": as the first one is
    if prev is not None:
        off = start - len(before)
        return is_version_number(text, off + prev.start(1), off + prev.end(1))
    return _VERSION_BEFORE.search(before) is not None


def _build_recognizer(entity: str, phone_regions: Sequence[str]) -> Any:
    # the recognizer modules alone, not presidio_analyzer's package imports (spaCy): presidio_lite.py
    from guardrails.scanners.presidio_lite import recognizer_class

    if entity == "PHONE_NUMBER":
        return recognizer_class("PhoneRecognizer")(supported_regions=list(phone_regions))
    if entity == "CREDIT_CARD":
        return recognizer_class("CreditCardRecognizer")(patterns=[CARD_PATTERN()])
    if entity == "EMAIL_ADDRESS":
        return _offline_email_recognizer()
    return recognizer_class(_RECOGNIZERS[entity])()


def CARD_PATTERN() -> Any:
    """12-19 digits from the card IIN ranges (1800/2131 JCB, 2-series Mastercard, 5x Maestro, 19-digit
    Visa), optionally grouped by spaces or dashes. Presidio's own pattern misses these; the Luhn
    check in CreditCardRecognizer.validate_result still decides."""
    from guardrails.scanners.presidio_lite import pattern_class

    return pattern_class()("card 12-19 digits (Luhn-checked)", r"\b[1-6]\d{3}(?:[- ]?\d){8,15}\b", 0.3)


def _offline_email_recognizer() -> Any:
    """Presidio validates e-mail domains with tldextract, which fetches the public suffix list over
    the network on first use; this one uses tldextract's bundled snapshot only."""
    import tldextract

    from guardrails.scanners.presidio_lite import recognizer_class

    EmailRecognizer: Any = recognizer_class("EmailRecognizer")

    extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return extract(pattern_text).fqdn != ""

    return OfflineEmailRecognizer()


# Context kept on each side of a phone-like digit run: phonenumbers looks at the characters around
# a candidate (a letter or digit glued to it rejects it; "ext. 123" extends it), never further.
PHONE_WINDOW_PAD = 40


def _mask(text: str, found: list[Any], recognizer: Any) -> str:
    """Blank out (same length, offsets kept) what other recognizers already found with a higher
    score than this one gives (Presidio's phone score is 0.4; a Luhn-checked card is 1.0): an
    overlapping match of this one would lose to them anyway, and a card's 16 digits are otherwise
    parsed as phone candidates once per region."""
    score = getattr(recognizer, "SCORE", 1.0)
    spans = [(r.start, r.end) for r in found if r.score > score]
    if not spans:
        return text
    chars = list(text)
    for s, e in spans:
        chars[s:e] = " " * (e - s)
    return "".join(chars)


def _analyze_windows(recognizer: Any, entity: str, text: str) -> list[Any]:
    """Run the phone recognizer only on windows around the gate's digit runs, not the whole text.

    Presidio's PhoneRecognizer runs phonenumbers' matcher over the whole text once per region, so
    its cost grows with text length x regions even when a 1 KB prompt holds one number. Windows
    around every run of 7+ digits (merged when they touch) give the same matches for a fraction of
    the text; offsets are shifted back. A phone now needs 7+ digits in its own run, not anywhere in
    the text (README: one ZIP code in the PII set is no longer read as a phone)."""
    windows: list[list[int]] = []
    for m in _GATES[entity].finditer(text):
        lo, hi = max(0, m.start() - PHONE_WINDOW_PAD), min(len(text), m.end() + PHONE_WINDOW_PAD)
        if windows and lo <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], hi)
        else:
            windows.append([lo, hi])
    if len(windows) == 1 and windows[0] == [0, len(text)]:
        return recognizer.analyze(text, [entity], None)
    found: dict[tuple[int, int], Any] = {}
    for lo, hi in windows:
        for r in recognizer.analyze(text[lo:hi], [entity], None):
            r.start, r.end = r.start + lo, r.end + lo
            found.setdefault((r.start, r.end), r)
    return list(found.values())


def _drop_overlaps(results: list[Any]) -> list[Any]:
    """Keep the highest-scoring, then longest, of overlapping results (Presidio keeps both types)."""
    ordered = sorted(results, key=lambda r: (-r.score, -(r.end - r.start), r.start))
    kept: list[Any] = []
    for r in ordered:
        if all(r.end <= k.start or r.start >= k.end for k in kept):
            kept.append(r)
    return sorted(kept, key=lambda r: r.start)
