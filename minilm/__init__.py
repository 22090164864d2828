"""The local embedding model: all-MiniLM-L6-v2 (int8 ONNX), in-process, without torch.

A leaf: it imports nothing from gateway, guardrails, rag, evals or prompts. Whoever needs sentence
vectors is handed an embedder (the gateway builds one and passes it to the semantic cache, RAG and
the guardrails' injection model); a package run on its own constructs a `MiniLMEmbedder` itself.

    from minilm import MiniLMEmbedder
    vecs = MiniLMEmbedder().embed(["a sentence", "another"])   # (2, 384) float32, unit rows
"""

from minilm.embedder import (
    BATCH,
    DIMS,
    MAX_BATCH_SLOTS,
    MAX_TOKENS,
    SMALL_SLOTS,
    MiniLMEmbedder,
    model_paths,
)

__all__ = ["BATCH", "DIMS", "MAX_BATCH_SLOTS", "MAX_TOKENS", "SMALL_SLOTS", "MiniLMEmbedder", "model_paths"]
