"""The gate: a label moves to a version only if that version's exact content hash has a passing
attestation, or with `force` and a reason (recorded as kind "force"). Rollback is always allowed
(it returns to a version that was promoted before) and is recorded too.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from prompts.attestations import Attestation, attestations_for
from prompts.errors import PromotionRefused, PromptError
from prompts.registry import LabelMove, PromptRegistry


def check(registry: PromptRegistry, name: str, version: int) -> Attestation:
    """Return the passing attestation for name@version's current content, or raise PromotionRefused."""
    spec = registry.get(name, version)
    found = attestations_for(registry, name, spec.content_hash())
    if spec.suite:  # only a run of the suite that guards this prompt counts
        guard = PurePosixPath(spec.suite).name
        found = [a for a in found if a.suite_file == guard]
    att = found[-1] if found else None
    if att is None:
        raise PromotionRefused(
            f"{spec.ref} ({spec.content_hash()[:19]}) has no eval attestation"
            f"{f' from its suite {PurePosixPath(spec.suite).name}' if spec.suite else ''}; run it "
            f"(`sluice eval run SUITE --attest` or `sluice prompts promote ... --run`) first",
            attestation=None,
        )
    if not att.passed:
        raise PromotionRefused(
            f"{spec.ref}: the latest run of suite {att.suite!r} on this content failed", attestation=att
        )
    return att


def promote(registry: PromptRegistry, name: str, version: int, label: str, *, actor: str,
            reason: str = "", force: bool = False) -> LabelMove:
    spec = registry.get(name, version)
    current = registry.labels(name).get(label)
    attestation: Attestation | None = None
    if force:
        if not reason.strip():
            raise PromptError("--force needs --reason: say why the eval gate is being bypassed")
        try:
            attestation = check(registry, name, version)
        except PromotionRefused:
            attestation = None
    else:
        attestation = check(registry, name, version)
    move = LabelMove(
        prompt=name, label=label, from_version=current, to_version=version, actor=actor, reason=reason,
        time=registry.now(), kind="force" if force and attestation is None else "promote",
        content_hash=spec.content_hash(), attestation_id=attestation.id if attestation else None,
    )
    registry.record_move(move)
    return move


def rollback(registry: PromptRegistry, name: str, label: str, *, actor: str, reason: str = "") -> LabelMove:
    stack = registry.label_stack(name, label)
    if not stack:
        raise PromptError(f"prompt {name!r} has no label {label!r} to roll back")
    if len(stack) < 2:
        raise PromptError(f"label {label!r} of {name!r} has no earlier version to roll back to")
    target = stack[-2]
    spec = registry.get(name, target)
    move = LabelMove(
        prompt=name, label=label, from_version=stack[-1], to_version=target, actor=actor,
        reason=reason or "rollback", time=registry.now(), kind="rollback", content_hash=spec.content_hash(),
    )
    registry.record_move(move)
    return move
