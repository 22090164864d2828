import os

os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

TEST_ATTEST_KEY = "test-attestation-key-0123456789"


@pytest.fixture(autouse=True)
def attest_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """Attestations are signed: every eval test runs with a key, as CI does."""
    monkeypatch.setenv("SLUICE_ATTEST_KEY", TEST_ATTEST_KEY)
    return TEST_ATTEST_KEY
