"""Secrets (API keys, tokens, private keys, JWTs, credentials in URLs) with detect-secrets' plugins.

We use the plugins as a library: each regex plugin's own `denylist` gives the spans and its
`analyze_string` (which applies plugin-specific validation, e.g. the JWT's JSON header check)
decides which candidates count. The file-oriented keyword and entropy plugins are left out by
default: on prose they flag ordinary words.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from typing import Any

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
DEFAULT_PLUGINS: tuple[str, ...] = tuple(PLUGINS)


# Plugins that need a long token somewhere in the text. A text without one (most prose) skips them:
# every token those plugins look for is at least 11 characters (Artifactory's shortest).
_NEEDS_LONG_TOKEN = re.compile(r"[A-Za-z0-9_\-+/=]{11,}")
_ALWAYS = {"PrivateKeyDetector", "BasicAuthDetector"}
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-+/=.]*")
_PEM_END = re.compile(r"-----END [A-Z ]*PRIVATE KEY(?: BLOCK)?-----")


def _rule_name(secret_type: str) -> str:
    return secret_type.upper().replace(" ", "_").replace("(", "").replace(")", "")


class SecretsScanner(Scanner):
    name = "secrets"
    redactable = True
    sensitive = True

    def __init__(self, plugins: Sequence[str] = DEFAULT_PLUGINS, *, name: str = "secrets") -> None:
        unknown = [p for p in plugins if p not in PLUGINS]
        if unknown:
            raise ValueError(f"unknown detect-secrets plugins {unknown}; supported: {sorted(PLUGINS)}")
        self.name = name
        self.plugin_names = list(plugins)
        self._plugins: list[Any] | None = None

    def warm(self) -> None:
        self._get_plugins()

    def _get_plugins(self) -> list[Any]:
        if self._plugins is None:
            loaded = []
            for cls_name in self.plugin_names:
                module = importlib.import_module(f"detect_secrets.plugins.{PLUGINS[cls_name]}")
                loaded.append(getattr(module, cls_name)())
            self._plugins = loaded
        return self._plugins

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        findings: list[Finding] = []
        long_token = _NEEDS_LONG_TOKEN.search(text) is not None
        for cls_name, plugin in zip(self.plugin_names, self._get_plugins(), strict=True):
            if not long_token and cls_name not in _ALWAYS:
                continue
            candidates = [c for c in plugin.analyze_string(text) if c]
            if not candidates:
                continue
            rule = _rule_name(plugin.secret_type)
            for regex in plugin.denylist:
                for m in regex.finditer(text):
                    if any(c in m.group(0) for c in candidates):
                        findings.append(Finding(rule, *_secret_span(text, m, rule)))
        return _merge(findings)


def _secret_span(text: str, m: Any, rule: str) -> tuple[int, int]:
    """What to redact for a match: a private key's whole block; the credential group of a pattern
    that captures one (a URL password); else the match, extended over trailing token characters
    (the JWT pattern ends lazily and would leave the signature behind)."""
    if rule == "PRIVATE_KEY":
        end = _PEM_END.search(text, m.end())
        start = text.rfind("-----", 0, m.start())
        return (start if start >= 0 and m.start() - start <= 5 else m.start()), (end.end() if end else len(text))
    groups = [m.span(g) for g in range(1, m.re.groups + 1) if m.group(g)]
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
