"""The gate: a label moves to content only on a valid attestation, or forced with a reason.

Valid means: signed with the registry's key (the journal verifies it), on this exact content hash,
from the suite file the prompt names in `suite:` at that file's current hash (and, when the caller
can compute it, the current dataset hash), by a kind of run the label's policy accepts (a replay
counts only when its cassette is one a signed recording run wrote, unless the policy says
otherwise), and the latest such run passed. A rollback goes back to the content the label served
before, and is held to the same rule unless forced. Every move needs the key: it is signed.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable
from pathlib import Path

from prompts.attestations import Attestation, attestations_for
from prompts.config import LabelPolicy
from prompts.errors import PromotionRefused, PromptError
from prompts.model import PromptSpec
from prompts.names import check_label
from prompts.registry import LabelMove, PromptRegistry
from prompts.signing import no_key_message

# suite file -> (suite hash, dataset hash); the eval harness provides it (evals.attest.suite_fingerprint)
Fingerprint = Callable[[Path], tuple[str, str]]

LIVE_MODES = ("live", "record")


def declared_suite(spec: PromptSpec) -> str | None:
    """The prompt's `suite:` as a path relative to the registry folder (how attestations record it)."""
    if not spec.suite:
        return None
    return posixpath.normpath(posixpath.join(spec.name, spec.suite))


def _require_trust(registry: PromptRegistry) -> None:
    if registry.signer is None:
        raise PromotionRefused(no_key_message(), attestation=None)
    problems = registry.problems()
    if problems:
        raise PromotionRefused("the registry's history does not verify, so no label moves: " + "; ".join(problems)
                               + " (`sluice prompts verify` lists everything)", attestation=None)


def check(registry: PromptRegistry, spec: PromptSpec, *, label: str = "production",
          policy: LabelPolicy | None = None, fingerprint: Fingerprint | None = None) -> Attestation:
    """The attestation that lets `spec`'s content onto `label`, or PromotionRefused saying why not."""
    _require_trust(registry)
    policy = policy or LabelPolicy()
    chash = spec.content_hash()
    every = attestations_for(registry, spec.name, chash)
    found, skipped = list(every), []
    suite = declared_suite(spec)
    if suite is None and policy.require_suite:
        raise PromotionRefused(
            f"{spec.ref} names no suite, so no run can be checked against the one that guards it. To fix: add "
            f"`suite: PATH` (its eval suite, relative to the file) in a new version, or set "
            f"`require_suite: false` in label {label!r}'s policy", attestation=None)
    if suite is not None:
        path = registry.dir / suite
        try:
            suite_hash = "sha256:" + hashlib.sha256(path.read_text(encoding="utf-8").encode()).hexdigest()
        except OSError:
            raise PromotionRefused(f"{spec.ref} names suite {spec.suite}, which does not exist", attestation=None) from None
        dataset_hash = fingerprint(path)[1] if fingerprint is not None else None
        other = [a for a in found if a.suite_path != suite]
        stale = [a for a in found if a.suite_path == suite and (a.suite_hash != suite_hash or (
            dataset_hash is not None and a.dataset_hash != dataset_hash))]
        if other:
            skipped.append(f"{len(other)} run(s) of another suite file")
        if stale:
            skipped.append(f"{len(stale)} run(s) of an earlier version of its suite or dataset")
        found = [a for a in found if a not in other and a not in stale]
    recorded = {a.cassette_hash for a in every if a.mode == "record" and a.cassette_hash}
    accepted = []
    for a in found:
        if a.mode in LIVE_MODES or policy.evidence == "any-replay":
            accepted.append(a)
        elif policy.evidence == "live":
            skipped.append(f"replay {a.id} (label {label!r} accepts live runs only)")
        elif a.cassette_hash in recorded:
            accepted.append(a)
        else:
            skipped.append(f"replay {a.id} (its cassette was not written by a signed recording run)")
    att = accepted[-1] if accepted else None
    why = f" (not counted: {'; '.join(skipped)})" if skipped else ""
    if att is None:
        run = (f"`sluice prompts promote {spec.name} {spec.version} --run`" if spec.suite
               else f"add `suite:` to {spec.ref}'s file, then `sluice prompts promote ... --run`")
        raise PromotionRefused(
            f"{spec.ref} ({chash[:19]}) has no valid eval attestation{f' from its suite {spec.suite}' if suite else ''}"
            f"{why}. To fix: run its suite on this version ({run}, or `sluice eval run SUITE --attest`) "
            f"with $SLUICE_ATTEST_KEY set", attestation=None)
    if not att.passed:
        failed = sum(1 for a in accepted if not a.passed)
        raise PromotionRefused(
            f"{spec.ref}: the latest valid run of suite {att.suite!r} on this content failed ({failed} of "
            f"{len(accepted)} valid runs failed){why}. To fix: change the prompt (a new version) until its suite "
            f"passes, or move the label with --force --reason WHY", attestation=att)
    return att


