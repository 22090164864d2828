"""Result cache: a model reply is stored under a key of (target content, case, parameters, repeat).

The key is computed from the exact request body (which is the rendered target content for that
case plus every parameter) and the repeat index, so a re-run with nothing changed makes no model
calls, and any edit to the prompt, the case or a parameter misses. One SQLite file; writes are
committed in batches and on close.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson


class ResultCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, reply BLOB NOT NULL)")
        self._pending = 0

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def put(self, key: str, reply: dict[str, Any]) -> None:
        self._db.execute("INSERT OR REPLACE INTO replies (key, reply) VALUES (?, ?)", (key, orjson.dumps(reply)))
        self._pending += 1
        if self._pending >= 200:
            self.flush()

    def flush(self) -> None:
        self._db.commit()
        self._pending = 0

    def close(self) -> None:
        self.flush()
        self._db.close()
