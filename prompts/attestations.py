"""Attestations: the record that a prompt's suite passed (or failed) on one exact content hash.

Written by whoever ran the suite (`sluice eval run --attest`, `sluice prompts promote --run`);
read by the gate. Editing a prompt changes its hash, so earlier attestations stop applying.
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
    suite_file: str | None = Field(default=None, description="file name of the suite, matched against the prompt's `suite:`")
    suite_hash: str | None = None
    dataset_hash: str
    passed: bool
    scores: dict[str, float] = Field(default_factory=dict)
    thresholds: dict[str, Any] = Field(default_factory=dict)
    failures: list[dict[str, Any]] = Field(default_factory=list, description="first failing cases (id, reasons)")
    mode: str = "live"  # "live" | "replay" | "cached"
    time: float
    git_commit: str | None = None
    actor: str | None = None


def record_attestation(registry: PromptRegistry, attestation: Attestation) -> Attestation:
    registry.attestations_journal.append({"type": "attestation", **attestation.model_dump(mode="json")})
    return attestation


def attestations_for(registry: PromptRegistry, name: str, content_hash: str | None = None) -> list[Attestation]:
    out = []
    for r in registry.attestations_journal.records():
        if (r.get("type") == "attestation" and r.get("prompt") == name
                and (content_hash is None or r.get("content_hash") == content_hash)):
            out.append(Attestation.model_validate(r))
    return out


def latest_attestation(registry: PromptRegistry, name: str, content_hash: str) -> Attestation | None:
    found = attestations_for(registry, name, content_hash)
    return found[-1] if found else None
