"""The Chroma server (`chroma run`, started by tests/services.py) behind the same store interface."""

import pytest

from rag.config import RetrieverConfig, StoreConfig
from rag.ingest import Ingestor
from rag.loaders import LoadedDocument, Section
from rag.retrieval import Retriever
from rag.store import ChromaStore, StoreError
from tests.rag.conftest import HashEmbedder, count_words

pytestmark = pytest.mark.services


def test_ingest_and_hybrid_query_against_chroma_server(chroma_server, hash_embed: HashEmbedder) -> None:  # type: ignore[no-untyped-def]
    store = ChromaStore(StoreConfig(mode="server", host=chroma_server.host, port=chroma_server.port))
    docs = [LoadedDocument(source=f"d{i}.txt", title=f"T{i}", kind="text", file_hash=str(i),
                           sections=[Section("", text)])
            for i, text in enumerate(["rivers flow to the sea", "mountains are tall", "the sea is salty"])]
    ing = Ingestor(store, "server-test", hash_embed, count_words)
    assert len(ing.ingest_documents(docs).added) == 3
    assert ing.ingest_documents(docs).unchanged == ["d0.txt", "d1.txt", "d2.txt"]
    # a second client (another gateway worker) sees the same data and revision
    other = ChromaStore(StoreConfig(mode="server", host=chroma_server.host, port=chroma_server.port))
    hits = Retriever(other, "server-test", hash_embed, RetrieverConfig(top_k=2)).retrieve("salty sea")
    assert hits[0].metadata["source"] == "d2.txt" and hits[1].metadata["source"] == "d0.txt"
    assert other.revision("server-test") == store.revision("server-test")


def test_unreachable_server_is_a_store_error() -> None:
    from tests.services import free_port

    with pytest.raises(StoreError, match="chroma run"):
        ChromaStore(StoreConfig(mode="server", host="127.0.0.1", port=free_port()))
