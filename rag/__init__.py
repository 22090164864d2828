"""RAG pipelines: ingestion, chunking, Chroma store, dense/BM25/hybrid retrieval, answers with citations.

Never imports `gateway`: callers hand in an embedding function and a chat callable.
"""

from rag.config import ChunkingConfig, PipelineConfig, RagConfig, RetrieverConfig, StoreConfig
from rag.ingest import Ingestor, IngestResult
from rag.loaders import LoadedDocument, LoadError, Section, UnsupportedFile, load
from rag.pipeline import Citation, Pipeline, PipelineError, Prepared, RagAnswer
from rag.retrieval import BM25Cache, Retriever
from rag.store import ChromaStore, Hit, StoreError

__all__ = [
    "BM25Cache", "ChromaStore", "ChunkingConfig", "Citation", "Hit", "IngestResult", "Ingestor",
    "LoadError", "LoadedDocument", "Pipeline", "PipelineConfig", "PipelineError", "Prepared", "RagAnswer",
    "RagConfig", "Retriever", "RetrieverConfig", "Section", "StoreConfig", "StoreError", "UnsupportedFile", "load",
]
