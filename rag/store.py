"""Chroma behind one small interface: embedded (`PersistentClient`) or server (`HttpClient`).

Embeddings are always passed explicitly; Chroma's default embedding function (which downloads a
model) is never used. Collections use cosine space, so `score = 1 - distance` is the cosine.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import StoreConfig

try:
    from chromadb.errors import NotFoundError
except ImportError:  # pragma: no cover - older chromadb
    NotFoundError = ValueError  # type: ignore[misc,assignment]

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

REVISION_KEY = "sluice_revision"
_GET_PAGE = 5000


class StoreError(RuntimeError):
    """The vector store is unreachable or refused an operation; the message says which."""


class CollectionNotFound(StoreError):
    """The collection has not been created (nothing ingested into it yet)."""


@dataclass
class Hit:
    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    score: float = 0.0  # fused or cosine score, higher is better
    similarity: float | None = None  # cosine similarity to the query
    embedding: np.ndarray | None = field(default=None, repr=False)


_OPEN_LOCK = threading.Lock()


def open_client(*, path: str | None = None, host: str | None = None, port: int = 8000) -> Any:
    """A chromadb client: HTTP when `host` is given, else embedded at `path` (in memory without one).

    chromadb keeps one System per path/host in a class-level registry that it fills without a lock:
    two threads opening the same store at once (a background BM25 warm-up and the first request)
    get a half-started System. Opening is rare, so every opening in this project goes through here,
    serialised, with the same settings (the registry also refuses one path with two settings)."""
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    with _OPEN_LOCK:
        if host:
            return chromadb.HttpClient(host=host, port=port, settings=settings)
        if path:
            return chromadb.PersistentClient(path=path, settings=settings)
        return chromadb.EphemeralClient(settings=settings)


class ChromaStore:
    def __init__(self, cfg: StoreConfig, base_dir: Path | None = None) -> None:
        self.cfg = cfg
        # which database this is, for caches shared by several stores (the same collection name in
        # two databases is two collections)
        self.key: tuple[str, ...]
        try:
            if cfg.mode == "server":
                self.key = (cfg.mode, cfg.host, str(cfg.port))
                self.client = open_client(host=cfg.host, port=cfg.port)
            else:
                path = Path(cfg.path)
                if base_dir is not None and not path.is_absolute():
                    path = base_dir / path
                path.mkdir(parents=True, exist_ok=True)
                self.key = (cfg.mode, str(path.resolve()))
                self.client = open_client(path=str(path))
        except (ValueError, ConnectionError, OSError) as e:
            where = f"{cfg.host}:{cfg.port}" if cfg.mode == "server" else cfg.path
            raise StoreError(f"cannot open the Chroma store ({cfg.mode}, {where}): {e}; "
                             "for server mode start it with `chroma run --path DIR --port N`") from e
        self._collections: dict[str, Any] = {}
        self._revisions: dict[str, tuple[str, float]] = {}  # name -> (revision, when read)
        self.clock: Callable[[], float] = time.monotonic

    def _col(self, name: str, create: bool = True) -> Any:
        col = self._collections.get(name)
        if col is None:
            if create:
                col = self.client.get_or_create_collection(
                    name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
            else:
                try:
                    col = self.client.get_collection(name, embedding_function=None)
                except (NotFoundError, ValueError) as e:
                    raise CollectionNotFound(f"collection {name!r} does not exist; ingest into it first "
                                     f"(sluice rag ingest PATH --collection {name})") from e
            self._collections[name] = col
        return col

    def collections(self) -> list[str]:
        return [c.name for c in self.client.list_collections()]

    def count(self, name: str) -> int:
        return int(self._col(name).count())

    def upsert(self, name: str, ids: Sequence[str], embeddings: np.ndarray | Sequence[Sequence[float]],
               documents: Sequence[str], metadatas: Sequence[dict[str, Any]]) -> None:
        if not ids:
            return
        col = self._col(name)
        emb = np.asarray(embeddings, dtype=np.float32)
        step = 1000  # keep each request well under Chroma's max batch size
        for i in range(0, len(ids), step):
            col.upsert(ids=list(ids[i:i + step]), embeddings=emb[i:i + step],
                       documents=list(documents[i:i + step]), metadatas=list(metadatas[i:i + step]))
        self.bump_revision(name)

    def delete(self, name: str, *, ids: Sequence[str] | None = None, where: dict[str, Any] | None = None) -> None:
        col = self._col(name)
        if ids is not None and not ids:
            return
        col.delete(ids=list(ids) if ids is not None else None, where=where)
        self.bump_revision(name)

    def bump_revision(self, name: str) -> None:
        """Readers (the BM25 index) rebuild when a collection's revision changes."""
        col = self._col(name)
        rev = uuid.uuid4().hex
        col.modify(metadata={**(col.metadata or {}), REVISION_KEY: rev})
        self._revisions[name] = (rev, self.clock())  # our own writes are seen at once

    def revision(self, name: str, max_age_s: float = 0.0) -> str:
        """The collection's revision, re-read from the store unless read within `max_age_s` (another
        process's writes then show after at most that long; a server round trip saved per query)."""
        cached = self._revisions.get(name)
        if cached is not None and max_age_s > 0 and self.clock() - cached[1] < max_age_s:
            return cached[0]
        self._collections.pop(name, None)  # re-read: another process may have ingested
        col = self._col(name, create=False)
        rev = str((col.metadata or {}).get(REVISION_KEY, ""))
        self._revisions[name] = (rev, self.clock())
        return rev

    def source_hashes(self, name: str) -> dict[str, str]:
        """source -> file hash of what is stored (for incremental ingest)."""
        out: dict[str, str] = {}
        for _, _, meta in self.iter_all(name, documents=False):
            out[str(meta.get("source"))] = str(meta.get("file_hash"))
        return out

    def iter_all(self, name: str, documents: bool = True) -> Any:
        col = self._col(name)
        include = ["metadatas", "documents"] if documents else ["metadatas"]
        offset = 0
        while True:
            page = col.get(include=include, limit=_GET_PAGE, offset=offset)
            ids = page["ids"]
            if not ids:
                return
            docs = page.get("documents") or [""] * len(ids)
            yield from zip(ids, docs, page["metadatas"], strict=True)
            if len(ids) < _GET_PAGE:
                return
            offset += len(ids)

    def query(self, name: str, embedding: np.ndarray | Sequence[float], k: int,
              where: dict[str, Any] | None = None, with_embeddings: bool = False) -> list[Hit]:
        col = self._col(name, create=False)
        include = ["metadatas", "documents", "distances"] + (["embeddings"] if with_embeddings else [])
        res = col.query(query_embeddings=[np.asarray(embedding, dtype=np.float32)], n_results=k,
                        where=where or None, include=include)
        hits = []
        embs = res.get("embeddings")
        for j, cid in enumerate(res["ids"][0]):
            sim = 1.0 - float(res["distances"][0][j])
            hits.append(Hit(id=cid, text=res["documents"][0][j], metadata=dict(res["metadatas"][0][j] or {}),
                            score=sim, similarity=sim,
                            embedding=np.asarray(embs[0][j], dtype=np.float32) if embs is not None else None))
        return hits

    def get(self, name: str, ids: Sequence[str]) -> list[Hit]:
        if not ids:
            return []
        res = self._col(name, create=False).get(ids=list(ids), include=["metadatas", "documents", "embeddings"])
        by_id = {cid: Hit(id=cid, text=res["documents"][j], metadata=dict(res["metadatas"][j] or {}),
                          embedding=np.asarray(res["embeddings"][j], dtype=np.float32))
                 for j, cid in enumerate(res["ids"])}
        return [by_id[i] for i in ids if i in by_id]

    def drop(self, name: str) -> None:
        self._collections.pop(name, None)
        self._revisions.pop(name, None)
        self.client.delete_collection(name)
