"""HMAC-SHA256 signatures over journal records (attestations and label moves).

The key comes from an environment variable (SLUICE_ATTEST_KEY by default) held by CI and by the
gateway; whoever lacks it can read the registry but cannot write a record the gate will accept.
`key_id` (a hash of the key, never the key) says which key signed a record.
"""

from __future__ import annotations

import hashlib
import hmac
import os

KEY_ENV = "SLUICE_ATTEST_KEY"


class Signer:
    def __init__(self, key: str | bytes) -> None:
        raw = key.encode() if isinstance(key, str) else key
        if len(raw) < 16:
            raise ValueError(f"the attestation key (${KEY_ENV} or prompts.attest_key_env) must be at least 16 bytes")
        self._key = raw
        self.key_id = hashlib.sha256(b"sluice-key-id:" + raw).hexdigest()[:16]

    def sign(self, digest: str) -> str:
        return hmac.new(self._key, digest.encode(), hashlib.sha256).hexdigest()

    def verify(self, digest: str, signature: object) -> bool:
        return isinstance(signature, str) and hmac.compare_digest(self.sign(digest), signature)


def signer_from_env(env: str = KEY_ENV) -> Signer | None:
    """The signer for the key in `env`, or None when the variable is unset or empty."""
    value = os.environ.get(env)
    return Signer(value) if value else None


def no_key_message(env: str = KEY_ENV) -> str:
    return (f"no attestation key: set ${env} (at least 16 bytes; the key CI signs attestations with) "
            "where the suite runs and where labels move")
