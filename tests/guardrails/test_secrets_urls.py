"""Credentials in connection URLs and strings (labelled cases), placeholders that are not leaks,
password-only redaction spans, and the per-plugin gates (they skip work, never a finding)."""

from __future__ import annotations

import csv
import json

import pytest

from guardrails import Guardrails, GuardrailsConfig, ScanContext, Vault
from guardrails.config import PolicyConfig, Rule
from guardrails.datasets import dataset_path
from guardrails.scanners.connection_strings import is_placeholder
from guardrails.scanners.secrets import GATES, PLUGINS, SecretsScanner

CTX = ScanContext(direction="input")

# (text, the password the scanner must report). Written for this test from the connection-string
# formats' documentation (libpq, MongoDB, Redis, AMQP, MySQL, git over HTTPS, JDBC, ADO.NET, ODBC).
LEAKS = [
    ("postgres://app:hunter2pass@db.internal:5432/orders", "hunter2pass"),
    ("postgresql://app:Xy7q@db/x", "Xy7q"),
    ("mongodb+srv://user:pw@cluster0.example.mongodb.net/test", "pw"),
    ("redis://:s3cretRedis@cache.local:6379/0", "s3cretRedis"),
    ("rediss://default:Zk93hq!@redis.example.com:6380", "Zk93hq!"),
    ("amqp://guest:rabb1t@mq.local:5672/vhost", "rabb1t"),
    ("mysql://root:Passw0rd!@localhost:3306/shop", "Passw0rd!"),
    ("clone https://octo:ghp_notarealtokenbutlong12@github.com/org/repo.git now", "ghp_notarealtokenbutlong12"),
    ("jdbc:postgresql://db.local:5432/app?user=svc&password=q8Lm2vX", "q8Lm2vX"),
    ("jdbc:mysql://db.local/app?useSSL=true&password=Kd92$x&user=svc", "Kd92$x"),
    ("jdbc:sqlserver://db.local:1433;databaseName=app;user=svc;password=Hq7!zz", "Hq7!zz"),
    ("Server=tcp:x.database.windows.net,1433;User Id=admin;Password=Sup3r$ecret;Encrypt=True;", "Sup3r$ecret"),
    ("Driver={ODBC Driver 18 for SQL Server};Server=db;Uid=sa;Pwd=Yuk0n9;", "Yuk0n9"),
    ("Data Source=db01;Initial Catalog=Sales;User ID=sa;Password=\"pa;ss wörd\";", "pa;ss wörd"),
    ("export DATABASE_URL=postgres://app:p%40ss%21w0rd@db:5432/app", "p%40ss%21w0rd"),
    ("amqp://svc:p@ss@mq.local/", "p@ss"),
    ('{"url": "mysql://svc:Tz8-1q@db.local/app"}', "Tz8-1q"),
]

# Not leaks: placeholders, a user without a password, ordinary URLs, prose about passwords.
NOT_LEAKS = [
    "postgres://user:password@localhost:5432/db",
    "postgres://app:<password>@db/x",
    "postgres://app:${DB_PASS}@db/x",
    "postgres://app:$DB_PASSWORD@db/x",
    "postgres://app:****@db/x",
    "postgres://app:xxxxxx@db/x",
    "mongodb://admin:{{mongo_password}}@mongo:27017",
    "mysql://root:your_password@localhost/db",
    "redis://:%s@cache:6379",
    "postgres://app@db.internal/orders",
    "ssh://git@github.com:22/org/repo.git",
    "see https://example.com/docs?page=2&lang=en#auth",
    "jdbc:postgresql://db/app?user=svc&password=${PG_PASSWORD}",
    "Server=db;User Id=sa;Password=<your password>;",
    "The password=hunter2 line in your notes is not a connection string",
    "Set a strong password; the server rejects weak ones.",
    "connect at 10.0.0.5:5432 with the usual credentials",
]


@pytest.fixture(scope="module")
def scanner() -> SecretsScanner:
    s = SecretsScanner()
    s.warm()
    return s


@pytest.mark.parametrize(("text", "password"), LEAKS)
def test_connection_credentials_are_found_as_the_password_alone(scanner: SecretsScanner, text: str,
                                                                password: str) -> None:
    found = [text[f.start:f.end] for f in scanner.scan(text, CTX) if f.start is not None and f.end is not None]
    assert password in found, (text, found)


@pytest.mark.parametrize("text", NOT_LEAKS)
def test_placeholders_and_plain_urls_are_not_leaks(scanner: SecretsScanner, text: str) -> None:
    assert scanner.scan(text, CTX) == [], text


