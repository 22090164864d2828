"""Secrets (API keys, tokens, private keys, JWTs, credentials in URLs) with detect-secrets' plugins.

Passwords in connection URLs and strings that detect-secrets misses (sub-delimiters in the
password, an empty user, JDBC `password=` parameters, ADO.NET/ODBC `Password=...;`) come from our
own small regexes (connection_strings.py); placeholders (`user:password@`, `${DB_PASS}`) are not
reported.

We use the plugins as a library: each regex plugin's own `denylist` gives the spans and its
`analyze_string` (which applies plugin-specific validation, e.g. the JWT's JSON header check)
decides which candidates count. The file-oriented keyword and entropy plugins are left out by
default: on prose they flag ordinary words.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from guardrails.scanners import connection_strings
from guardrails.scanners.base import Scanner
from guardrails.types import Finding, ScanContext

# plugin class name -> module under detect_secrets.plugins
PLUGINS: dict[str, str] = {
    "AWSKeyDetector": "aws",
    "ArtifactoryDetector": "artifactory",
    "AzureStorageKeyDetector": "azure_storage_key",
    "BasicAuthDetector": "basic_auth",
    "CloudantDetector": "cloudant",
    "DiscordBotTokenDetector": "discord",
    "GitHubTokenDetector": "github_token",
    "GitLabTokenDetector": "gitlab_token",
    "IbmCloudIamDetector": "ibm_cloud_iam",
    "IbmCosHmacDetector": "ibm_cos_hmac",
    "JwtTokenDetector": "jwt",
    "MailchimpDetector": "mailchimp",
    "NpmDetector": "npm",
    "OpenAIDetector": "openai",
    "PrivateKeyDetector": "private_key",
    "PypiTokenDetector": "pypi_token",
    "SendGridDetector": "sendgrid",
    "SlackDetector": "slack",
    "SoftlayerDetector": "softlayer",
    "SquareOAuthDetector": "square_oauth",
    "StripeDetector": "stripe",
    "TelegramBotTokenDetector": "telegram_token",
    "TwilioKeyDetector": "twilio",
}
# Ours, not detect-secrets': passwords in connection URLs and strings that BasicAuthDetector misses
# (guardrails/scanners/connection_strings.py).
CONNECTION_STRINGS = "ConnectionStringDetector"
DEFAULT_PLUGINS: tuple[str, ...] = (*PLUGINS, CONNECTION_STRINGS)

# A necessary condition of each plugin's regexes: a literal every pattern starts with or holds
# (checked with `in`, on the lower-cased text where the plugin ignores case), or a run of 24+ token
# characters (every plugin whose values are that long: Cloudant, IBM, Softlayer, GitHub, GitLab,
# Discord, Telegram, Twilio, Mailchimp, AWS's secret key). A text without it skips the plugin. Gates
# only skip work; the plugin's own regexes and analyze_string decide. tests/guardrails/
# test_secrets_urls.py checks each plugin's own examples pass its gate and that gated and ungated
# scans agree on the datasets.
@dataclass(frozen=True, slots=True)
class Gate:
    literals: tuple[str, ...] = ()  # any of these in the text
    lower: tuple[str, ...] = ()  # any of these in the lower-cased text
    run: bool = False  # or a run of RUN_CHARS token characters

    def passes(self, text: str, low: str, run: bool) -> bool:
        return (self.run and run) or any(x in text for x in self.literals) or any(x in low for x in self.lower)


RUN_CHARS = 24
_RUN = re.compile(rf"[A-Za-z0-9_\-+/=]{{{RUN_CHARS}}}")
_LONG = Gate(run=True)
GATES: dict[str, Gate] = {
    "AWSKeyDetector": Gate(("A3T", "ABIA", "ACCA", "AKIA", "ASIA"), run=True),  # or the 40-char secret key
    "ArtifactoryDetector": Gate(("AKC", "AP")),
    "AzureStorageKeyDetector": Gate(("AccountKey=",)),
    "BasicAuthDetector": Gate(("://",)),
    "CloudantDetector": _LONG,
    "DiscordBotTokenDetector": _LONG,
    "GitHubTokenDetector": _LONG,
    "GitLabTokenDetector": _LONG,
    "IbmCloudIamDetector": _LONG,
    "IbmCosHmacDetector": _LONG,
    "JwtTokenDetector": Gate(("eyJ",)),
    "MailchimpDetector": _LONG,
    "NpmDetector": Gate(("_authToken",)),
    "OpenAIDetector": Gate(("T3BlbkFJ",)),
    "PrivateKeyDetector": Gate(("BEGIN", "PuTTY")),
    "PypiTokenDetector": Gate(("pypi-",)),
    "SendGridDetector": Gate(("SG.",)),
    "SlackDetector": Gate(lower=("xox", "hooks.slack")),
    "SoftlayerDetector": _LONG,
    "SquareOAuthDetector": Gate(("sq0csp-",)),
    "StripeDetector": Gate(("k_live_",)),
    "TelegramBotTokenDetector": _LONG,
    "TwilioKeyDetector": _LONG,
    CONNECTION_STRINGS: Gate(("://",), lower=("pw", "passw")),
}
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-+/=.]*")
_PEM_END = re.compile(r"-----END [A-Z ]*PRIVATE KEY(?: BLOCK)?-----")
_BASIC_AUTH = "BASIC_AUTH_CREDENTIALS"


def _rule_name(secret_type: str) -> str:
    return secret_type.upper().replace(" ", "_").replace("(", "").replace(")", "")


class _Plugin:
    """A loaded plugin with its gate and rule name, bound once (no per-scan lookups)."""

    __slots__ = ("gate", "name", "plugin", "rule")

    def __init__(self, name: str, plugin: Any, gate: Gate) -> None:
        self.name, self.plugin, self.gate = name, plugin, gate
        self.rule = _rule_name(plugin.secret_type) if plugin is not None else ""


class SecretsScanner(Scanner):
    name = "secrets"
    redactable = True
    sensitive = True

    def __init__(self, plugins: Sequence[str] = DEFAULT_PLUGINS, *, name: str = "secrets",
                 gates: bool = True) -> None:
        unknown = [p for p in plugins if p not in PLUGINS and p != CONNECTION_STRINGS]
        if unknown:
            raise ValueError(f"unknown detect-secrets plugins {unknown}; supported: "
                             f"{sorted([*PLUGINS, CONNECTION_STRINGS])}")
        self.name = name
        self.plugin_names = list(plugins)
        self.gates = gates
        self._plugins: list[_Plugin] | None = None
        self._index: tuple[list[tuple[str, int]], list[tuple[str, int]], int] | None = None

    def warm(self) -> None:
        self._get_plugins()

    def _get_plugins(self) -> list[_Plugin]:
        if self._plugins is None:
            loaded = []
            for cls_name in self.plugin_names:
                plugin = None
                if cls_name != CONNECTION_STRINGS:
                    module = importlib.import_module(f"detect_secrets.plugins.{PLUGINS[cls_name]}")
                    plugin = getattr(module, cls_name)()
                loaded.append(_Plugin(cls_name, plugin, GATES[cls_name]))
            self._plugins = loaded
        return self._plugins

    def _gate_index(self) -> tuple[list[tuple[str, int]], list[tuple[str, int]], int]:
        """The gates as bit masks over the plugin list: (literal, plugins) in the text, (literal,
        plugins) in the lower-cased text, plugins a long run lets through."""
        if self._index is None:
            lits: dict[str, int] = {}
            lows: dict[str, int] = {}
            run = 0
            for i, p in enumerate(self._get_plugins()):
                for x in p.gate.literals:
                    lits[x] = lits.get(x, 0) | 1 << i
                for x in p.gate.lower:
                    lows[x] = lows.get(x, 0) | 1 << i
                if p.gate.run:
                    run |= 1 << i
            self._index = (list(lits.items()), list(lows.items()), run)
        return self._index

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        plugins = self._get_plugins()
        if self.gates:  # a few `in` tests and one regex instead of every plugin's regexes
            lits, lows, run = self._gate_index()
            sel = run if _RUN.search(text) is not None else 0
            for x, bits in lits:
                if x in text:
                    sel |= bits
            low = text.lower()
            for x, bits in lows:
                if x in low:
                    sel |= bits
            if not sel:
                return []
            plugins = [p for i, p in enumerate(plugins) if sel >> i & 1]
        findings: list[Finding] = []
        for p in plugins:
            if p.plugin is None:
                findings.extend(connection_strings.findings(text))
                continue
            candidates = [c for c in p.plugin.analyze_string(text) if c]
            if not candidates:
                continue
            for regex in p.plugin.denylist:
                for m in regex.finditer(text):
                    if any(c in m.group(0) for c in candidates):
                        s, e = _secret_span(text, m, p.rule)
                        if p.rule == _BASIC_AUTH and connection_strings.is_placeholder(text[s:e]):
                            continue  # `user:password@`, `user:<password>@`: an example, not a leak
                        findings.append(Finding(p.rule, s, e))
        return _merge(findings) if len(findings) > 1 else findings


def _secret_span(text: str, m: Any, rule: str) -> tuple[int, int]:
    """What to redact for a match: a private key's whole block; the credential group of a pattern
    that captures one (a URL password); else the match, extended over trailing token characters
    (the JWT pattern ends lazily and would leave the signature behind)."""
    if rule == "PRIVATE_KEY":
        end = _PEM_END.search(text, m.end())
        start = text.rfind("-----", 0, m.start())
        return (start if start >= 0 and m.start() - start <= 5 else m.start()), (end.end() if end else len(text))
    groups = [m.span(g) for g in range(1, m.re.groups + 1) if m.group(g)]
    if groups and rule == _BASIC_AUTH:  # the password alone: `postgres://app:<SECRET_1>@db/x`
        return groups[0]
    if groups:
        s, e = max(groups, key=lambda sp: sp[1] - sp[0])
        if e - s >= 8:
            return s, e
    s, e = m.span()
    tail = _TOKEN_CHARS.match(text, e)
    return s, tail.end() if tail else e


def _merge(findings: list[Finding]) -> list[Finding]:
    out: list[Finding] = []
    for f in sorted(findings, key=lambda f: (f.start or 0, -((f.end or 0) - (f.start or 0)))):
        if out and f.start is not None and out[-1].end is not None and f.start < out[-1].end:
            continue
        out.append(f)
    return out
