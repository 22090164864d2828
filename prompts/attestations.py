"""Attestations: the signed record of one suite run on one exact content hash.

Written by whoever ran the suite (`sluice eval run --attest`, `sluice prompts promote --run`) into
the hash-chained, signed attestation journal; read by the gate. Editing a prompt changes its hash,
so earlier attestations stop applying. Every run is kept, failed ones too.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from prompts.registry import PromptRegistry


class Attestation(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    prompt: str
    version: int
    content_hash: str
    suite: str
    suite_file: str | None = Field(default=None, description="file name of the suite")
    suite_path: str | None = Field(default=None, description="the suite file, relative to the registry folder")
    suite_hash: str | None = None
    dataset_hash: str
    dataset_path: str | None = Field(default=None, description="the dataset file relative to the registry, or null inline")
    cassette_hash: str | None = Field(default=None, description="sha256 of the cassette recorded or replayed")
    passed: bool
    scores: dict[str, float] = Field(default_factory=dict)
    thresholds: dict[str, Any] = Field(default_factory=dict)
    failures: list[dict[str, Any]] = Field(default_factory=list, description="first failing cases (id, reasons)")
    mode: str = "live"  # "live" | "record" | "replay"
    time: float
    git_commit: str | None = None
    actor: str | None = None
    actor_claimed: bool = Field(default=True, description="the actor is what the runner said, not an authenticated identity")


def record_attestation(registry: PromptRegistry, attestation: Attestation) -> Attestation:
    registry.attestations_journal.append({"type": "attestation", **attestation.model_dump(mode="json")})
    return attestation


def attestations_for(registry: PromptRegistry, name: str, content_hash: str | None = None) -> list[Attestation]:
    """Every verified attestation of `name` (of one content hash, if given), oldest first."""
    out = []
    for r in registry.attestations_journal.records():
        if (r.get("type") == "attestation" and r.get("prompt") == name
                and (content_hash is None or r.get("content_hash") == content_hash)):
            out.append(Attestation.model_validate(r))
    return out


def latest_attestation(registry: PromptRegistry, name: str, content_hash: str) -> Attestation | None:
    found = attestations_for(registry, name, content_hash)
    return found[-1] if found else None


def attestation_by_id(registry: PromptRegistry, attestation_id: str) -> Attestation | None:
    for r in registry.attestations_journal.records():
        if r.get("type") == "attestation" and r.get("id") == attestation_id:
            return Attestation.model_validate(r)
    return None
