import pytest

TEST_ATTEST_KEY = "test-attestation-key-0123456789"


@pytest.fixture(autouse=True)
def attest_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """Journals are signed with the key CI holds; a test that needs no key deletes it."""
    monkeypatch.setenv("SLUICE_ATTEST_KEY", TEST_ATTEST_KEY)
    return TEST_ATTEST_KEY
