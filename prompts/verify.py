"""`sluice prompts verify`: check the whole history, not only what the next request reads.

Both journals must chain and be signed with the registry's key; every label move must point at a
snapshot that is present and intact and holds the content hash the move names; every move that was
not forced must name a passing attestation of that content. Returns the problems found (none: the
history verifies).
"""

from __future__ import annotations

from prompts.attestations import attestation_by_id
from prompts.registry import PromptRegistry
from prompts.signing import no_key_message


def verify(registry: PromptRegistry) -> list[str]:
    problems: list[str] = []
    if registry.signer is None:
        problems.append("signatures not checked: " + no_key_message())
    problems.extend(registry.problems())
    for n, move in enumerate(registry.label_moves(), start=1):
        where = f"label move {n} ({move.prompt} {move.label} -> v{move.to_version})"
        if not move.snapshot:
            problems.append(f"{where}: names no snapshot")
            continue
        broken = registry.store.check(move.snapshot)
        if broken:
            problems.append(f"{where}: {broken}")
            continue
        served = registry.store.get(move.snapshot)
        if served.content_hash() != move.content_hash or served.name != move.prompt:
            problems.append(f"{where}: its snapshot holds other content than the move records")
        if move.forced:
            continue
        att = attestation_by_id(registry, move.attestation_id) if move.attestation_id else None
        if att is None:
            problems.append(f"{where}: not forced, yet its attestation {move.attestation_id} is missing")
        elif att.content_hash != move.content_hash or not att.passed or att.prompt != move.prompt:
            problems.append(f"{where}: its attestation {att.id} is not a passing run of this content")
    return problems
