"""Split loaded documents into chunks that fit the embedding model's window.

Sizes are measured in the embedding model's own wordpieces (a `TokenCounter`), including the
title/heading prefix that is embedded with each chunk, so no chunk is ever truncated by the model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.config import ChunkingConfig
from rag.loaders import LoadedDocument
from rag.tokens import TokenCounter


@dataclass
class Chunk:
    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def indexed_text(self) -> str:
        """What is embedded and BM25-indexed: the chunk with its title and heading."""
        return indexed_text(self.text, self.metadata)


def indexed_text(text: str, metadata: dict[str, Any]) -> str:
    title, heading = str(metadata.get("title") or ""), str(metadata.get("heading") or "")
    if heading.startswith(title):  # a Markdown h1 is both the title and the heading's first part
        title = ""
    prefix = " / ".join(p for p in (title, heading) if p)
    if not metadata.get("prefixed", True) or not prefix:
        return text
    return prefix + "\n" + text


def source_key(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def chunk_document(doc: LoadedDocument, cfg: ChunkingConfig, count_tokens: TokenCounter) -> list[Chunk]:
    chunks: list[Chunk] = []
    key = source_key(doc.source)
    for section in doc.sections:
        meta_base = {"source": doc.source, "title": doc.title, "heading": section.heading,
                     "file_hash": doc.file_hash, "kind": doc.kind, "prefixed": cfg.prepend_title,
                     **doc.metadata}
        prefix_tokens = count_tokens(indexed_text("", meta_base)) if cfg.prepend_title else 0
        # count_tokens includes [CLS]/[SEP]; the empty-text prefix count already holds them once.
        budget = max(16, cfg.max_tokens - prefix_tokens) if cfg.prepend_title else cfg.max_tokens
        splitter = RecursiveCharacterTextSplitter(
            chunk_size=budget, chunk_overlap=min(cfg.overlap_tokens, budget // 2),
            length_function=lambda t: count_tokens(t) - 2,  # without [CLS]/[SEP]
            separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""], keep_separator="end")
        for piece in splitter.split_text(section.text):
            piece = piece.strip()
            if not piece:
                continue
            pos = len(chunks)
            meta = {**meta_base, "position": pos,
                    "content_hash": hashlib.sha256(piece.encode()).hexdigest()}
            chunks.append(Chunk(id=f"{key}-{pos:05d}", text=piece, metadata=meta))
    return chunks
