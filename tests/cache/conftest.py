"""Cache test helpers: the local MiniLM stand-in embedder, wired into apps built in tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cache.minilm_loader import LocalMiniLM, get_local_embedder


@pytest.fixture(scope="session")
def embedder() -> LocalMiniLM:
    return get_local_embedder()


@pytest.fixture
def app_embedder(embedder: LocalMiniLM, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalMiniLM]:
    """Apps built during the test use the local model for the semantic cache."""
    monkeypatch.setattr("gateway.cache.service.default_embedder", lambda: embedder.embed)
    yield embedder
