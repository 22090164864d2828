"""Server-made request ids: 32 hex digits, unique, and not shared with a forked child."""

from __future__ import annotations

import os
import re

from gateway.context import request_id_from


def test_ids_are_32_hex_digits_and_unique() -> None:
    ids = [request_id_from({}) for _ in range(20_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_child_does_not_repeat_the_parents_ids() -> None:
    request_id_from({})  # the parent's buffer holds random bytes now
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, then exit without running pytest's teardown
        os.write(w, "".join(request_id_from({}) for _ in range(8)).encode())
        os._exit(0)
    os.close(w)
    child = os.read(r, 4096).decode()
    os.waitpid(pid, 0)
    parent = "".join(request_id_from({}) for _ in range(8))
    assert len(child) == 256 and child != parent


def test_a_plain_client_id_is_kept() -> None:
    assert request_id_from({"x-request-id": "req-1.a:b"}) == "req-1.a:b"
    assert request_id_from({"x-request-id": "bad\nid"}) != "bad\nid"


def test_ids_made_in_several_threads_are_unique() -> None:
    """Row ids (the ledger's dedupe key) are made on the event loop and in the writer's thread from
    the same buffer (gateway/ids.py): no two threads may take the same bytes."""
    import threading

    from gateway.spend.rows import new_row_id

    out: list[list[str]] = [[] for _ in range(4)]

    def make(i: int) -> None:
        out[i].extend(new_row_id() if n % 2 else request_id_from({}) for n in range(20_000))

    threads = [threading.Thread(target=make, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for part in out for i in part]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids) == 80_000
