"""`sluice rag`: the rag CLI composed with the gateway's local MiniLM embedder (loaded on first use)."""

from __future__ import annotations

from typing import Any

from rag.cli import make_app


def _local_embedder() -> Any:
    from gateway.providers.minilm import get_embedder

    return get_embedder()


app = make_app(_local_embedder)
