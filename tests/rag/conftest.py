"""Fixtures for rag tests: a fast deterministic embedder, the real local MiniLM, embedded stores."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.config import StoreConfig
from rag.store import ChromaStore

_WORD = re.compile(r"\w+")


class HashEmbedder:
    """Bag of words hashed into 384 dims: texts sharing words are close. Counts its calls."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in _WORD.findall(t.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % 384] += 1.0
            n = np.linalg.norm(out[i])
            out[i] = out[i] / n if n else out[i]
        return out


def count_words(text: str) -> int:
    return len(text.split()) + 2


@pytest.fixture
def hash_embed() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChromaStore]:
    yield ChromaStore(StoreConfig(mode="embedded", path=str(tmp_path / "chroma")))


@pytest.fixture(scope="session")
def minilm():  # type: ignore[no-untyped-def]
    from gateway.providers.minilm import get_embedder  # tests may import gateway; rag may not

    return get_embedder()
