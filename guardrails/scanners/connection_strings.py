"""Passwords inside connection URLs and connection strings, where detect-secrets does not see them.

detect-secrets' BasicAuthDetector finds `scheme://user:password@host` only when neither part holds
one of RFC 3986's sub-delimiters (`!$&'()*+,;=`) and the user is not empty, so
`mysql://root:Passw0rd!@db`, `redis://:s3cret@cache` and `amqp://guest:pa$$@mq` pass it. It has no
rule for JDBC query parameters (`jdbc:postgresql://h/db?user=x&password=y`) nor for ADO.NET / ODBC
key-value strings (`Server=...;User Id=...;Password=...;`). These three regexes cover them; each
finding's span is the password alone, so a redaction keeps the rest of the URL
(`postgres://app:<SECRET_1>@db/x`).

A placeholder is not a leak: a password that is a word people write in examples (`password`,
`pass`, `pwd`, `secret`, `changeme`, `your_password`, ...; `pw` is not one), a template or variable (`<password>`,
`${DB_PASS}`, `$DB_PASS`, `{{pw}}`, `{password}`, `%s`, `%(pw)s`, `[password]`) or a mask (`****`,
`xxxx`, `•••`, `...`) is not reported (by these rules nor by BasicAuthDetector; `secrets.py`). A URL
with a user and no password (`postgres://app@db`) holds no secret. Percent-encoded passwords
(`p%40ss`) are decoded before the placeholder check.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from guardrails.types import Finding

RULE_URL = "BASIC_AUTH_CREDENTIALS"  # detect-secrets' name for a URL's user:password, kept for both
RULE_PARAM = "CONNECTION_STRING_PASSWORD"

# scheme://[user]:password@host — the password runs to the last "@" before the host (an unencoded
# "@" inside it is common in hand-written URLs); no whitespace, quotes, "/", "?" or "#".
URL_USERINFO = re.compile(
    r"(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]*://"
    r"[^\s:@/?#'\"<>`]*:(?P<pw>[^\s/?#'\"<>`]+)@(?=[A-Za-z0-9\[_\-])")
# ...?user=x&password=y / ;password=y in a URL (JDBC, ODBC-style URLs, any query string)
URL_PARAM = re.compile(
    r"(?i)(?<![A-Za-z0-9+.\-])[a-z][a-z0-9+.\-]*:(?://)?[^\s'\"<>`]*?[?&;]"
    r"(?:password|passwd|pwd)=(?P<pw>[^&;\s'\"<>`#]+)")
# Password=...; / Pwd=...; in a key-value connection string (ADO.NET, ODBC, libpq keywords)
KV_PASSWORD = re.compile(
    r"(?i)(?:^|(?<=[;\s\"']))(?:password|pwd)\s*=\s*"
    r"(?:\"(?P<dq>[^\"\r\n]+)\"|'(?P<sq>[^'\r\n]+)'|\{(?P<br>[^}\r\n]+)\}|(?P<pw>[^;\r\n\"'{}]+?))"
    r"\s*(?=;|$|[\r\n\"'])", re.MULTILINE)
_KV_VALUE = ("dq", "sq", "br", "pw")
# ...which counts only beside another connection-string key in the same string
_KV_CONTEXT = re.compile(
    r"(?i)(?:^|[;\s\"'])(?:server|data source|host|hostaddr|address|addr|network address|user id|uid|user|"
    r"username|database|initial catalog|dbname|driver|dsn|port|provider)\s*=[^;\r\n]*;")
_KV_REACH = 300  # characters before and after the password searched for that context

# Cheap precheck: no "://", ":" + "password"/"pwd" or "pwd="/"password=" at all, no candidate.
GATE = re.compile(r"://|(?i:p(?:ass)?w(?:or)?d\s*=)")

_PLACEHOLDER_WORDS = frozenset({
    "password", "passwd", "pass", "pwd", "secret", "changeme", "change_me", "your_password",
    "yourpassword", "your-password", "mypassword", "my_password", "db_password", "dbpassword", "example",
    "redacted", "hidden", "masked", "placeholder", "null", "none", "undefined", "empty",
})
_PLACEHOLDER = re.compile(
    r"""(?x)
    <[^<>]*> | \[[^\[\]]*\] | \{\{?[^{}]*\}?\} | \$\{[^}]*\} | \$\([^)]*\) | \$[A-Z_][A-Z0-9_]* |
    %[sd] | %\([A-Za-z_]+\)[sd] |
    (.)\1* |                       # one character repeated: ****, xxxx, ...
    [x*•.\-_]+ | (?i:your[\w\-]*) """)


def is_placeholder(value: str) -> bool:
    """Whether a password is an example's stand-in rather than a credential (module docstring)."""
    v = unquote(value).strip()
    if not v:
        return True
    return v.lower() in _PLACEHOLDER_WORDS or _PLACEHOLDER.fullmatch(v) is not None


def findings(text: str) -> list[Finding]:
    """Password spans of URLs and connection strings in `text` (placeholders left out)."""
    if GATE.search(text) is None:
        return []
    out: list[Finding] = []
    for m in URL_USERINFO.finditer(text):
        if not is_placeholder(m.group("pw")):
            out.append(Finding(RULE_URL, *m.span("pw")))
    for m in URL_PARAM.finditer(text):
        if not is_placeholder(m.group("pw")):
            out.append(Finding(RULE_PARAM, *m.span("pw")))
    for m in KV_PASSWORD.finditer(text):
        group = next(g for g in _KV_VALUE if m.group(g) is not None)  # quoted values may hold ";"
        if is_placeholder(m.group(group)):
            continue
        s, e = m.span(group)
        if _KV_CONTEXT.search(text, max(0, s - _KV_REACH), min(len(text), e + _KV_REACH)) is None:
            continue
        out.append(Finding(RULE_PARAM, s, e))
    return out
