"""An append-only, hash-chained JSONL file shared by processes: appends under a lock, readers tail it.

Each record carries `prev` (the previous record's `hash`) and `hash` (sha256 over the record with
`prev`, without `hash`/`sig`), and, when a signing key is at hand, `sig` (HMAC of `hash`) and
`key_id`. A reader keeps only records that verify. Anything else, a rewritten byte of what it
already read (same inode or not, same length or not), a line whose hash or chain is wrong, or an
unsigned or wrongly signed line while it holds the key, is not taken in: the reader keeps its last
verified records and sets `problem`, and `append` refuses until the file is restored.

`refresh()` costs one `os.stat` when nothing changed, so a label moved by `sluice prompts promote`
is seen by every replica on its next request.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from typing import Any

import orjson

from prompts.errors import IntegrityError
from prompts.signing import Signer

GENESIS = "sha256:" + "0" * 64
_UNHASHED = ("hash", "sig", "key_id")


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k not in _UNHASHED}
    return "sha256:" + hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


class Journal:
    def __init__(self, path: Path, signer: Signer | None = None) -> None:
        self.path = path
        self.signer = signer
        self.problem: str | None = None
        self._records: list[dict[str, Any]] = []
        self._offset = 0  # bytes verified so far
        self._prefix = hashlib.sha256()  # digest of those bytes: a rewrite of any of them shows
        self._stat: tuple[int, int, int] | None = None

    # --- writing -------------------------------------------------------------------------------
    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Chain (and sign) `record` after the last verified one; refuses on a damaged journal."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self.refresh()  # under the lock: nobody appends between reading the tail and writing
            if self.problem:
                raise IntegrityError(f"refusing to append: {self.problem}")
            full = {k: v for k, v in record.items() if k not in ("prev", *_UNHASHED)}
            full["prev"] = self._records[-1]["hash"] if self._records else GENESIS
            full["hash"] = record_hash(full)
            if self.signer is not None:
                full["sig"], full["key_id"] = self.signer.sign(full["hash"]), self.signer.key_id
            os.write(fd, orjson.dumps(full) + b"\n")  # one write of one line: never half a record
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self.refresh()
        return full

    # --- reading -------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Take in appended records that verify; returns True if anything was added."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self._records:
                self.problem = f"{self.path.name} was deleted; serving its last verified state"
            return False
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if stamp == self._stat:
            return False
        self._stat = stamp
        with open(self.path, "rb") as f:
            data = f.read()
        if len(data) < self._offset or hashlib.sha256(data[: self._offset]).digest() != self._prefix.digest():
            self.problem = (f"{self.path.name} was rewritten: its first {self._offset} bytes changed after they "
                            "were verified; restore it from a backup (the gateway keeps serving the last "
                            "verified state)")
            return False
        self.problem = None
        end = data.rfind(b"\n") + 1  # a line still being written is read next time
        added = False
        pos = self._offset
        for raw in data[self._offset:end].splitlines(keepends=True):
            line_no = len(self._records) + 1
            if raw.strip():
                reason = self._check(raw)
                if reason:
                    self.problem = f"{self.path.name} line {line_no}: {reason}; nothing from it on is trusted"
                    break
                self._records.append(orjson.loads(raw))
                added = True
            self._prefix.update(raw)
            pos += len(raw)
        self._offset = pos
        return added

    def _check(self, raw: bytes) -> str | None:
        try:
            rec = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return "not a JSON record"
        if not isinstance(rec, dict):
            return "not a JSON object"
        prev = self._records[-1].get("hash") if self._records else GENESIS
        if "hash" not in rec or rec.get("prev") != prev:
            return "does not chain to the record before it (added or reordered by hand?)"
        if record_hash(rec) != rec["hash"]:
            return "its content does not match its hash (edited by hand?)"
        if self.signer is not None and not self.signer.verify(rec["hash"], rec.get("sig")):
            other = rec.get("key_id")
            return ("is not signed" if not rec.get("sig") else
                    f"is signed with another key ({other})" if other != self.signer.key_id else "has a forged signature")
        return None

    def records(self) -> list[dict[str, Any]]:
        self.refresh()
        return self._records
