"""The spend ledger writer: one row per request, never on the hot path, never lost.

How a row travels:
1. `record(row)` (called from a hook's `finished`, after the response went out) appends one JSON
   line to this process's spool file with a single unbuffered `os.write`. Once it returns, the row
   is in the kernel: a SIGKILL of the gateway cannot lose it (a power loss can, unless
   `fsync: true`). Memory use does not grow with the backlog: rows wait on disk, not in a queue.
2. A background task reads the spool from its last offset in chunks, inserts batches with
   INSERT ... ON CONFLICT (request_id) DO NOTHING, and advances the offset after the commit.
   When it has caught up it truncates the spool.
3. On startup, spools left by dead processes (no flock held) are replayed into the database and
   removed; replays are harmless because inserts are idempotent on request id.
4. `aclose()` (SIGTERM / lifespan shutdown) flushes everything and removes the spool.

Loss bound under SIGKILL: only rows of requests whose `finished` had not yet run, i.e. requests
still in flight when the process died. A row whose `record` returned is never lost.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from gateway.spend.schema import ledger

log = logging.getLogger("sluice.spend.ledger")

_READ_CHUNK = 1 << 20  # bytes read from the spool per step: bounds the writer's memory


def insert_rows(engine: sa.Engine, rows: list[dict[str, Any]]) -> int:
    """Insert rows, skipping request ids already present (idempotent replays).

    Returns the driver's count of inserted rows: exact on SQLite; psycopg's pipelined
    executemany reports 0, so on PostgreSQL it is not a count of anything.
    """
    if not rows:
        return 0
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif engine.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    else:  # pragma: no cover - only the two backends are configurable
        raise RuntimeError(f"unsupported ledger database {engine.dialect.name}")
    # The engine runs this as the driver's own executemany (see db.make_engine): one parsed
    # statement, rows streamed (psycopg pipelines them).
    stmt = insert(ledger).on_conflict_do_nothing(index_elements=["request_id"])
    with engine.begin() as conn:
        return max(conn.execute(stmt, rows).rowcount, 0)  # informational only


def _complete_lines(buf: bytes) -> tuple[list[bytes], int]:
    """Split off complete lines; a torn last line (killed mid-write) is left for later or dropped."""
    end = buf.rfind(b"\n")
    if end < 0:
        return [], 0
    return buf[: end + 1].splitlines(), end + 1


def _parse(lines: list[bytes]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if not line.strip():
            continue
        try:
            yield orjson.loads(line)
        except orjson.JSONDecodeError:
            log.error("skipping a corrupt spool line (%d bytes)", len(line))


class LedgerWriter:
    def __init__(
        self,
        engine: sa.Engine,
        spool_dir: str | Path,
        *,
        batch_size: int = 500,
        flush_interval_s: float = 0.2,
        fsync: bool = False,
    ) -> None:
        self.engine = engine
        self.spool_dir = Path(spool_dir)
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.fsync = fsync
        self._fd: int | None = None
        self._path: Path | None = None
        self._read_off = 0
        self._unflushed = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._stopping = False
        self.rows_written = 0  # rows flushed to the database (replayed duplicates included)
        self.rows_recorded = 0
        self.flush_errors = 0

    # -- lifecycle -------------------------------------------------------------------------------
    def open(self) -> None:
        """Recover orphaned spools synchronously, then open this process's own spool."""
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.recover_orphans()
        self._path = self.spool_dir / f"spool-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._fd = fd

    async def start(self) -> None:
        if self._fd is None:
            await asyncio.to_thread(self.open)
        self._task = asyncio.create_task(self._run(), name="sluice-ledger-writer")

    async def aclose(self) -> None:
        if self._task is not None:
            # Ask the loop to stop rather than cancel it: a cancel can land mid-insert, and on
            # Python 3.11 wait_for() can swallow a cancel that races with its inner future.
            self._stopping = True
            self._wake.set()
            await self._task
            self._task = None
        if self._fd is None:
            return
        await self.flush()
        if self._read_off == os.fstat(self._fd).st_size:
            os.close(self._fd)
            assert self._path is not None
            self._path.unlink(missing_ok=True)
        else:  # the database refused the last rows: keep the spool for the next start
            log.error("ledger: database unavailable at shutdown; %s keeps the unwritten rows", self._path)
            os.close(self._fd)
        self._fd = None

    # -- hot-ish path ----------------------------------------------------------------------------
    def record(self, row: dict[str, Any]) -> None:
        """Append a row to the spool (one write syscall). Call only from the event loop thread."""
        if self._fd is None:
            raise RuntimeError("LedgerWriter.record() before open()/start()")
        os.write(self._fd, orjson.dumps(row) + b"\n")
        if self.fsync:
            os.fsync(self._fd)
        self.rows_recorded += 1
        self._unflushed += 1
        if self._unflushed >= self.batch_size:
            self._wake.set()

    # -- background ------------------------------------------------------------------------------
    async def _run(self) -> None:
        backoff = self.flush_interval_s
        while not self._stopping:
            waiter = asyncio.ensure_future(self._wake.wait())
            done, _ = await asyncio.wait({waiter}, timeout=backoff)
            if not done:
                waiter.cancel()
            if self._stopping:
                return
            self._wake.clear()
            try:
                await self.flush()
                backoff = self.flush_interval_s
            except sa.exc.SQLAlchemyError as exc:
                self.flush_errors += 1
                backoff = min(backoff * 2, 5.0)
                log.error("ledger: write failed (%s); rows stay in the spool, retrying in %.1fs",
                          type(exc).__name__, backoff)

    async def flush(self) -> int:
        """Write every spooled row to the database. Returns rows flushed (duplicates included)."""
        async with self._lock:
            fd = self._fd
            if fd is None:
                return 0
            inserted = 0
            while True:
                size = os.fstat(fd).st_size
                if self._read_off >= size:
                    break
                buf = os.pread(fd, min(_READ_CHUNK, size - self._read_off), self._read_off)
                lines, used = _complete_lines(buf)
                if used == 0:
                    break  # a torn line being written right now; pick it up next time
                rows = list(_parse(lines))
                self._unflushed = max(0, self._unflushed - len(rows))
                for i in range(0, len(rows), self.batch_size):
                    await asyncio.to_thread(insert_rows, self.engine, rows[i : i + self.batch_size])
                inserted += len(rows)
                self._read_off += used
            # Caught up: truncate. No await between the size check and truncation, and record()
            # runs on this same thread, so no row can slip in between.
            if self._read_off and self._read_off == os.fstat(fd).st_size:
                os.ftruncate(fd, 0)
                self._read_off = 0
            self.rows_written += inserted
            return inserted

    def recover_orphans(self) -> int:
        """Replay spools whose owner died (their flock is free) and remove them. Returns rows replayed."""
        total = 0
        for path in sorted(self.spool_dir.glob("spool-*.jsonl")):
            if path == self._path:
                continue
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live process owns it
                off = 0
                while True:
                    buf = os.pread(fd, _READ_CHUNK, off)
                    lines, used = _complete_lines(buf)
                    if used == 0:
                        break
                    rows = list(_parse(lines))
                    for i in range(0, len(rows), self.batch_size):
                        insert_rows(self.engine, rows[i : i + self.batch_size])
                    total += len(rows)
                    off += used
                path.unlink()
                log.warning("ledger: replayed %d rows from orphaned spool %s", total, path.name)
            finally:
                os.close(fd)
        return total

    @property
    def pending_rows(self) -> int:
        """Rows recorded (in the spool) and not yet committed to the database."""
        return self._unflushed

    @property
    def backlog_bytes(self) -> int:
        if self._fd is None:
            return 0
        return os.fstat(self._fd).st_size - self._read_off
