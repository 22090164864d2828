"""The spend ledger writer: one row per request, never on the hot path, never lost, never stuck.

How a row travels:
1. `record(row)` (called from a hook's `finished`, after the response went out) gives the row a
   server-made `row_id` (unless it has one), bounds every value to its column (rows.bound_row: no
   value a client sends can be refused for its size or encoding) and appends it as one JSON line to
   this process's spool file with a single unbuffered `os.write`. Once it returns, the row is in the
   kernel: a SIGKILL of the gateway cannot lose it (a power loss can, unless `fsync: true`). Memory
   use does not grow with the backlog: rows wait on disk, not in a queue.
2. A background task reads whole lines from the spool's last offset (up to 1 MiB of them, or one
   line however long), inserts the batch's rows whose row id is new (INSERT ... ON CONFLICT
   (row_id) DO NOTHING) and, in the same transaction, adds them to the daily rollups
   (rollup.py: INSERT ... ON CONFLICT DO UPDATE), and advances the offset after the commit. When it has caught up it truncates the spool.
3. A batch the database refuses for its data (a constraint, a value it cannot store) is split in
   halves until each refused row is alone; those rows go to `spend_ledger_dead_letters` with an
   ERROR log line and `dead_letters` counts them, so one bad row never blocks the rows after it.
   Lines that are not rows (corrupt, or torn by a crash mid-write) go there too. Connection and
   server errors are not the row's fault: the rows stay in the spool and the write is retried.
4. On startup, spools left by dead processes (no flock held) are replayed into the database and
   removed once every line is written or dead-lettered; replays are harmless because inserts are
   idempotent on the row id. The client's request id is stored, never used as a key.
5. `aclose()` (SIGTERM / lifespan shutdown) flushes everything and removes the spool; a spool still
   holding unwritten rows is kept for the next start.

Loss bound under SIGKILL: only rows of requests whose `finished` had not yet run, i.e. requests
still in flight when the process died. A row whose `record` returned is never lost.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import hashlib
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from gateway.spend import rollup
from gateway.spend.rows import bound_row, clean_text, new_row_id
from gateway.spend.schema import ledger, ledger_dead_letters, text_bounds

log = logging.getLogger("sluice.spend.ledger")

_PRUNE_BATCHES = 10  # retention transactions per turn of the writer's loop, between flushes
_READ_CHUNK = 1 << 20  # bytes read from the spool per step (a longer line is read whole)
_DEAD_BOUNDS = text_bounds(ledger_dead_letters)

# A dead letter: (row id, why it was set aside, the row as JSON or the line as read)
DeadLetter = tuple[str, str, str]


def _insert(engine: sa.Engine, table: sa.Table, key: str) -> Any:
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif engine.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    else:  # pragma: no cover - only the two backends are configurable
        raise RuntimeError(f"unsupported ledger database {engine.dialect.name}")
    return insert(table).on_conflict_do_nothing(index_elements=[key])


_ID_CHUNK = 500  # row ids per "which of these are written already" query


def _new_rows(conn: sa.Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose row id is not in the ledger yet (the first of any repeated in the batch)."""
    fresh: dict[str, dict[str, Any]] = {}
    for r in rows:
        fresh.setdefault(r["row_id"], r)
    ids = list(fresh)
    for i in range(0, len(ids), _ID_CHUNK):
        q = sa.select(ledger.c.row_id).where(ledger.c.row_id.in_(ids[i : i + _ID_CHUNK]))
        for (rid,) in conn.execute(q):
            fresh.pop(rid, None)
    return list(fresh.values())


def _insert_bounded(engine: sa.Engine, rows: list[dict[str, Any]]) -> int:
    # One transaction: the raw rows new to the ledger and their daily rollups (rollup.add) commit
    # together or not at all, so a kill at any point leaves the rollups equal to the raw rows'
    # aggregate. Replayed rows (already written) are left out of both: a row id is written by one
    # writer at a time (its spool's flock), so the check cannot race with another insert of it.
    # The engine runs the insert as the driver's own executemany (see db.make_engine): one parsed
    # statement, rows streamed (psycopg pipelines them); ON CONFLICT DO NOTHING stays as a guard.
    with engine.begin() as conn:
        new = _new_rows(conn, rows)
        if new:
            conn.execute(_insert(engine, ledger, "row_id"), new)
            rollup.add(conn, new)
        return len(new)


def insert_rows(engine: sa.Engine, rows: list[dict[str, Any]]) -> int:
    """Insert rows (bounded to the schema first) and their daily rollups, skipping row ids already
    present (idempotent replays). Returns how many rows were new."""
    if not rows:
        return 0
    return _insert_bounded(engine, [bound_row(r) for r in rows])


