"""RAG bench: ingestion throughput vs the raw embedder, and retrieval latency at N chunks.

    python bench/rag_bench.py                      # ingestion + latency at 10k chunks, embedded mode
    python bench/rag_bench.py --sizes 10000,100000 --server

Ingestion: the ExpMRC SQuAD corpus (319 passages) written as Markdown files, ingested end to end
(load -> chunk -> embed -> upsert, embedded Chroma) and compared with the raw embedder rate on the
same chunk texts, measured in the same run (length-sorted batches, the gateway's local MiniLM).
Latency: the real chunks plus SYNTHETIC chunks up to N (text: shuffled corpus sentences; vectors:
random unit vectors, not model embeddings); each query is a real question, embedded by the model
inside the timed section. Prints p50/p99 per retriever mode.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from gateway.providers.minilm import get_embedder
from rag.chunking import chunk_document
from rag.config import ChunkingConfig, RetrieverConfig, StoreConfig
from rag.ingest import Ingestor
from rag.loaders import load
from rag.retrieval import BM25Cache, Retriever
from rag.store import ChromaStore
from tests.rag.squad_eval import load_corpus, load_questions


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def bench_ingest(store_cfg: StoreConfig, label: str, n_docs: int, repeats: int) -> None:
    """Raw embedder vs end-to-end ingest on the same texts, alternated `repeats` times; best of each
    (this machine is shared, so the fastest run of each is the least disturbed one)."""
    emb = get_embedder()
    docs = load_corpus()[:n_docs]
    raw_runs: list[float] = []
    e2e_runs: list[float] = []
    raw_tokens = tokens = chunks = files = 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "docs"
        root.mkdir()
        for d in docs:
            (root / f"{d.source}.md").write_text(f"# {d.title}\n\n{d.sections[0].text}\n", encoding="utf-8")
        emb.embed(["warm up"] * 8)
        for rep in range(repeats):
            # the raw rate: the exact texts ingestion embeds (chunked, with their title prefix)
            texts = [c.indexed_text for f in sorted(root.iterdir())
                     for c in chunk_document(load(f, source=f.name), ChunkingConfig(), emb.count_tokens)]
            t0 = time.perf_counter()
            _, raw_tokens = emb.embed_with_counts(texts)
            raw_runs.append(time.perf_counter() - t0)
            store = ChromaStore(store_cfg if store_cfg.mode == "server"
                                else StoreConfig(path=str(Path(tmp) / f"db{rep}")))
            name = f"bench-ingest-{rep}"
            if name in store.collections():
                store.drop(name)
            ing = Ingestor(store, name, emb.embed, emb.count_tokens)
            t0 = time.perf_counter()
            res = ing.ingest_paths([root], root=root)  # load + chunk + count + embed + upsert
            e2e_runs.append(time.perf_counter() - t0)
            tokens, chunks, files = res.tokens, res.chunks, len(res.added)
        t0 = time.perf_counter()
        again = ing.ingest_paths([root], root=root)
        skip_s = time.perf_counter() - t0
    raw_rate, e2e_rate = raw_tokens / min(raw_runs), tokens / min(e2e_runs)
    print(f"[ingest/{label}] raw embedder: {raw_tokens} tokens, best of {repeats}: {min(raw_runs):.1f} s = "
          f"{raw_rate:.0f} tok/s (runs: {', '.join(f'{x:.1f}' for x in raw_runs)} s)")
    print(f"[ingest/{label}] end to end: {files} files, {chunks} chunks, {tokens} tokens, best of {repeats}: "
          f"{min(e2e_runs):.1f} s = {e2e_rate:.0f} tok/s = {100 * e2e_rate / raw_rate:.1f}% of raw "
          f"(runs: {', '.join(f'{x:.1f}' for x in e2e_runs)} s)")
    print(f"[ingest/{label}] re-ingest unchanged: {len(again.unchanged)} files skipped in {skip_s:.2f} s")


_REAL: list = []  # (chunks, vectors): the real corpus is embedded once per run


def fill(store: ChromaStore, name: str, n: int, seed: int = 0) -> None:
    """Real chunks (model embeddings) + synthetic ones (random unit vectors) up to n."""
    emb = get_embedder()
    rng = np.random.default_rng(seed)
    docs = load_corpus()
    if not _REAL:
        real = [c for d in docs for c in chunk_document(d, ChunkingConfig(), emb.count_tokens)]
        _REAL.extend([real, emb.embed([c.indexed_text for c in real])])
    real, vectors = _REAL
    store.upsert(name, [c.id for c in real], vectors, [c.text for c in real], [c.metadata for c in real])
    sentences = [s for d in docs for s in re.split(r"(?<=\.)\s+", d.sections[0].text) if len(s) > 20]
    pyrng = random.Random(seed)
    left = n - len(real)
    step = 5000
    for start in range(0, left, step):
        m = min(step, left - start)
        vecs = rng.standard_normal((m, 384)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        texts = [" ".join(pyrng.sample(sentences, 4)) for _ in range(m)]
        metas = [{"source": f"synthetic/{(start + i) // 10}.md", "title": "synthetic", "heading": "",
                  "position": (start + i) % 10, "synthetic": True} for i in range(m)]
        store.upsert(name, [f"syn-{start + i:07d}" for i in range(m)], vecs, texts, metas)


def bench_latency(store: ChromaStore, label: str, n: int, queries: int) -> None:
    name = f"bench-{n}"
    t0 = time.perf_counter()
    if name not in store.collections() or store.count(name) != n:
        if name in store.collections():
            store.drop(name)
        fill(store, name, n)
    print(f"[latency/{label}] {store.count(name)} chunks ready ({time.perf_counter() - t0:.0f} s to build)")
    emb = get_embedder()
    qs = [q["question"] for q in load_questions("all")][:queries]
    bm25 = BM25Cache()  # shared by the modes, as the gateway shares one per pipeline generation
    for mode in ("dense", "bm25", "hybrid"):
        r = Retriever(store, name, emb.embed, RetrieverConfig(mode=mode, top_k=5), bm25)  # type: ignore[arg-type]
        t0 = time.perf_counter()
        r.retrieve("warm up the index")  # the BM25 index is built on first use
        warm = time.perf_counter() - t0
        times = []
        for q in qs:
            t0 = time.perf_counter()
            r.retrieve(q)  # query embedding included
            times.append((time.perf_counter() - t0) * 1000)
        print(f"[latency/{label}] n={n} {mode:6s} p50 {statistics.median(times):6.1f} ms  p99 {pct(times, 99):6.1f} ms"
              f"  (first query incl. index build {warm * 1000:.0f} ms, {len(times)} queries)")
    t0 = time.perf_counter()
    times = []
    for q in qs:
        t0 = time.perf_counter()
        emb.embed([q])
        times.append((time.perf_counter() - t0) * 1000)
    print(f"[latency/{label}] query embedding alone: p50 {statistics.median(times):.1f} ms p99 {pct(times, 99):.1f} ms")


def bench_answers(n: int) -> None:
    """Generated answers on n held-out questions: the default hybrid pipeline, the local SmolLM2
    (llama.cpp in-process) writing the answer, scored with ragas non-LLM metrics against the
    reference answer (plus SQuAD-style best-of-references string presence)."""
    import asyncio

    from gateway.config import Deployment
    from gateway.providers.llamacpp import LlamaCppProvider
    from rag.config import PipelineConfig
    from rag.pipeline import Pipeline

    async def run() -> None:
        from ragas.metrics import collections as rc

        emb = get_embedder()
        tmp = Path(tempfile.gettempdir()) / "rag-bench-squad"  # kept: a re-run skips the unchanged corpus
        store = ChromaStore(StoreConfig(path=str(tmp)))
        Ingestor(store, "squad", emb.embed, emb.count_tokens).ingest_documents(load_corpus())
        provider = LlamaCppProvider(Deployment(provider="llamacpp", model="SmolLM2-135M-Instruct",
                                               options={"n_ctx": 2048, "n_threads": 2, "temperature": 0.0}))
        await provider.start()
        cfg = PipelineConfig(collection="squad", model="smollm2", max_tokens=48, temperature=0.0,
                             retriever=RetrieverConfig(top_k=3),
                             system_prompt="Answer with a short phrase taken from the context.")
        pipe = Pipeline("squad", cfg, Retriever(store, "squad", emb.embed, cfg.retriever),
                        chat=lambda body: provider.chat(body, timeout=300))
        metrics = {"rouge_score": rc.RougeScore(), "non_llm_string_similarity": rc.NonLLMStringSimilarity(),
                   "exact_match": rc.ExactMatch(), "string_presence": rc.StringPresence()}
        qs = load_questions("test")
        qs = [qs[i] for i in np.random.default_rng(0).choice(len(qs), n, replace=False)]
        totals = {k: 0.0 for k in metrics}
        contains_any = 0
        t0 = time.perf_counter()
        try:
            for q in qs:
                res = await pipe.answer({"question": q["question"]})
                answer = res.answer or ""
                for k, m in metrics.items():
                    totals[k] += float((await m.ascore(reference=q["reference_answer"], response=answer)).value)
                contains_any += any(a.lower() in answer.lower() for a in q["answers"])
        finally:
            await provider.aclose()
        took = time.perf_counter() - t0
        print(f"[answers] {n} held-out questions, SmolLM2-135M, top-3 hybrid contexts ({took:.0f} s):")
        for k, v in totals.items():
            print(f"[answers]   ragas {k}: {v / n:.3f}")
        print(f"[answers]   answer contains a reference answer (any annotator): {contains_any / n:.3f}")

    asyncio.run(run())


def start_server() -> tuple[subprocess.Popen[bytes], StoreConfig, str]:
    from tests.services import free_port, stop, wait_for_port  # noqa: F401

    chroma = Path(sys.executable).with_name("chroma")
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="rag-bench-chroma-")
    proc = subprocess.Popen([str(chroma), "run", "--path", tmp, "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    wait_for_port(port, timeout=60, proc=proc)
    return proc, StoreConfig(mode="server", host="127.0.0.1", port=port), tmp


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks: stop `chroma run`
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--server", action="store_true", help="also run against `chroma run` (started here)")
    ap.add_argument("--skip-ingest", action="store_true")
    ap.add_argument("--server-only", action="store_true")
    ap.add_argument("--answers", type=int, default=0, help="only score N generated answers (local SmolLM2)")
    ap.add_argument("--ingest-docs", type=int, default=120, help="corpus passages to ingest (of 319)")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.answers:
        bench_answers(args.answers)
        return
    tmp = tempfile.mkdtemp(prefix="rag-bench-")
    try:
        if not args.skip_ingest and not args.server_only:
            bench_ingest(StoreConfig(), "embedded", args.ingest_docs, args.repeats)
        if not args.server_only:
            store = ChromaStore(StoreConfig(path=tmp))
            for n in sizes:
                bench_latency(store, "embedded", n, args.queries)
        if args.server or args.server_only:
            from tests.services import stop

            proc, cfg, path = start_server()
            try:
                if not args.skip_ingest:
                    bench_ingest(cfg, "server", args.ingest_docs, args.repeats)
                for n in sizes:
                    bench_latency(ChromaStore(cfg), "server", n, args.queries)
            finally:
                stop(proc)
                shutil.rmtree(path, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
