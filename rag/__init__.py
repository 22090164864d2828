"""RAG pipelines: ingestion, chunking, Chroma store, dense/BM25/hybrid retrieval, answers with citations.

Never imports `gateway`: callers hand in an embedding function and a chat callable. Names are
imported on first use (chromadb, langchain and bm25s are heavy), so `import rag.config` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "ChunkingConfig": "rag.config", "PipelineConfig": "rag.config", "RagConfig": "rag.config",
    "RetrieverConfig": "rag.config", "StoreConfig": "rag.config",
    "IngestResult": "rag.ingest", "Ingestor": "rag.ingest",
    "LoadedDocument": "rag.loaders", "LoadError": "rag.loaders", "Section": "rag.loaders",
    "UnsupportedFile": "rag.loaders", "load": "rag.loaders",
    "Citation": "rag.pipeline", "Pipeline": "rag.pipeline", "PipelineError": "rag.pipeline",
    "Prepared": "rag.pipeline", "RagAnswer": "rag.pipeline",
    "BM25Cache": "rag.retrieval", "Retriever": "rag.retrieval",
    "ChromaStore": "rag.store", "Hit": "rag.store", "StoreError": "rag.store",
}

__all__ = [
    "BM25Cache", "ChromaStore", "ChunkingConfig", "Citation", "Hit", "IngestResult", "Ingestor", "LoadError",
    "LoadedDocument", "Pipeline", "PipelineConfig", "PipelineError", "Prepared", "RagAnswer", "RagConfig",
    "Retriever", "RetrieverConfig", "Section", "StoreConfig", "StoreError", "UnsupportedFile", "load",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'rag' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
