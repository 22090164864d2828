"""The content-addressed snapshot store: what a release serves, immutable and self-verifying.

Promoting a version copies its parsed content into `<state>/objects/<hh>/<sha256>.json`, named by
the sha256 of its canonical JSON. A label points at that hash, so editing (or deleting) the YAML
file never changes what the label serves. A snapshot whose bytes no longer match its name is
refused; one verified before stays served from memory.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import orjson

from prompts.errors import IntegrityError
from prompts.model import PromptSpec

_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


def snapshot_bytes(spec: PromptSpec) -> bytes:
    return orjson.dumps(spec.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)


def snapshot_hash(spec: PromptSpec) -> str:
    return "sha256:" + hashlib.sha256(snapshot_bytes(spec)).hexdigest()


class SnapshotStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._verified: dict[str, PromptSpec] = {}

    def _path(self, digest: str) -> Path:
        if not _HASH.match(digest):
            raise IntegrityError(f"not a snapshot hash: {digest[:80]!r}")
        hexd = digest[7:]
        return self.root / hexd[:2] / f"{hexd}.json"

    def put(self, spec: PromptSpec) -> str:
        data = snapshot_bytes(spec)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_bytes(data)
            os.chmod(tmp, 0o444)
            os.replace(tmp, path)  # atomic: a reader sees the whole snapshot or none
        self._verified[digest] = spec
        return digest

    def get(self, digest: str) -> PromptSpec:
        cached = self._verified.get(digest)
        if cached is not None:
            return cached
        try:
            data = self._path(digest).read_bytes()
        except FileNotFoundError:
            raise IntegrityError(f"snapshot {digest[7:19]} is missing from the store") from None
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise IntegrityError(f"snapshot {digest[7:19]} was modified: its bytes no longer match its hash")
        spec = PromptSpec.model_validate(orjson.loads(data))
        self._verified[digest] = spec
        return spec

    def check(self, digest: str) -> str | None:
        """Re-read one snapshot from disk (ignoring memory): None when intact, else what is wrong."""
        self._verified.pop(digest, None)
        try:
            self.get(digest)
        except IntegrityError as e:
            return e.message
        return None
