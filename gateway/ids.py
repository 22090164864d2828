"""Random 128-bit ids (32 hex digits, like `uuid4().hex`) from a buffered os.urandom.

A getrandom() syscall per id cost ~2.6% of the full bench variant's CPU for request ids and ~9%
more for the ledger's row ids (py-spy on this VM; `uuid4()` makes one too, plus ~10 µs of UUID
object). Ids come from a 4 KiB buffer instead. The buffer is taken under a lock (row ids are made
on the event loop and in the ledger writer's thread: two threads must never share bytes, since a
row id is the ledger's dedupe key) and emptied in a forked child, so no two processes share ids.
"""

from __future__ import annotations

import os
import threading

_pool = bytearray()
_lock = threading.Lock()


def random_hex16() -> str:
    global _pool
    with _lock:
        if len(_pool) < 16:
            _pool = bytearray(os.urandom(4096))
        out = _pool[-16:]
        del _pool[-16:]
    return out.hex()


def _forget_pool() -> None:
    _pool.clear()


os.register_at_fork(after_in_child=_forget_pool)
