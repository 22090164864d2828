"""Opening one Chroma store from several threads at once (the gateway's BM25 warm-up thread and
its first requests do): chromadb's per-path registry is not thread-safe, rag.store serialises it."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from rag.config import StoreConfig
from rag.store import ChromaStore


def _open_together(path: Path, n: int = 4) -> tuple[list[ChromaStore], list[str]]:
    barrier, errors, stores = threading.Barrier(n), [], []

    def open_store() -> None:
        barrier.wait()
        try:
            stores.append(ChromaStore(StoreConfig(path=str(path))))
        except Exception as e:  # noqa: BLE001 - collected and asserted by the caller
            errors.append(repr(e))

    threads = [threading.Thread(target=open_store) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return stores, errors


def test_concurrent_opens_of_one_store(tmp_path: Path) -> None:
    for trial in range(8):  # unserialised, 15 of 20 such trials failed here
        stores, errors = _open_together(tmp_path / f"s{trial}")
        assert errors == [] and len(stores) == 4
    vec = np.ones((1, 3), dtype=np.float32) / np.sqrt(3)
    stores[0].upsert("docs", ["a"], vec, ["text"], [{"source": "x"}])
    assert [h.id for h in stores[3].get("docs", ["a"])] == ["a"]  # one database behind all four