def refused(exc: BaseException) -> bool:
    """Did the database (or its driver) refuse the rows themselves, so that retrying cannot help?

    Data and constraint errors, and values that cannot be bound, are the rows' fault: the batch is
    split to find them. Anything else (the server is down, locked, out of connections, a table is
    missing) is not: the rows stay in the spool and are retried."""
    if isinstance(exc, (sa.exc.DataError, sa.exc.IntegrityError)):
        return True
    if isinstance(exc, sa.exc.StatementError) and not isinstance(exc, sa.exc.DBAPIError):
        return True  # failed binding the rows' values, before the database saw them
    return isinstance(exc, (ValueError, TypeError, OverflowError))  # a driver refusing a Python value


def _reason(exc: BaseException) -> str:
    """The error in one line: the driver's message, without the SQL and parameters around it."""
    detail = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    return f"{type(exc).__name__}: {(str(detail).strip().splitlines() or [''])[0]}"


def write_rows(engine: sa.Engine, rows: list[dict[str, Any]], batch_size: int) -> list[tuple[dict[str, Any], str]]:
    """Insert bounded rows in batches. A batch refused for its data is split in halves until each
    refused row is alone; those are returned as (row, reason), not raised. Other errors raise."""
    dead: list[tuple[dict[str, Any], str]] = []
    todo = [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)][::-1]  # pop() takes the first
    while todo:
        batch = todo.pop()
        try:
            _insert_bounded(engine, batch)
        except (sa.exc.SQLAlchemyError, ValueError, TypeError, OverflowError) as exc:
            if not refused(exc):
                raise
            if len(batch) == 1:
                dead.append((batch[0], _reason(exc)))
                continue
            mid = len(batch) // 2
            todo += [batch[mid:], batch[:mid]]  # the first half is tried first: rows keep their order
    return dead


def store_dead_letters(engine: sa.Engine, letters: list[DeadLetter]) -> None:
    """Set rows and lines aside in spend_ledger_dead_letters (idempotent on the row id)."""
    now = time.time()
    values = [{"row_id": rid, "ts": now, "reason": clean_text(reason, _DEAD_BOUNDS["reason"]),
               "payload": clean_text(payload, _DEAD_BOUNDS["payload"])} for rid, reason, payload in letters]
    with engine.begin() as conn:
        conn.execute(_insert(engine, ledger_dead_letters, "row_id"), values)


def _read_lines(fd: int, off: int, size: int) -> tuple[list[bytes], int]:
    """Whole lines from `off`: as many as fit in _READ_CHUNK bytes, or the one line there however
    long it is. Returns (lines, bytes used); used is 0 when what is left has no newline yet (a line
    being written, or one torn by a crash)."""
    buf = os.pread(fd, min(_READ_CHUNK, size - off), off)
    end = buf.rfind(b"\n")
    if end < 0:  # no newline in the first chunk: one long line; read on until it ends
        grown = bytearray(buf)
        while end < 0 and off + len(grown) < size:
            more = os.pread(fd, min(max(_READ_CHUNK, len(grown)), size - off - len(grown)), off + len(grown))
            if not more:
                break
            at = len(grown)
            grown += more
            end = grown.find(b"\n", at)
        if end < 0:
            return [], 0
        buf = bytes(grown[: end + 1])
    return buf[:end].split(b"\n"), end + 1


def _parse(lines: list[bytes]) -> tuple[list[dict[str, Any]], list[DeadLetter]]:
    """Rows (bounded) and the lines that are not rows, as dead letters."""
    rows: list[dict[str, Any]] = []
    bad: list[DeadLetter] = []
    for line in lines:
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            why = f"corrupt or torn spool line ({len(line)} bytes): {exc}"
        else:
            if isinstance(obj, dict):
                rows.append(bound_row(obj))
                continue
            why = f"spool line is not a row but a JSON {type(obj).__name__}"
        bad.append((hashlib.sha256(line).hexdigest(), why, line.decode("utf-8", "replace")))
    return rows, bad


