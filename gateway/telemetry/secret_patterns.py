"""What the scrubber (gateway/telemetry/scrub.py) treats as a credential or as PII: our own patterns,
then the regular expressions of detect-secrets' plugins.

Each rule carries `triggers`, literal substrings of which every match contains at least one. The
scrubber runs a rule's regex only when one of them is in the text: `str.__contains__` scans
gigabytes a second, a regex with a leading `\\b` or look-behind tries every position. Triggers are
only a speed filter, so a rule with none always runs; a wrong trigger would hide secrets, which
tests/telemetry/test_secret_corpus.py checks against a corpus of real token formats.

From detect-secrets we take its plugins' `denylist` regexes, not its scanner: the scanner wants
files and lines, costs milliseconds a call and would verify secrets over the network.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, cast

REDACTED = "[REDACTED]"

# The text a rule's triggers are looked for in: as it is, lower-cased (for case-insensitive rules),
# or with every digit written as 0 (so "000-0000" finds any phone-shaped digits).
View = Literal["raw", "lower", "digits"]
DIGITS_AS_ZERO = str.maketrans("123456789", "000000000")

Repl = str | Callable[[re.Match[str]], str]


@dataclass(frozen=True, slots=True)
class Rule:
    pattern: re.Pattern[str]
    repl: Repl
    triggers: tuple[str, ...] = ()  # () = always run
    view: View = "raw"  # where the triggers and the gate are looked for
    source: str = "sluicegate"  # or the detect-secrets plugin class it came from
    # a cheap regex every match also satisfies, searched (in the view) before the rule's own, for
    # rules whose literals are too common ("key", "token") or absent
    gate: re.Pattern[str] | None = None


# A secret-naming word right before an assignment (`password=`, `"token": `, `api_key = `), in
# lower-cased text. "max_tokens exceeded" is no match, so most text skips the keyword rules,
# whose leading look-behinds make them the slowest.
_KEYWORD_GATE = re.compile(r"(?:key|pwd|pw|passwd|password|pass|token|secret)[\"'\]]{0,2}\s*(?:[:=]|\s)")
# detect-secrets builds its keyword rules with this assignment group (build_assignment_regex)
_DS_ASSIGNMENT = "(?:=|:|:=|=>| +|::)"


def _keep_name(m: re.Match[str]) -> str:
    return f"{m.group(1)}{m.group(2)}{REDACTED}"


# Where a key name or a token may start: not after a letter or digit. `\b` would also refuse `_`
# (so `db_password=` slipped through) and the `n` of an escaped newline (`...\npassword=`).
_NAME_START = _START = r"(?:(?<=\\[nrt])|(?<![A-Za-z0-9]))"

# Header-like names whose whole value is a credential ("Authorization: Bearer x", "x-api-key=y").
_HEADER_VALUE = re.compile(
    _NAME_START + r"(?i:((?:proxy-)?authorization|x-api-key|api-key|x-goog-api-key|cookie|set-cookie))"
    r"(['\"]?\s*[:=]\s*['\"]?)"
    r"((?i:(?:bearer|basic|token)\s+)?[^\s'\",;}]+)"
)
# key=value / "key": "value" where the key names a secret; "max_tokens=" is no match (the name must
# end right before the separator).
_NAMED_SECRET = re.compile(
    _NAME_START + r"(?i:(api[_-]?key|secret|client[_-]?secret|password|passwd|pwd|token|access[_-]?token|"
    r"refresh[_-]?token|access[_-]?key|secret[_-]?key|secret[_-]?access[_-]?key|master[_-]?key|"
    r"private[_-]?key|virtual[_-]?key|auth[_-]?token))"
    r"(['\"]?\s*[:=]\s*['\"]?)"
    r"([^\s'\",;}&]{4,})"
)


def _r(pattern: str, *triggers: str, repl: Repl = REDACTED, view: View = "raw",
       gate: re.Pattern[str] | None = None) -> Rule:
    return Rule(re.compile(pattern), repl, tuple(triggers), view, gate=gate)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group(0))
    return "[CARD]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else m.group(0)


# Applied in order, before detect-secrets' rules; a later rule never sees what an earlier replaced.
OWN_RULES: list[Rule] = [
    # a PEM private key, also one cut off before its END line (a clipped log value)
    _r(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", "PRIVATE KEY"),
    _r(_HEADER_VALUE.pattern, "authorization", "api-key", "cookie", repl=_keep_name, view="lower"),
    _r(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{6,}", "bearer", repl=f"Bearer {REDACTED}", view="lower"),
    # provider and virtual keys: sk-..., sk-proj-..., sk-ant-..., sk-sluice-... (sluicegate keys keep the prefix)
    _r(_START + r"sk-[A-Za-z0-9_-]{6,}", "sk-"),
    # Stripe secret and restricted keys (live and test; today's are ~100 characters) and webhook secrets
    _r(_START + r"[rs]k_(?:live|test)_[0-9A-Za-z]{16,}", "k_live_", "k_test_"),
    _r(_START + r"whsec_[0-9A-Za-z+/=]{20,}", "whsec_"),
    _r(_START + r"AKIA[0-9A-Z]{16}\b", "AKIA"),
    _r(_START + r"gh[pousr]_[A-Za-z0-9]{20,}\b", "ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    _r(_START + r"github_pat_[A-Za-z0-9_]{22,}", "github_pat_"),
    # GitLab tokens, also the newer routable ones with dots (glpat-<payload>.01.<crc>)
    _r(_START + r"gl(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas|ffct|rtr)-[A-Za-z0-9_.-]{20,}",
       "glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "glcbt-", "glimt-", "glptt-", "glagent-", "gloas-",
       "glffct-", "glrtr-"),
    _r(_START + r"npm_[A-Za-z0-9]{36}\b", "npm_"),
    _r(_START + r"xox[abprse]-[A-Za-z0-9-]{10,}", "xox"),
    _r(_START + r"AIza[0-9A-Za-z_-]{35}\b", "AIza"),
    _r(_START + r"ya29\.[0-9A-Za-z_-]{20,}", "ya29."),
    _r(_START + r"hf_[A-Za-z0-9]{30,}\b", "hf_"),
    # other model providers' keys a gateway is handed: Groq, Replicate, xAI, Perplexity
    _r(_START + r"(?:gsk_|r8_|xai-|pplx-)[A-Za-z0-9]{32,}", "gsk_", "r8_", "xai-", "pplx-"),
    _r(_START + r"dop_v1_[a-f0-9]{64}\b", "dop_v1_"),
    # JFrog Artifactory API keys; detect-secrets' rule wants a space or quote around them
    _r(_START + r"AKC[a-zA-Z0-9]{10,}", "AKC"),
    _r(_START + r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b", "shpat_", "shpca_", "shppa_", "shpss_"),
    _r(_START + r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*", "eyJ"),  # JWT
    _r(_NAMED_SECRET.pattern, "key", "secret", "password", "passwd", "pwd", "token", repl=_keep_name, view="lower",
       gate=_KEYWORD_GATE),
    # credentials in URLs: postgresql://user:pass@host -> postgresql://[REDACTED]@host
    _r(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@:]+:[^\s/@]+@", "://", repl=lambda m: f"{m.group(1)}{REDACTED}@"),
    _r(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b", "@", repl="[EMAIL]"),
    _r(_START + r"\d{3}-\d{2}-\d{4}\b", "000-00-0000", repl="[SSN]", view="digits"),
    _r(r"(?<![\w.])\+?\d{1,3}[ .-]?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b", "000-0000", "000 0000", "000.0000",
       repl="[PHONE]", view="digits"),
    # payment cards: 13-19 digits in groups, kept unless the Luhn check passes
    _r(_START + r"(?:4\d{3}|5[1-5]\d{2}|3[47]\d{2}|6011)(?:[ -]?\d{4}){2}[ -]?\d{1,4}\b",
       "0000 0000 0000", "0000-0000-0000", "000000000000", repl=_card, view="digits"),
]

# detect-secrets' keyword rules (`<name> = <value>`, built with _DS_ASSIGNMENT) share these
# triggers and _KEYWORD_GATE; _DS_TRIGGERS is for each plugin's other regexes.
_DS_KEYWORD_TRIGGERS = ("key", "pw", "pass", "token", "secret")
# detect-secrets plugin -> literals its matches contain (case as in the text; lower-cased for the
# case-insensitive regexes). A plugin missing here (a newer detect-secrets) still runs, always.
_DS_TRIGGERS: dict[str, tuple[str, ...]] = {
    "ArtifactoryDetector": ("AKC", "AP"),
    "AWSKeyDetector": ("A3T", "ABIA", "ACCA", "AKIA", "ASIA", "aws", "AWS"),
    "AzureStorageKeyDetector": ("AccountKey=",),
    "BasicAuthDetector": ("://",),
    "CloudantDetector": ("cloudant",),
    "DiscordBotTokenDetector": (),
    "GitHubTokenDetector": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    "GitLabTokenDetector": ("glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "GR1348941", "glcbt-", "glimt-",
                            "glptt-", "glagent-", "gloas-"),
    "IbmCloudIamDetector": (),
    "IbmCosHmacDetector": (),
    "JwtTokenDetector": ("eyJ",),
    "MailchimpDetector": ("-us",),
    "NpmDetector": (":_authToken=",),
    "OpenAIDetector": ("T3BlbkFJ",),
    "PrivateKeyDetector": ("PRIVATE KEY", "PuTTY-User-Key-File-2"),
    "PypiTokenDetector": ("pypi-",),
    "SendGridDetector": ("SG.",),
    "SlackDetector": ("xox", "hooks.slack.com"),
    "SoftlayerDetector": ("softlayer",),
    "SquareOAuthDetector": ("sq0csp-",),
    "StripeDetector": ("k_live_",),
    "TelegramBotTokenDetector": ("00000000:",),  # in the digits view
    "TwilioKeyDetector": ("AC", "SK"),
}
_DS_GATES: dict[str, re.Pattern[str]] = {
    "DiscordBotTokenDetector": re.compile(r"\.[a-zA-Z0-9_-]{6}\.[a-zA-Z0-9_-]{27}"),
}
_DS_VIEWS: dict[str, View] = {"TelegramBotTokenDetector": "digits"}
# An IP address is not a credential, and upstream hosts are logged on purpose.
_DS_SKIPPED = frozenset({"IPPublicDetector"})


def _redact_secret_part(m: re.Match[str]) -> str:
    """Replace the secret in a detect-secrets match, keeping what surrounds it: the value group of
    a `name = "value"` pattern, or the match less the quotes, `=` and spaces some patterns include.
    (A short group is a token's prefix, as in `(ghp|gho)_...`: then the whole token goes.)"""
    text, start = m.group(0), m.start()
    groups = [i for i in range(1, (m.re.groups or 0) + 1) if m.group(i)]
    if groups:
        best = max(groups, key=lambda i: len(m.group(i)))
        if len(m.group(best)) >= 8:
            a, b = m.start(best) - start, m.end(best) - start
            return text[:a] + REDACTED + text[b:]
    core = text.strip(" \t\r\n=:\"'")
    if not core:
        return text
    a = text.index(core)
    return text[:a] + REDACTED + text[a + len(core):]


def detect_secrets_rules() -> list[Rule]:
    """One rule per regex of each detect-secrets regex plugin, in a stable order."""
    from detect_secrets import plugins
    from detect_secrets.plugins.base import RegexBasedDetector

    found: dict[str, type[RegexBasedDetector]] = {}
    for mod in pkgutil.iter_modules(plugins.__path__):
        module = importlib.import_module(f"{plugins.__name__}.{mod.name}")
        for name, obj in vars(module).items():
            if (isinstance(obj, type) and issubclass(obj, RegexBasedDetector) and obj is not RegexBasedDetector
                    and obj.__module__ == module.__name__ and name not in _DS_SKIPPED):
                found[name] = obj
    rules: list[Rule] = []
    for name in sorted(found):
        # a property on the base class, a plain tuple or list on every plugin
        for regex in cast("Iterable[re.Pattern[str]]", found[name].denylist):
            folded = bool(regex.flags & re.IGNORECASE)
            keyword = folded and _DS_ASSIGNMENT in regex.pattern
            triggers = _DS_KEYWORD_TRIGGERS if keyword else _DS_TRIGGERS.get(name, ())
            trig = tuple(dict.fromkeys(t.lower() for t in triggers)) if folded else triggers
            gate = _KEYWORD_GATE if keyword else _DS_GATES.get(name)
            view: View = "lower" if folded else _DS_VIEWS.get(name, "raw")
            rules.append(Rule(regex, _redact_secret_part, trig, view, source=name, gate=gate))
    return rules