def _forced(reason: str, what: str) -> None:
    if not reason.strip():
        raise PromptError(f"--force needs --reason: say why {what}")


def _forced_check(registry: PromptRegistry, spec: PromptSpec, reason: str, why: str, *, label: str,
                  policy: LabelPolicy | None, fingerprint: Fingerprint | None) -> Attestation | None:
    """A forced move needs a reason and the signing key; it still records an attestation that holds."""
    _forced(reason, why)
    _require_trust(registry)
    try:
        return check(registry, spec, label=label, policy=policy, fingerprint=fingerprint)
    except PromotionRefused:
        return None


def promote(registry: PromptRegistry, name: str, version: int, label: str, *, actor: str, reason: str = "",
            force: bool = False, policy: LabelPolicy | None = None, fingerprint: Fingerprint | None = None,
            actor_claimed: bool = True) -> LabelMove:
    """Snapshot name@version's current content and point `label` at it, through the gate."""
    check_label(label)
    spec = registry.get(name, version)
    current = registry.labels(name).get(label)
    attestation: Attestation | None = None
    if force:
        attestation = _forced_check(registry, spec, reason, "the eval gate is being bypassed", label=label, policy=policy,
                                    fingerprint=fingerprint)
    else:
        attestation = check(registry, spec, label=label, policy=policy, fingerprint=fingerprint)
    move = LabelMove(
        prompt=name, label=label, from_version=current, to_version=version, actor=actor, reason=reason,
        time=registry.now(), kind="force" if attestation is None else "promote",
        content_hash=spec.content_hash(), attestation_id=attestation.id if attestation else None,
        snapshot=registry.store.put(spec), forced=attestation is None, actor_claimed=actor_claimed,
    )
    return registry.record_move(move)


def rollback(registry: PromptRegistry, name: str, label: str, *, actor: str, reason: str = "",
             force: bool = False, policy: LabelPolicy | None = None, fingerprint: Fingerprint | None = None,
             actor_claimed: bool = True) -> LabelMove:
    """Point `label` back at the snapshot it served before its last move (never the live file)."""
    check_label(label)
    stack = registry.move_stack(name, label)
    if not stack:
        registry.versions(name)
        raise PromptError(f"prompt {name!r} has no label {label!r} to roll back")
    if len(stack) < 2:
        raise PromptError(f"label {label!r} of {name!r} has no earlier version to roll back to")
    target = stack[-2]
    spec = registry.snapshot_of(target)
    attestation: Attestation | None = None
    if force:
        attestation = _forced_check(registry, spec, reason, "the rollback skips the eval gate", label=label, policy=policy,
                                    fingerprint=fingerprint)
    else:
        try:
            attestation = check(registry, spec, label=label, policy=policy, fingerprint=fingerprint)
        except PromotionRefused as e:
            raise PromotionRefused(f"rollback of {name} {label} to v{target.to_version} refused: {e.message}; "
                                   f"or roll back anyway with --force --reason WHY",
                                   attestation=e.details.get("attestation")) from e
    move = LabelMove(
        prompt=name, label=label, from_version=stack[-1].to_version, to_version=target.to_version, actor=actor,
        reason=reason or "rollback", time=registry.now(), kind="rollback", content_hash=spec.content_hash(),
        attestation_id=attestation.id if attestation else None, snapshot=target.snapshot,
        forced=attestation is None, actor_claimed=actor_claimed,
    )
    return registry.record_move(move)