class LedgerWriter:
    def __init__(
        self,
        engine: sa.Engine,
        spool_dir: str | Path,
        *,
        batch_size: int = 500,
        flush_interval_s: float = 0.2,
        fsync: bool = False,
        retention_days: int | None = None,
        prune_batch_rows: int = 5000,
        prune_interval_s: float = 3600.0,
    ) -> None:
        self.engine = engine
        # retention (retention.py): every prune_interval_s, raw rows older than retention_days are
        # deleted between flushes, at most _PRUNE_BATCHES transactions per turn of the loop
        self.retention_days = retention_days
        self.prune_batch_rows = prune_batch_rows
        self.prune_interval_s = prune_interval_s
        self._prune_due = 0.0  # monotonic time of the next prune (0: at the first turn)
        self.rows_pruned = 0
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
        self.dead_letters = 0  # rows and lines set aside in spend_ledger_dead_letters

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
        """Append a row to the spool (one write syscall). Call only from the event loop thread.

        The row gets a new `row_id` unless it has one (a row that has one is the same row: writing
        it again is a no-op), and every value is bounded to its column first (rows.bound_row)."""
        fd = self._fd
        if fd is None:
            raise RuntimeError("LedgerWriter.record() before open()/start()")
        if not row.get("row_id"):
            row = {**row, "row_id": new_row_id()}
        data = orjson.dumps(bound_row(row)) + b"\n"
        n = os.write(fd, data)
        if n != len(data):  # a short write (disk full): take it back, so the next row starts a line
            os.ftruncate(fd, os.fstat(fd).st_size - n)
            raise OSError(errno.ENOSPC, f"ledger spool {self._path}: wrote {n} of {len(data)} bytes of a row")
        if self.fsync:
            os.fsync(fd)
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
                if self.retention_days is not None and time.monotonic() >= self._prune_due:
                    await asyncio.to_thread(self.prune_step)
                backoff = self.flush_interval_s
            except (sa.exc.SQLAlchemyError, OSError) as exc:
                self.flush_errors += 1
                backoff = min(backoff * 2, 5.0)
                log.error("ledger: write failed (%s); rows stay in the spool, retrying in %.1fs",
                          _reason(exc)[:300], backoff)
            except Exception:  # a bug must not stop the writer for good: log it, keep the rows, retry
                self.flush_errors += 1
                backoff = min(backoff * 2, 5.0)
                log.exception("ledger: write failed unexpectedly; rows stay in the spool, retrying in %.1fs", backoff)

    def prune_step(self) -> bool:
        """One bounded turn of retention; True when nothing older than the cutoff is left (the next
        turn is then prune_interval_s away, else at the next flush)."""
        from gateway.spend.retention import cutoff, prune

        assert self.retention_days is not None
        res = prune(self.engine, cutoff(time.time(), self.retention_days), batch_rows=self.prune_batch_rows,
                    max_batches=_PRUNE_BATCHES)
        self.rows_pruned += res.deleted
        if res.deleted:
            log.info("ledger retention: deleted %d raw rows before %s (rollups kept)", res.deleted,
                     time.strftime("%Y-%m-%d", time.gmtime(res.cutoff)))
        self._prune_due = time.monotonic() + (self.prune_interval_s if res.done else 0.0)
        return res.done

    def _store(self, lines: list[bytes]) -> tuple[int, int]:
        """Write the rows of spool lines, dead-lettering the ones the database refuses and the lines
        that are not rows. Returns (rows written, lines that held something). Raises (nothing
        dead-lettered) when the database is unavailable: the caller keeps its offset and retries."""
        rows, bad = _parse(lines)
        dead = write_rows(self.engine, rows, self.batch_size)
        letters = bad + [(r["row_id"], why, orjson.dumps(r).decode()) for r, why in dead]
        if letters:
            store_dead_letters(self.engine, letters)
            self.dead_letters += len(letters)
            for rid, why, payload in letters:
                log.error("ledger: a row the database refuses was moved to the dead-letter table "
                          "spend_ledger_dead_letters (row_id %s, %d bytes): %s", rid, len(payload), why[:300])
        return len(rows) - len(dead), len(rows) + len(bad)

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
                lines, used = _read_lines(fd, self._read_off, size)
                if used == 0:
                    break  # a line being written right now; pick it up next time
                written, held = await asyncio.to_thread(self._store, lines)  # parsing included: off the loop
                self._unflushed = max(0, self._unflushed - held)
                inserted += written
                self._read_off += used
            # Caught up: truncate. No await between the size check and truncation, and record()
            # runs on this same thread, so no row can slip in between.
            if self._read_off and self._read_off == os.fstat(fd).st_size:
                os.ftruncate(fd, 0)
                self._read_off = 0
            self.rows_written += inserted
            return inserted

    def recover_orphans(self) -> int:
        """Replay spools whose owner died (their flock is free) and remove them. Returns rows replayed.

        A spool is removed only once every line of it is written or dead-lettered: when the
        database is unavailable this raises and the spool stays for the next start."""
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
                n, off, size = 0, 0, os.fstat(fd).st_size
                while off < size:
                    lines, used = _read_lines(fd, off, size)
                    if used == 0:  # a last line torn by the owner's death: it will never be finished
                        lines, used = [os.pread(fd, size - off, off)], size - off
                    n += self._store(lines)[0]
                    off += used
                path.unlink()
                total += n
                log.warning("ledger: replayed %d rows from orphaned spool %s", n, path.name)
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
