"""An append-only JSONL file shared by processes: appends under an exclusive lock, readers tail it.

Several gateway replicas (or a CLI and a gateway) share one journal: `refresh()` costs one
`os.stat` when nothing changed and otherwise reads only the bytes appended since the last read,
so a label moved by `sluice prompts promote` is seen by every replica on its next request.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

import orjson


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._records: list[dict[str, Any]] = []
        self._offset = 0
        self._ino: int | None = None

    def append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = orjson.dumps(record) + b"\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)  # one write of one line: readers never see half a record
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self.refresh()

    def refresh(self) -> bool:
        """Pick up appended records; returns True if anything changed."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            changed = bool(self._records)
            self._records, self._offset, self._ino = [], 0, None
            return changed
        if st.st_ino != self._ino or st.st_size < self._offset:  # replaced or truncated: start over
            self._records, self._offset, self._ino = [], 0, st.st_ino
        if st.st_size == self._offset:
            return False
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # a line still being written is read next time
        for raw in data[:end].splitlines():
            if raw.strip():
                self._records.append(orjson.loads(raw))
        self._offset += end
        return end > 0

    def records(self) -> list[dict[str, Any]]:
        self.refresh()
        return self._records
