"""Cache test helpers: the gateway's local MiniLM embedder, shared by the tests."""

from __future__ import annotations

import pytest

from gateway.providers.minilm import MiniLMEmbedder, get_embedder


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedder:
    return get_embedder()
