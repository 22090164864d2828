"""A dotted version number is not an IP address; real addresses beside version words still are.
Labelled cases written for this test (none from the PII dataset); the dataset's IP recall is
asserted in test_quality.py."""

from __future__ import annotations

import pytest

from guardrails.scanners.pii import PiiScanner, is_version_number
from guardrails.types import ScanContext

CTX = ScanContext(direction="input")

VERSIONS = [
    "please upgrade to 10.2.0.1 before Friday",
    "Chrome 120.0.6099.109 crashes on start",
    "Mozilla/5.0 (X11) Chrome/120.0.0.1 Safari/537.36",
    "we pinned version 1.2.3.4 of the library",
    "the v4.0.0.1 tag is broken",
    "Version: 4.1.0.2",
    "release 2.0.0.1 is out",
    "build 10.0.0.12 failed its tests",
    "firmware 3.1.0.2 bricks the router",
    "downgrade from 1.1.0.9 to 1.1.0.8",
    "the installer reports 1.2.3.4.5",
    "tag 1.2.3.4-beta for the demo",
    "ships OpenSSL 1.1.1.1 and Python 3.11.4.1",
]

ADDRESSES = [
    ("connect to 10.2.0.1:5432 with psql", "10.2.0.1"),
    ("requests from IP 192.168.1.20 were dropped", "192.168.1.20"),
    ("upgrade the server at 10.2.0.1 tonight", "10.2.0.1"),
    ("ssh to 10.0.0.7 and upgrade the packages", "10.0.0.7"),
    ("host 10.0.0.1 runs version 2 of the agent", "10.0.0.1"),
    ("the DNS server is 8.8.8.8", "8.8.8.8"),
    ("route 10.0.0.0/8 through the VPN", "10.0.0.0/8"),  # Presidio's span holds the prefix length
    ("node 10.0.0.5 left the cluster", "10.0.0.5"),
    ("redis: 10.0.0.3", "10.0.0.3"),
    ("go to 172.16.0.1 in your browser", "172.16.0.1"),
    ("update the A record to 203.0.113.9", "203.0.113.9"),
    ("allow 10.0.0.1 to 10.0.0.9 through", "10.0.0.1 10.0.0.9"),
]


@pytest.fixture(scope="module")
def pii() -> PiiScanner:
    s = PiiScanner()
    s.warm()
    return s


@pytest.mark.parametrize("text", VERSIONS)
def test_version_numbers_are_not_ip_addresses(pii: PiiScanner, text: str) -> None:
    assert [f for f in pii.scan(text, CTX) if f.rule == "IP_ADDRESS"] == [], text


@pytest.mark.parametrize(("text", "ip"), ADDRESSES)
def test_addresses_are_still_found(pii: PiiScanner, text: str, ip: str) -> None:
    found = [text[f.start:f.end] for f in pii.scan(text, CTX) if f.rule == "IP_ADDRESS"]
    assert found == ip.split(), text


def test_ipv6_is_never_a_version() -> None:
    t = "from 2001:db8::1 version 2"
    assert not is_version_number(t, 5, 16)


def test_gated_and_ungated_pii_scans_agree_on_the_datasets(pii: PiiScanner) -> None:
    """The prechecks ("@", a digit, `\\d.\\d`, ...) only skip recognizers that cannot match."""
    import csv
    import json

    from guardrails.datasets import dataset_path

    with dataset_path("injection", "jackhhao_test.csv").open(newline="", encoding="utf-8") as f:
        texts = [r["prompt"] for r in csv.DictReader(f)]
    texts += [s["full_text"] for s in json.loads(dataset_path("pii", "presidio_synth_v2.json").read_text())]
    texts += VERSIONS + [t for t, _ in ADDRESSES] + ["fe80::1ff:fe23:4567:890a", "dead:beef::", "a@b.co"]
    ungated = PiiScanner(gates=False)
    diff = [t[:80] for t in texts if pii.scan(t, CTX) != ungated.scan(t, CTX)]
    assert diff == [], diff
    assert sum(1 for t in texts if pii.scan(t, CTX)) > 200  # the comparison has matches (285 texts)
