"""Local MiniLM embeddings: tokens/s and texts/s, length-sorted batches vs padding to 256.

    python bench/embeddings_bench.py [--repeat 2]

Texts: the questions and passages of the RAG dataset in datasets/ (or, without it, generated
sentences). The baseline, measured in the same run, is what a naive embedder does: one padded batch
shape of 256 wordpieces for every input (what the tokenizer file configures, modulo its 128 default).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from guardrails.datasets import datasets_dir
from minilm import DIMS, MiniLMEmbedder

DATA = datasets_dir() / "rag" / "expmrc_squad"


def texts(n_questions: int = 64, n_passages: int = 16) -> tuple[list[str], list[str]]:
    qa, corpus = DATA / "qa.jsonl", DATA / "corpus" / "corpus.jsonl"
    if qa.exists() and corpus.exists():
        qs = [json.loads(x)["question"] for x in qa.read_text().splitlines()[:n_questions]]
        docs = [json.loads(x)["text"] for x in corpus.read_text().splitlines()[:n_passages]]
        return qs, docs
    words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "rivers", "run", "to", "the", "sea"]
    qs = [" ".join(words[: 5 + i % 10]) + f" {i}?" for i in range(n_questions)]
    return qs, [" ".join(words * (4 + i % 8)) for i in range(n_passages)]


def padded_256(e: MiniLMEmbedder, items: list[str], batch: int = 32) -> np.ndarray:
    """The baseline: every input padded to 256 wordpieces."""
    encs = e._tok.encode_batch(items)
    out = []
    for s in range(0, len(items), batch):
        part = encs[s:s + batch]
        ids = np.zeros((len(part), 256), dtype=np.int64)
        mask = np.zeros_like(ids)
        for r, enc in enumerate(part):
            ids[r, :len(enc.ids)] = enc.ids
            mask[r, :len(enc.ids)] = 1
        h = e._session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
        m = mask[:, :, None].astype(np.float32)
        v = (h * m).sum(1) / m.sum(1)
        out.append(v / np.linalg.norm(v, axis=1, keepdims=True))
    return np.concatenate(out)


def timed(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1, help="best of N")
    ap.add_argument("--questions", type=int, default=64)
    ap.add_argument("--passages", type=int, default=16)
    args = ap.parse_args()
    t = time.perf_counter()
    e = MiniLMEmbedder()
    load_s = time.perf_counter() - t
    print(f"load: {load_s:.2f} s", flush=True)
    for name, items in zip(("questions", "passages"), texts(args.questions, args.passages), strict=True):
        tokens = sum(e.count_tokens(x) for x in items)
        ours = timed(lambda items=items: e.embed(items), args.repeat)
        base = timed(lambda items=items: padded_256(e, items), args.repeat)
        one_items = items[:16]
        one_tokens = sum(e.count_tokens(x) for x in one_items)
        one = timed(lambda one_items=one_items: [e.embed([x]) for x in one_items], 1)
        a, b = e.embed(items), padded_256(e, items)
        cos = float((a * b).sum(1).min())
        print(f"{name}: {len(items)} texts, {tokens} tokens (mean {tokens / len(items):.0f})")
        print(f"  length-sorted batches: {tokens / ours:8.0f} tokens/s  {len(items) / ours:7.1f} texts/s")
        print(f"  padded to 256 (base):  {tokens / base:8.0f} tokens/s  {len(items) / base:7.1f} texts/s"
              f"  -> ours is {base / ours:.1f}x faster; min cosine ours vs base {cos:.5f}")
        print(f"  one text per call:     {one_tokens / one:8.0f} tokens/s  {len(one_items) / one:7.1f} texts/s"
              f"  ({1000 * one / len(one_items):.1f} ms per text)", flush=True)
    assert a.shape[1] == DIMS
    return 0


if __name__ == "__main__":
    sys.exit(main())
