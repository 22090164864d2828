"""The prompt registry: `<dir>/<name>/v<N>.yaml` files, labels and attestations in JSONL journals.

Prompt files are re-parsed only when their (mtime, size) changes; labels are folded from the
label journal, which is re-read on change (one stat per lookup), so a label move made by another
process is visible on the next request without a restart.
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

from prompts.errors import LabelNotFound, PromptFileError, PromptNotFound, VersionNotFound
from prompts.journal import Journal
from prompts.model import PromptSpec
from prompts.render import RenderedPrompt, render

_VERSION_FILE = re.compile(r"^v(\d+)\.ya?ml$")


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

    def to_record(self) -> dict[str, Any]:
        return {
            "type": "label_move", "prompt": self.prompt, "label": self.label, "from": self.from_version,
            "to": self.to_version, "actor": self.actor, "reason": self.reason, "time": self.time,
            "kind": self.kind, "content_hash": self.content_hash, "attestation_id": self.attestation_id,
        }

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> LabelMove:
        return cls(r["prompt"], r["label"], r.get("from"), r["to"], r.get("actor", ""), r.get("reason", ""),
                   r["time"], r.get("kind", "promote"), r.get("content_hash", ""), r.get("attestation_id"))


class PromptRegistry:
    def __init__(self, directory: str | Path, state_dir: str | Path | None = None,
                 *, now: Callable[[], float] = time.time) -> None:
        self.dir = Path(directory)
        self.state_dir = Path(state_dir) if state_dir else self.dir / ".sluice"
        self.labels_journal = Journal(self.state_dir / "labels.jsonl")
        self.attestations_journal = Journal(self.state_dir / "attestations.jsonl")
        self.now = now
        self._files: dict[Path, tuple[int, int, PromptSpec]] = {}

    # --- prompt files -------------------------------------------------------------------------
    def names(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(p.name for p in self.dir.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and self._version_files(p))

    def versions(self, name: str) -> list[int]:
        folder = self.dir / name
        files = self._version_files(folder) if folder.is_dir() else {}
        if not files:
            raise PromptNotFound(f"unknown prompt {name!r}; `sluice prompts list` shows the registered ones",
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
        spec = load_prompt_file(path)
        if spec.name != name or spec.version != version:
            raise PromptFileError(f"{path}: file says {spec.name}@{spec.version}, its path says {name}@{version}")
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
        stack: list[int] = []
        for move in self.label_moves(name):
            if move.label != label:
                continue
            if move.kind == "rollback" and stack:
                stack.pop()
                if not stack or stack[-1] != move.to_version:
                    stack.append(move.to_version)
            else:
                stack.append(move.to_version)
        return stack

    def record_move(self, move: LabelMove) -> None:
        self.labels_journal.append(move.to_record())

    # --- resolution ----------------------------------------------------------------------------
    def resolve(self, name: str, ref: str | int | None = None) -> PromptSpec:
        """`ref` is a version number, a label, or None (the `production` label, else the latest)."""
        if ref is None or ref == "":
            current = self.labels(name)
            if "production" in current:
                return self.get(name, current["production"])
            return self.latest(name)
        if isinstance(ref, int) or str(ref).isdigit() or (str(ref)[:1] == "v" and str(ref)[1:].isdigit()):
            return self.get(name, int(str(ref).lstrip("v")))
        current = self.labels(name)
        if ref not in current:
            self.versions(name)
            known = ", ".join(sorted(current)) or "none yet"
            raise LabelNotFound(f"prompt {name!r} has no label {ref!r} (labels: {known})", prompt=name, label=ref)
        return self.get(name, current[str(ref)])

    def render(self, name: str, ref: str | int | None, variables: dict[str, Any] | None) -> RenderedPrompt:
        return render(self.resolve(name, ref), variables)


def parse_ref(text: str) -> tuple[str, str | None]:
    """'name@label-or-version' -> (name, ref); 'name' -> (name, None)."""
    name, _, ref = text.partition("@")
    return name, (ref or None)


def load_prompt_file(path: Path) -> PromptSpec:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise PromptFileError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise PromptFileError(f"{path}: expected a mapping at the top level")
    try:
        return PromptSpec.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise PromptFileError(f"{path}: {where}: {first['msg']}", field=where) from e
