"""The prompt registry: `<dir>/<name>/v<N>.yaml` files, labels and attestations in hash-chained
JSONL journals, and the snapshots releases serve.

Two ways to read a prompt: `resolve` reads the author's files (the CLI, eval targets), `serve`
reads releases only (the gateway): a label points at an immutable snapshot, so editing a file
never changes what a label serves. Prompt files are re-parsed only when their (mtime, size)
changes; labels are folded from the verified label journal, re-read on change (one stat per
lookup), so a label move made by another process is visible on the next request.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from prompts.errors import LabelNotFound, NotReleased, PromptFileError, PromptNotFound, VersionNotFound
from prompts.journal import Journal
from prompts.model import PromptSpec
from prompts.names import NAME_PATTERN, check_name, check_ref, shown, version_of
from prompts.render import RenderedPrompt, render
from prompts.signing import KEY_ENV, Signer, signer_from_env
from prompts.store import SnapshotStore

_VERSION_FILE = re.compile(r"^v([0-9]+)\.ya?ml$")
_NAME = re.compile(NAME_PATTERN)


@dataclass(slots=True)
class LabelMove:
    prompt: str
    label: str
    from_version: int | None
    to_version: int
    actor: str
    reason: str
    time: float
    kind: str  # "promote" | "rollback" | "force"
    content_hash: str
    attestation_id: str | None = None
    snapshot: str | None = None  # the snapshot the label serves; filled in by record_move
    forced: bool = False  # moved without a valid attestation (a force, or a forced rollback)
    actor_claimed: bool = True  # the actor is what the caller said (CLI), not an authenticated identity

    def to_record(self) -> dict[str, Any]:
        return {
            "type": "label_move", "prompt": self.prompt, "label": self.label, "from": self.from_version,
            "to": self.to_version, "actor": self.actor, "actor_claimed": self.actor_claimed, "reason": self.reason,
            "time": self.time, "kind": self.kind, "forced": self.forced, "content_hash": self.content_hash,
            "snapshot": self.snapshot, "attestation_id": self.attestation_id,
        }

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> LabelMove:
        return cls(r["prompt"], r["label"], r.get("from"), r["to"], r.get("actor", ""), r.get("reason", ""),
                   r["time"], r.get("kind", "promote"), r.get("content_hash", ""), r.get("attestation_id"),
                   r.get("snapshot"), bool(r.get("forced", r.get("kind") == "force")), bool(r.get("actor_claimed", True)))


@dataclass(slots=True)
class Release:
    """What the gateway serves for one reference: a snapshot (or, if allowed, an unreleased file)."""

    spec: PromptSpec
    move: LabelMove | None  # None: an unreleased file served because the config allows it
    variant: str | None = None  # "baseline" | "candidate" during a rollout, else None

    @property
    def forced(self) -> bool:
        return self.move is not None and self.move.forced

    @property
    def header(self) -> str:
        """The `x-sluice-prompt` value: name@version, marked when forced or unreleased."""
        mark = "; forced" if self.forced else "; unreleased" if self.move is None else ""
        return self.spec.ref + mark + ("; candidate" if self.variant == "candidate" else "")


class PromptRegistry:
    def __init__(self, directory: str | Path, state_dir: str | Path | None = None,
                 *, now: Callable[[], float] = time.time, signer: Signer | None = None,
                 key_env: str | None = KEY_ENV) -> None:
        """`signer`: the attestation key; else the one in $`key_env` (None: verify chains only)."""
        self.dir = Path(directory)
        self.state_dir = Path(state_dir) if state_dir else self.dir / ".sluice"
        self.signer = signer if signer is not None else (signer_from_env(key_env) if key_env else None)
        self.labels_journal = Journal(self.state_dir / "labels.jsonl", self.signer)
        self.attestations_journal = Journal(self.state_dir / "attestations.jsonl", self.signer)
        self.store = SnapshotStore(self.state_dir / "objects")
        self.now = now
        self._files: dict[Path, tuple[int, int, PromptSpec]] = {}
        self.rollouts_folded: tuple[int, list[Any]] | None = None  # prompts.rollout's fold, by journal length

    def problems(self) -> list[str]:
        """Why the journals are not fully trusted right now (empty when they verify)."""
        self.labels_journal.refresh()
        self.attestations_journal.refresh()
        return [p for p in (self.labels_journal.problem, self.attestations_journal.problem) if p]

    # --- prompt files -------------------------------------------------------------------------
    def names(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(p.name for p in self.dir.iterdir()
                      if p.is_dir() and _NAME.match(p.name) and self._version_files(p))

    def versions(self, name: str) -> list[int]:
        folder = self.dir / check_name(name)
        files = self._version_files(folder) if folder.is_dir() else {}
        if not files:
            raise PromptNotFound(f"unknown prompt {shown(name)}; `sluice prompts list` shows the registered ones",
                                 prompt=name)
        return sorted(files)

    def _version_files(self, folder: Path) -> dict[int, Path]:
        out = {}
        for p in folder.iterdir():
            m = _VERSION_FILE.match(p.name)
            if m:
                out[int(m.group(1))] = p
        return out

    def path_of(self, name: str, version: int) -> Path:
        check_name(name)
        for ext in ("yaml", "yml"):
            p = self.dir / name / f"v{version}.{ext}"
            if p.exists():
                return p
        self.versions(name)  # raises PromptNotFound if the prompt itself is unknown
        raise VersionNotFound(f"prompt {name!r} has no version {version}", prompt=name, version=version)

    def get(self, name: str, version: int) -> PromptSpec:
        path = self.path_of(name, version)
        st = os.stat(path)
        cached = self._files.get(path)
        if cached and cached[0] == st.st_mtime_ns and cached[1] == st.st_size:
            return cached[2]
        spec = load_prompt_file(path, shown_as=f"{name}/{path.name}")
        if spec.name != name or spec.version != version:
            raise PromptFileError(f"{name}/{path.name}: file says {spec.name}@{spec.version}, "
                                  f"its path says {name}@{version}")
        self._files[path] = (st.st_mtime_ns, st.st_size, spec)
        return spec

    def latest(self, name: str) -> PromptSpec:
        return self.get(name, self.versions(name)[-1])

    # --- labels --------------------------------------------------------------------------------
    def label_moves(self, name: str | None = None) -> list[LabelMove]:
        return [LabelMove.from_record(r) for r in self.labels_journal.records()
                if r.get("type") == "label_move" and (name is None or r["prompt"] == name)]

    def labels(self, name: str) -> dict[str, int]:
        """Current label -> version for one prompt (folded from the journal)."""
        out: dict[str, int] = {}
        for move in self.label_moves(name):
            out[move.label] = move.to_version
        return out

    def label_stack(self, name: str, label: str) -> list[int]:
        """The label's versions, newest last, with rolled-back entries popped: rollback goes to [-2]."""
        return [m.to_version for m in self.move_stack(name, label)]

    def current_moves(self, name: str) -> dict[str, LabelMove]:
        """Current label -> the move that put it there (its snapshot is what the label serves)."""
        out: dict[str, LabelMove] = {}
        for move in self.label_moves(name):
            out[move.label] = move
        return out

    def move_stack(self, name: str, label: str) -> list[LabelMove]:
        """label_stack as moves: each entry's snapshot is the content the label served then."""
        stack: list[LabelMove] = []
        for move in self.label_moves(name):
            if move.label != label:
                continue
            if move.kind == "rollback" and stack:
                stack.pop()
                if not stack or stack[-1].to_version != move.to_version:
                    stack.append(move)
                else:
                    stack[-1] = move
            else:
                stack.append(move)
        return stack

    def record_move(self, move: LabelMove) -> LabelMove:
        """Append a move; without a snapshot, the version's current file is snapshotted first."""
        if move.snapshot is None:
            spec = self.get(move.prompt, move.to_version)
            move.snapshot, move.content_hash = self.store.put(spec), spec.content_hash()
        self.labels_journal.append(move.to_record())
        return move

    def snapshot_of(self, move: LabelMove) -> PromptSpec:
        if not move.snapshot:
            raise NotReleased(f"the {move.label} move of {move.prompt} has no snapshot; promote it again")
        return self.store.get(move.snapshot)

    # --- resolution ----------------------------------------------------------------------------
    def resolve(self, name: str, ref: str | int | None = None) -> PromptSpec:
        """The author's file: `ref` is a version number, a label, or None (`production`, else the latest).

        A label here names the version it points at; `serve` is what the gateway uses."""
        check_name(name)
        if ref is None or ref == "":
            current = self.labels(name)
            if "production" in current:
                return self.get(name, current["production"])
            return self.latest(name)
        ref = check_ref(ref)
        if isinstance(ref, int):
            return self.get(name, ref)
        current = self.labels(name)
        if ref not in current:
            self.versions(name)
            known = ", ".join(sorted(current)) or "none yet"
            raise LabelNotFound(f"prompt {name!r} has no label {ref!r} (labels: {known})", prompt=name, label=ref)
        return self.get(name, current[ref])

    def serve(self, name: str, ref: str | int | None = None, *, pins: bool = True,
              unreleased: bool = False, unit: str | None = None) -> Release:
        """What a released prompt serves: the snapshot a label (default `production`) points at, or
        with `pins` the latest released snapshot of a version. Never the live file, unless
        `unreleased` allows a prompt/version that has no release at all."""
        check_name(name)
        version = version_of(ref) if ref not in (None, "") else None
        if version is not None:
            check_ref(version)
            if not pins:
                raise VersionNotFound(f"version pins are off in this gateway (prompts.version_pins: false); "
                                      f"name a label, e.g. {name}@production", prompt=name, pinned=True)
            moves = [m for m in self.label_moves(name) if m.to_version == version]
            if moves:
                return Release(self.snapshot_of(moves[-1]), moves[-1])
            if unreleased:
                return Release(self.get(name, version), None)
            self.path_of(name, version)  # unknown prompt or version: say that instead
            raise NotReleased(f"{name}@{version} was never released; promote it "
                              f"(`sluice prompts promote {name} {version} --to LABEL`) to serve it", prompt=name)
        label = "production" if ref in (None, "") else check_ref(str(ref))
        current = self.current_moves(name)
        if label in current:
            move = current[str(label)]
            if unit is not None:
                from prompts.rollout import active, assign

                ro = active(self, name, str(label))
                if ro is not None:
                    if assign(ro, unit) == "candidate":
                        return Release(self.store.get(ro.snapshot), move, "candidate")
                    return Release(self.snapshot_of(move), move, "baseline")
            return Release(self.snapshot_of(move), move)
        self.versions(name)
        if not current:
            if unreleased and ref in (None, ""):
                return Release(self.latest(name), None)
            raise NotReleased(f"prompt {name!r} has no released version yet; promote one "
                              f"(`sluice prompts promote {name} VERSION`) to serve it", prompt=name)
        known = ", ".join(sorted(current))
        raise LabelNotFound(f"prompt {name!r} has no label {label!r} (labels: {known})", prompt=name, label=label)

    def status(self) -> list[dict[str, Any]]:
        """Released versions whose file differs from (or lost) the snapshot its labels serve."""
        out: list[dict[str, Any]] = []
        for name in self.names():
            for label, move in sorted(self.current_moves(name).items()):
                snap = self.snapshot_of(move)
                try:
                    live: PromptSpec | None = self.get(name, move.to_version)
                except PromptNotFound:
                    live = None
                if live is None or live.model_dump(mode="json") != snap.model_dump(mode="json"):
                    out.append({"prompt": name, "version": move.to_version, "label": label,
                                "state": "deleted" if live is None else
                                "edited" if live.content_hash() != snap.content_hash() else "edited (metadata)",
                                "snapshot": move.snapshot, "served_hash": snap.content_hash(),
                                "file_hash": live.content_hash() if live else None})
        return out

    def render(self, name: str, ref: str | int | None, variables: dict[str, Any] | None) -> RenderedPrompt:
        return render(self.resolve(name, ref), variables)


def parse_ref(text: str) -> tuple[str, str | None]:
    """'name@label-or-version' -> (name, ref); 'name' -> (name, None). Validation is the registry's."""
    name, _, ref = text.partition("@")
    return name, (ref or None)


def load_prompt_file(path: Path, *, shown_as: str | None = None) -> PromptSpec:
    where_file = shown_as or str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise PromptFileError(f"{where_file}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise PromptFileError(f"{where_file}: expected a mapping at the top level")
    try:
        return PromptSpec.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise PromptFileError(f"{where_file}: {where}: {first['msg']}", field=where) from e