def test_placeholder_rule() -> None:
    for v in ("password", "PASSWORD", "<pw>", "${X}", "$DB_PASS", "{{p}}", "****", "•••", "...", "%s", "%(pw)s",
              "your-db-password", "changeme", "pass"):
        assert is_placeholder(v), v
    for v in ("pw", "hunter2", "$ecret1", "p%40ss", "Passw0rd!", "password123", "x9"):
        assert not is_placeholder(v), v


def test_redaction_replaces_only_the_password() -> None:
    g = Guardrails(GuardrailsConfig(policies={"r": PolicyConfig(input=[Rule(scanner="secrets", action="redact")])}))
    guard = g.guard(("r",))
    assert guard is not None
    v = guard.check("use postgres://app:hunter2pass@db/x and Server=db;User Id=sa;Password=Yuk0n9;", CTX, Vault())
    assert v.text == "use postgres://app:<SECRET_1>@db/x and Server=db;User Id=sa;Password=<SECRET_2>;"


# ---- gates -------------------------------------------------------------------------------------

# One example per detect-secrets plugin, matching that plugin's own patterns (fake values).
EXAMPLES = {
    "AWSKeyDetector": ["key AKIAIOSFODNN7EXAMPLE", 'aws_secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"'],
    "ArtifactoryDetector": ["token=AKCp8jQ8Wh3Bz7xyz end"],
    "AzureStorageKeyDetector": ["AccountKey=" + "A1b2" * 22],
    "BasicAuthDetector": ["https://svc:Xk29dhq7@host.example.com/"],
    "CloudantDetector": ["cloudant_password = '" + "ab12" * 16 + "'"],
    "DiscordBotTokenDetector": ["MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs"],
    "GitHubTokenDetector": ["ghp_" + "a1B2" * 9],
    "GitLabTokenDetector": ["glpat-" + "x1Y2" * 5],
    "IbmCloudIamDetector": ['ibm_cloud_iam_key = "' + "aB3_" * 11 + '"'],
    "IbmCosHmacDetector": ['secret_access_key = "' + "a1b2c3" * 8 + '"'],
    "JwtTokenDetector": [("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
                         "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U")],
    "MailchimpDetector": ["a1b2c3d4" * 4 + "-us12"],
    "NpmDetector": ["//registry.npmjs.org/:_authToken=npm_" + "a1B2" * 9],
    "OpenAIDetector": ["sk-" + "a1B2" * 5 + "T3BlbkFJ" + "c3D4" * 5],
    "PrivateKeyDetector": ["-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"],
    "PypiTokenDetector": ["pypi-AgEIcHlwaS5vcmc" + "a1B2" * 18],
    "SendGridDetector": ["SG." + "a1B2c" * 4 + "ab" + "." + "a1B2c" * 8 + "abc"],
    "SlackDetector": ["xoxb-123456789012-abcdefghij"],
    "SoftlayerDetector": ['softlayer_api_key = "' + "a1b2" * 16 + '"'],
    "SquareOAuthDetector": ["sq0csp-" + "a1B2" * 10 + "abc"],
    "StripeDetector": ["sk_live_" + "a1B2" * 6],
    "TelegramBotTokenDetector": ["123456789:" + "a1B2c" * 7],
    "TwilioKeyDetector": ["AC" + "a1b2" * 8],
}


def test_every_plugin_has_a_gate_and_an_example() -> None:
    assert set(PLUGINS) <= set(GATES) and set(PLUGINS) == set(EXAMPLES)


@pytest.mark.parametrize("plugin", sorted(EXAMPLES))
def test_a_plugins_own_match_passes_its_gate(plugin: str) -> None:
    gated, ungated = SecretsScanner([plugin]), SecretsScanner([plugin], gates=False)
    for text in EXAMPLES[plugin]:
        want = ungated.scan(text, CTX)
        assert want, (plugin, text)  # the example is a real match of the plugin
        assert gated.scan(text, CTX) == want, (plugin, text)


def _corpus() -> list[str]:
    with dataset_path("injection", "jackhhao_test.csv").open(newline="", encoding="utf-8") as f:
        texts = [r["prompt"] for r in csv.DictReader(f)]
    texts += [s["full_text"] for s in json.loads(dataset_path("pii", "presidio_synth_v2.json").read_text())]
    texts += [t for ts in EXAMPLES.values() for t in ts] + [t for t, _ in LEAKS] + NOT_LEAKS
    return texts


def test_gated_and_ungated_scans_agree_on_the_datasets(scanner: SecretsScanner) -> None:
    ungated = SecretsScanner(gates=False)
    texts = _corpus()
    diff = [t[:80] for t in texts if scanner.scan(t, CTX) != ungated.scan(t, CTX)]
    assert diff == [], diff
    assert sum(1 for t in texts if scanner.scan(t, CTX)) >= len(EXAMPLES) + len(LEAKS)  # the comparison has matches
