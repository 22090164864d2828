"""Prompt rollouts: a share of a label's traffic gets a candidate version, sticky per unit.

A rollout lives in the labels journal as `rollout_start`, `rollout_step`, `rollout_abort` and
`rollout_promote` records; at most one is active per (prompt, label). Starting needs the candidate
to pass the same gate `promote` uses; its snapshot is taken at start, so an edit after that is never
served. `assign` buckets a unit with blake2b, identical on every replica, and raising the percent
only moves units from baseline to candidate.

The unit (chosen by the gateway) is the `x-sluice-session` header if given, else the user id, else
the virtual key id, else the request id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prompts.errors import PromptError
from prompts.names import check_label

if TYPE_CHECKING:
    from prompts.registry import LabelMove, PromptRegistry

ROLLOUT_TYPES = ("rollout_start", "rollout_step", "rollout_abort", "rollout_promote")


@dataclass(slots=True)
class Rollout:
    id: str
    prompt: str
    label: str
    baseline: int
    candidate: int
    percent: int
    started: float
    actor: str
    snapshot: str  # the candidate's content, taken at start
    content_hash: str
    history: list[dict[str, Any]] = field(default_factory=list)
    state: str = "active"  # "active" | "aborted" | "promoted"


def check_percent(percent: int) -> int:
    if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 100:
        raise PromptError(f"percent must be an integer from 1 to 100, got {percent!r}")
    return percent


def rollouts(registry: PromptRegistry, name: str | None = None) -> list[Rollout]:
    """Every rollout folded from the labels journal, oldest first."""
    return [ro for ro in _folded(registry) if name is None or ro.prompt == name]


def _folded(registry: PromptRegistry) -> list[Rollout]:
    """The fold, kept until the journal grows: it is append-only, so its length says whether the
    fold is current, and a prompt request does not re-read every record."""
    records = registry.labels_journal.records()
    cached = registry.rollouts_folded
    if cached is not None and cached[0] == len(records):
        return cached[1]
    out: dict[str, Rollout] = {}
    for r in records:
        kind = r.get("type")
        if kind not in ROLLOUT_TYPES:
            continue
        if kind == "rollout_start":
            out[r["rollout_id"]] = Rollout(r["rollout_id"], r["prompt"], r["label"], r["baseline"], r["candidate"],
                                           r["percent"], r["time"], r.get("actor", ""), r["snapshot"],
                                           r.get("content_hash", ""), [r])
            continue
        ro = out.get(r.get("rollout_id", ""))
        if ro is None or ro.state != "active":
            continue
        ro.history.append(r)
        if kind == "rollout_step":
            ro.percent = int(r["percent"])
        elif kind == "rollout_abort":
            ro.state = "aborted"
        else:
            ro.state = "promoted"
    folded = list(out.values())
    registry.rollouts_folded = (len(records), folded)
    return folded


def active(registry: PromptRegistry, name: str, label: str) -> Rollout | None:
    found = [r for r in rollouts(registry, name) if r.label == label and r.state == "active"]
    return found[-1] if found else None


def bucket(ro: Rollout, unit: str) -> int:
    key = f"{ro.prompt}\0{ro.label}\0{ro.id}\0{unit}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") % 10000


def assign(ro: Rollout, unit: str) -> str:
    """"candidate" or "baseline" for `unit`, stable across processes; monotone in the percent."""
    return "candidate" if bucket(ro, unit) < ro.percent * 100 else "baseline"


def _require(registry: PromptRegistry, name: str, label: str) -> Rollout:
    ro = active(registry, name, label)
    if ro is None:
        registry.versions(name)
        raise PromptError(f"prompt {name!r} has no active rollout on label {label!r}")
    return ro


def _append(registry: PromptRegistry, record: dict[str, Any]) -> None:
    registry.labels_journal.append(record)


def start(registry: PromptRegistry, name: str, candidate: int, label: str = "production", *, percent: int,
          actor: str, policy: Any = None, fingerprint: Any = None) -> Rollout:
    """Begin a rollout of `candidate` on `label`; refused by the gate exactly as promote would be."""
    from prompts import gate

    check_label(label)
    check_percent(percent)
    current = registry.current_moves(name).get(label)
    if current is None:
        registry.versions(name)
        raise PromptError(f"prompt {name!r} has no label {label!r} yet; promote a baseline first")
    if active(registry, name, label) is not None:
        raise PromptError(f"prompt {name!r} already has an active rollout on {label!r}; step, abort or promote it")
    if candidate == current.to_version:
        raise PromptError(f"{name}@{candidate} is already what {label!r} serves")
    spec = registry.get(name, candidate)
    gate.check(registry, spec, label=label, policy=policy, fingerprint=fingerprint)
    t = registry.now()
    rid = hashlib.blake2b(f"{name}\0{label}\0{candidate}\0{t}\0{len(registry.labels_journal.records())}".encode(),
                          digest_size=6).hexdigest()
    _append(registry, {"type": "rollout_start", "rollout_id": rid, "prompt": name, "label": label,
                       "baseline": current.to_version, "candidate": candidate, "percent": percent, "time": t,
                       "actor": actor, "snapshot": registry.store.put(spec), "content_hash": spec.content_hash()})
    ro = active(registry, name, label)
    assert ro is not None
    return ro


def step(registry: PromptRegistry, name: str, label: str = "production", *, percent: int, actor: str) -> Rollout:
    check_percent(percent)
    ro = _require(registry, name, label)
    record = {"type": "rollout_step", "rollout_id": ro.id, "prompt": name, "label": label,
              "percent": percent, "time": registry.now(), "actor": actor}
    _append(registry, record)
    ro.history.append(record)
    ro.percent = percent
    return ro


def abort(registry: PromptRegistry, name: str, label: str = "production", *, actor: str, reason: str = "",
          evidence: dict[str, Any] | None = None, rollout_id: str | None = None) -> Rollout:
    """End the rollout; everyone is back on the baseline. `evidence` (an automatic halt's guard trips
    and comparison) is kept in the journal record. With `rollout_id`, only that rollout is ended
    (a replica that lost the race to halt it gets a PromptError, not someone else's rollout)."""
    ro = _require(registry, name, label)
    if rollout_id is not None and ro.id != rollout_id:
        raise PromptError(f"rollout {rollout_id} on {name!r} {label!r} is no longer active")
    record: dict[str, Any] = {"type": "rollout_abort", "rollout_id": ro.id, "prompt": name, "label": label,
                              "time": registry.now(), "actor": actor, "reason": reason}
    if evidence is not None:
        record["evidence"] = evidence
    _append(registry, record)
    ro.history.append(record)
    ro.state = "aborted"
    return ro


def promote(registry: PromptRegistry, name: str, label: str = "production", *, actor: str, reason: str = "",
            policy: Any = None, fingerprint: Any = None) -> LabelMove:
    """The gated promote of the candidate's start snapshot; ends the rollout."""
    from prompts import gate
    from prompts.registry import LabelMove

    ro = _require(registry, name, label)
    spec = registry.store.get(ro.snapshot)
    att = gate.check(registry, spec, label=label, policy=policy, fingerprint=fingerprint)
    move = LabelMove(prompt=name, label=label, from_version=ro.baseline, to_version=ro.candidate, actor=actor,
                     reason=reason or f"rollout {ro.id}", time=registry.now(), kind="promote",
                     content_hash=spec.content_hash(), attestation_id=att.id, snapshot=ro.snapshot)
    registry.record_move(move)
    _append(registry, {"type": "rollout_promote", "rollout_id": ro.id, "prompt": name, "label": label,
                       "time": registry.now(), "actor": actor})
    return move
