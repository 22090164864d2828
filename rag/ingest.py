"""Incremental ingestion: load -> chunk -> embed (length-bucketed batches) -> upsert.

A file whose content hash matches what the collection holds is skipped; a changed file has its
old chunks deleted and is re-embedded; with `prune`, sources no longer present are removed. A
file that fails to load is reported in the result and skipped; it never aborts the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.chunking import Chunk, chunk_document
from rag.config import ChunkingConfig
from rag.loaders import SUFFIXES, LoadedDocument, LoadError, UnsupportedFile, load
from rag.retrieval import EmbedFn
from rag.store import ChromaStore
from rag.tokens import TokenCounter

ProgressFn = Callable[[str, int, int], None]  # (event, n_chunks, n_tokens)


@dataclass
class IngestResult:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    chunks: int = 0
    tokens: int = 0


def discover(paths: Iterable[Path]) -> list[Path]:
    """Files under the given paths with a supported suffix (a file named directly is always kept)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES))
        else:
            out.append(p)
    return out


class Ingestor:
    def __init__(self, store: ChromaStore, collection: str, embed: EmbedFn, count_tokens: TokenCounter,
                 chunking: ChunkingConfig | None = None, batch_tokens: int = 8192) -> None:
        self.store, self.collection, self.embed = store, collection, embed
        self.count_tokens = count_tokens
        self.chunking = chunking or ChunkingConfig()
        self.batch_tokens = batch_tokens

    def ingest_paths(self, paths: Sequence[Path], *, prune: bool = False, progress: ProgressFn | None = None,
                     root: Path | None = None) -> IngestResult:
        res = IngestResult()
        docs: list[LoadedDocument] = []
        for f in discover(paths):
            source = str(f.resolve().relative_to(root.resolve())) if root else str(f)
            try:
                docs.append(load(f, source=source))
            except (UnsupportedFile, LoadError) as e:
                res.failed[source] = str(e)
                if progress:
                    progress("failed", 0, 0)
        self.ingest_documents(docs, prune=prune, progress=progress, result=res)
        return res

    def ingest_documents(self, docs: Sequence[LoadedDocument], *, prune: bool = False,
                         progress: ProgressFn | None = None, result: IngestResult | None = None) -> IngestResult:
        res = result or IngestResult()
        stored = self.store.source_hashes(self.collection)
        todo: list[tuple[LoadedDocument, bool]] = []
        for d in docs:
            if stored.get(d.source) == d.file_hash:
                res.unchanged.append(d.source)
                if progress:
                    progress("unchanged", 0, 0)
            else:
                todo.append((d, d.source in stored))
        chunks: list[Chunk] = []
        for d, existed in todo:
            (res.updated if existed else res.added).append(d.source)
            chunks.extend(chunk_document(d, self.chunking, self.count_tokens))
        for d, existed in todo:
            if existed:
                self.store.delete(self.collection, where={"source": d.source})
        self._embed_and_store(chunks, res, progress)
        if prune:
            seen = {d.source for d in docs} | set(res.failed)
            for src in sorted(set(stored) - seen):
                self.store.delete(self.collection, where={"source": src})
                res.removed.append(src)
        return res

    def _embed_and_store(self, chunks: list[Chunk], res: IngestResult, progress: ProgressFn | None) -> None:
        if not chunks:
            return
        texts = [c.indexed_text for c in chunks]
        lengths = [self.count_tokens(t) for t in texts]
        # Length-sorted batches of about `batch_tokens` padded tokens: no padding waste.
        order = sorted(range(len(chunks)), key=lambda i: lengths[i])
        batch: list[int] = []
        for i in order:
            if batch and lengths[i] * (len(batch) + 1) > self.batch_tokens:
                self._flush(batch, chunks, texts, lengths, res, progress)
                batch = []
            batch.append(i)
        if batch:
            self._flush(batch, chunks, texts, lengths, res, progress)

    def _flush(self, batch: list[int], chunks: list[Chunk], texts: list[str], lengths: list[int],
               res: IngestResult, progress: ProgressFn | None) -> None:
        vecs = np.asarray(self.embed([texts[i] for i in batch]), dtype=np.float32)
        if vecs.shape[0] != len(batch):
            raise ValueError(f"embedding function returned {vecs.shape[0]} vectors for {len(batch)} texts")
        self.store.upsert(self.collection, [chunks[i].id for i in batch], vecs,
                          [chunks[i].text for i in batch], [chunks[i].metadata for i in batch])
        n_tok = sum(lengths[i] for i in batch)
        res.chunks += len(batch)
        res.tokens += n_tok
        if progress:
            progress("embedded", len(batch), n_tok)
