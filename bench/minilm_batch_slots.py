"""Local MiniLM embedder: tokens/s and resident memory against the padded-token cap per call.

    python bench/minilm_batch_slots.py [--slots 2048,1024,512,256] [--repeat 3]

Each setting runs in a fresh process (onnxruntime's arena keeps the largest call's activations
for the life of a session, so memory is per process). Texts: the 319 expmrc_squad passages, and
their first thirds and sevenths (957 texts, 13-256 wordpieces). Reports the best of `--repeat`
passes and RSS after them; ratios against the first setting (the baseline) of the same run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from guardrails.datasets import dataset_path

CORPUS = dataset_path("rag", "expmrc_squad", "corpus", "corpus.jsonl")


def child(slots: int, repeat: int) -> None:
    sys.path.insert(0, str(ROOT))
    from minilm import MiniLMEmbedder

    rows = [json.loads(line)["text"] for line in CORPUS.open(encoding="utf-8")]
    texts = rows + [r[: len(r) // 3] for r in rows] + [r[: len(r) // 7] for r in rows]
    emb = MiniLMEmbedder(max_batch_slots=slots)
    emb.embed(["warm-up"])
    best, tokens = float("inf"), 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        _, tokens = emb.embed_with_counts(texts)
        best = min(best, time.perf_counter() - t0)
    status = Path("/proc/self/status").read_text().splitlines()
    rss = next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS:"))
    print(json.dumps({"slots": slots, "tokens_per_s": tokens / best, "rss_mib": rss}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slots", default="2048,1024,512,256")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.repeat)
        return
    rows = []
    for s in (int(x) for x in args.slots.split(",")):
        out = subprocess.run([sys.executable, __file__, "--child", str(s), "--repeat", str(args.repeat)],
                             capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    base = rows[0]
    print(f"{'slots':>6} {'tokens/s':>9} {'vs base':>8} {'RSS MiB':>8} {'vs base':>8}")
    for r in rows:
        print(f"{r['slots']:>6} {r['tokens_per_s']:>9.0f} {r['tokens_per_s'] / base['tokens_per_s']:>7.2f}x "
              f"{r['rss_mib']:>8} {r['rss_mib'] - base['rss_mib']:>+8}")


if __name__ == "__main__":
    main()
