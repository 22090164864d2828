"""Cache benchmark: semantic hit quality over thresholds, semantic lookup latency, exact-hit CPU cost.

    python bench/cache_bench.py                  # ~1 minute on a 2-vCPU machine
    python bench/cache_bench.py --chroma 100000  # also time Chroma at that size (slow to fill)

1. Quality: the labelled pairs in tests/cache/data/ (tune / heldout / fresh / fresh2 / roles_tune /
   roles_heldout, see tests/cache/data/README.md), embedded with the local all-MiniLM-L6-v2 int8
   model. For each threshold: share of paraphrases served (hit rate) and share of near-misses served
   (false-hit rate), similarity alone vs similarity + verification. The default threshold is chosen
   on the tune split only (rule printed below).
1b. The verifier at the configured threshold, per split and per category with Wilson 95% intervals
   (`--splits` limits it, e.g. to the tune halves while rules are being changed), and the cost of
   verify() per candidate pair (extraction caches cleared before each pair, as for a new query).
2. Semantic lookup at N entries (default 100k) in ONE partition (worst case: real traffic spreads
   over tenants/models/system prompts). Stored vectors are SYNTHETIC (random unit vectors, plus the
   real embeddings of the pair questions so lookups find real candidates). Query embedding is real.
3. Exact hit: gateway CPU (this thread's CPU time) per /v1/chat/completions request served from
   the memory cache, against a cache-off pass-through to the in-process mock upstream measured in
   the same run (the mock runs in another thread; its CPU is not counted). App only: no HTTP server.
4. The same end to end: `sluice serve` (uvicorn, one worker) as a process driven by wrk; the
   server process's CPU time (utime+stime from /proc) divided by the requests served.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from gateway.cache import verify as verify_mod
from gateway.cache.index_numpy import IndexEntry, NumpyIndex
from gateway.cache.semantic import SemanticCache
from gateway.cache.verify import verify
from tests.cache.pairs import Pair, load_pairs, served_rates

THRESHOLDS = [round(0.70 + 0.025 * i, 3) for i in range(11)]  # 0.70 .. 0.95
SAFETY_MARGIN = 0.05


def get_embedder() -> Any:
    from gateway.providers.minilm import get_embedder as gw_embedder

    return gw_embedder()


# ---- 1. quality ---------------------------------------------------------------------------------

def quality(embedder: Any) -> float:
    pairs = load_pairs()
    a = embedder.embed([p.a for p in pairs])
    b = embedder.embed([p.b for p in pairs])
    sims = (a * b).sum(axis=1)
    ok = [verify(p.a, p.b).ok for p in pairs]

    def rates(split: str, thr: float, with_verify: bool) -> tuple[float, float, int, int]:
        idx = [i for i, p in enumerate(pairs) if split == "all" or p.split == split]
        para = [i for i in idx if pairs[i].label == "paraphrase"]
        near = [i for i in idx if pairs[i].label == "near_miss"]
        served = [sims[i] >= thr and (ok[i] or not with_verify) for i in range(len(pairs))]
        return (sum(served[i] for i in para) / len(para), sum(served[i] for i in near) / len(near),
                len(para), len(near))

    print("\n== 1. semantic hit quality (hit = paraphrases served, false = near-misses served) ==")
    for split in ("tune", "heldout", "fresh", "fresh2", "roles_tune", "roles_heldout", "all"):
        _, _, np_, nn = rates(split, 0.0, True)
        print(f"-- {split}: {np_} paraphrase pairs, {nn} near-miss pairs")
        print("   thr    | sim only: hit  false | sim + verify: hit  false")
        for thr in THRESHOLDS:
            h0, f0, _, _ = rates(split, thr, False)
            h1, f1, _, _ = rates(split, thr, True)
            print(f"   {thr:.3f}  |          {h0:6.1%} {f0:6.1%} |              {h1:6.1%} {f1:6.1%}")
    # Choose on tune only: the threshold with the most paraphrases served at tune false-hit <= 1%
    # (lowest such threshold on ties), then raised by a safety margin, since the false-hit estimate
    # from ~75 near-misses is coarse (one pair = 1.3 points).
    best = max((t for t in THRESHOLDS if rates("tune", t, True)[1] <= 0.01),
               key=lambda t: (rates("tune", t, True)[0], -t))
    chosen = round(min(best + SAFETY_MARGIN, 0.99), 3)
    h, f, _, _ = rates("heldout", chosen, True)
    ht, ft, _, _ = rates("tune", chosen, True)
    print(f"tune-only rule: best tune threshold {best:.3f} + margin {SAFETY_MARGIN} = {chosen:.3f}")
    print(f"   at {chosen:.3f}: tune hit {ht:.1%} false {ft:.1%}; heldout hit {h:.1%} false {f:.1%}")
    from gateway.cache.config import SemanticConfig

    configured = SemanticConfig().threshold
    print(f"configured default (gateway/cache/config.py): {configured}")
    print("   history: the rule gave 0.825 with the first rule set; heldout then showed 2/50 false hits at")
    print("   0.825 and none at 0.85, so 0.85 was configured (heldout no longer blind for the threshold).")
    print("   'fresh' was written next and scored once at 0.85 (hit 68.6%, false 5.7% with rule set v1);")
    print("   its misses led to two generic unit-rule changes (v2), so 'fresh2' was written after v2 and")
    print("   scored once: it is the only split never used for any decision.")
    for split in ("fresh2", "all"):
        hh, ff, n_p, n_n = rates(split, configured, True)
        print(f"   at {configured}: {split}: hit {hh:.1%} of {n_p}, false {ff:.1%} of {n_n}")
    return configured


def _clear_caches() -> None:
    for name in ("extract",):
        getattr(verify_mod, name).cache_clear()
    names = getattr(verify_mod, "names", None)  # absent before issue 20's verifier
    if names is not None:
        names.fold.cache_clear()


def verifier_report(embedder: Any, threshold: float, splits: list[str] | None) -> None:
    pairs: list[Pair] = load_pairs(splits=tuple(splits) if splits else None)
    a = embedder.embed([p.a for p in pairs])
    b = embedder.embed([p.b for p in pairs])
    sims = (a * b).sum(axis=1)
    served = [bool(s >= threshold) and verify(p.a, p.b).ok for p, s in zip(pairs, sims)]
    print(f"\n== 1b. verifier at threshold {threshold}: pairs served (paraphrases: want high; near-misses: "
          "want 0), Wilson 95% ==")
    for by in ("split", "category"):
        print(f"-- by {by}")
        for (label, group), r in served_rates(pairs, served, by).items():
            print(f"   {label:10s} {group:18s} {r}")
    times: list[float] = []
    for _ in range(3):
        for p in pairs:
            _clear_caches()
            t = time.perf_counter_ns()
            verify(p.a, p.b)
            times.append((time.perf_counter_ns() - t) / 1000)
    times.sort()
    print(f"verify() per candidate pair, both texts extracted ({len(times)} calls): p50 {statistics.median(times):.0f} µs,"
          f" p95 {times[int(0.95 * (len(times) - 1))]:.0f} µs; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


# ---- 2. semantic lookup latency -----------------------------------------------------------------

def _synthetic(n: int, dim: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


async def lookup_latency(embedder: Any, n: int, queries: int, threshold: float, chroma_n: int) -> None:
    print(f"\n== 2. semantic lookup, {n:,} entries in one partition (synthetic vectors + pair questions) ==")
    pairs = load_pairs()
    real_texts = [p.a for p in pairs]
    real = embedder.embed(real_texts)
    idx = NumpyIndex(max_entries=n + 10)
    t0 = time.perf_counter()
    vecs = _synthetic(n - len(real_texts), real.shape[1])
    for i, v in enumerate(vecs):
        idx.add_now("p", v, IndexEntry(f"s{i}", f"synthetic {i}", f"k{i}", 1e12, "t", "m"))
    for i, (text, v) in enumerate(zip(real_texts, real)):
        idx.add_now("p", v, IndexEntry(f"r{i}", text, f"rk{i}", 1e12, "t", "m"))
    print(f"fill numpy index: {time.perf_counter() - t0:.1f} s, {len(idx):,} entries, "
          f"{int((await idx.stats())['bytes']) / 2**20:.0f} MiB of vectors")

    qtexts = [pairs[i % len(pairs)].b for i in range(queries)]
    qvecs = embedder.embed(qtexts)

    def p50(xs: list[tuple[float, float]]) -> str:
        wall = sorted(w for w, _ in xs)
        cpu = sorted(c for _, c in xs)
        return (f"wall p50 {statistics.median(wall):6.2f} ms p95 {wall[int(0.95 * (len(wall) - 1))]:6.2f} ms"
                f" | CPU p50 {statistics.median(cpu):6.2f} ms")

    def clock() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()  # process: counts BLAS/onnx/worker threads

    def since(t: tuple[float, float]) -> tuple[float, float]:
        return (time.perf_counter() - t[0]) * 1000, (time.process_time() - t[1]) * 1000

    t_embed = []
    for q in qtexts[:100]:
        t = clock()
        embedder.embed([q])
        t_embed.append(since(t))
    cache = SemanticCache(idx, embedder.embed, threshold=threshold)
    t_full = []
    hits = 0
    for q in qtexts:
        t = clock()
        res = await cache.lookup("p", q)
        t_full.append(since(t))
        hits += bool(res.matches)
    exact_idx = NumpyIndex(max_entries=n + 10, exact=True)
    for slot_entry, v in zip(range(len(vecs)), vecs):
        exact_idx.add_now("p", v, IndexEntry(f"s{slot_entry}", "", "", 1e12, "t", "m"))
    for i, v in enumerate(real):
        exact_idx.add_now("p", v, IndexEntry(f"r{i}", "", "", 1e12, "t", "m"))
    for q in qvecs[:20]:  # warm up both (BLAS threads, caches)
        idx.search_now("p", q, k=4, min_similarity=threshold)
        exact_idx.search_now("p", q, k=4, min_similarity=threshold)
    t_search: list[tuple[float, float]] = []
    t_exact: list[tuple[float, float]] = []
    agree = 0
    for q in qvecs:  # interleaved, so both see the same machine load
        t = clock()
        got = idx.search_now("p", q, k=4, min_similarity=threshold)
        t_search.append(since(t))
        t = clock()
        want = exact_idx.search_now("p", q, k=4, min_similarity=threshold)
        t_exact.append(since(t))
        # compare similarities, not ids: the pair set repeats some questions (exact ties)
        agree += [round(c.similarity, 5) for c in got] == [round(c.similarity, 5) for c in want]
    del exact_idx
    ratio = statistics.median(c for _, c in t_search) / statistics.median(c for _, c in t_exact)
    print(f"numpy exact search (one matrix-vector product): {p50(t_exact)}")
    print(f"numpy coarse+rerank search (default):           {p50(t_search)}")
    print(f"   same candidate similarities as exact for {agree}/{len(qvecs)} queries; CPU p50 ratio {ratio:.2f}")
    print(f"query embedding (gateway MiniLM, 2 onnx threads): {p50(t_embed)}")
    print(f"full lookup (embed in a thread + search + verify): {p50(t_full)}  [{hits}/{len(qtexts)} served]")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    if chroma_n:
        import tempfile

        import chromadb

        from gateway.cache.index_chroma import ChromaIndex

        tmp = tempfile.mkdtemp(prefix="cache-bench-chroma-")
        cidx = ChromaIndex(client=chromadb.PersistentClient(path=tmp), collection="bench-cache")
        t0 = time.perf_counter()
        allv = np.concatenate([vecs[: chroma_n - len(real)], real])
        meta = {"partition": "p", "text": "x", "key": "k", "expires": 1e12, "tenant": "t", "model": "m"}
        for s in range(0, len(allv), 5000):
            part = allv[s: s + 5000]
            cidx._col.add(ids=[f"c{s + i}" for i in range(len(part))], embeddings=part,
                          metadatas=[meta] * len(part))
        print(f"fill chroma (PersistentClient, HNSW cosine) with {len(allv):,}: {time.perf_counter() - t0:.1f} s")
        t_chroma = []
        for q in qvecs:
            t = clock()
            cidx.search_now("p", q, k=4, min_similarity=threshold)
            t_chroma.append(since(t))
        t_np_small = []
        small = NumpyIndex(max_entries=len(allv) + 1)
        for i, v in enumerate(allv):
            small.add_now("p", v, IndexEntry(f"c{i}", "x", "k", 1e12, "t", "m"))
        for q in qvecs:
            t = clock()
            small.search_now("p", q, k=4, min_similarity=threshold)
            t_np_small.append(since(t))
        print(f"chroma search at {len(allv):,}:  {p50(t_chroma)}")
        r = statistics.median(w for w, _ in t_chroma) / statistics.median(w for w, _ in t_np_small)
        print(f"numpy search at {len(allv):,}:   {p50(t_np_small)}  (chroma/numpy wall p50 ratio {r:.1f}x)")


# ---- 3. exact hit CPU -------------------------------------------------------------------------------

async def _asgi_post(app: Any, body: bytes) -> tuple[int, dict[str, str]]:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions",
             "query_string": b"", "root_path": "", "headers": [(b"content-type", b"application/json")],
             "client": ("127.0.0.1", 1), "server": ("gateway", 80)}
    sent = False
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await never  # the client never disconnects
        return {"type": "http.disconnect"}

    status = 0
    headers: dict[str, str] = {}

    async def send(msg: dict[str, Any]) -> None:
        nonlocal status, headers
        if msg["type"] == "http.response.start":
            status = msg["status"]
            headers = {k.decode(): v.decode() for k, v in msg["headers"]}

    await app(scope, receive, send)
    return status, headers


async def exact_hit_cpu(n: int) -> None:
    import orjson

    from gateway.app import create_app
    from gateway.config import parse_config
    from gateway.mock_upstream import MockUpstream

    print(f"\n== 3. exact hit: gateway CPU per request (thread CPU time, {n} requests each) ==")
    with MockUpstream() as mock:
        models = [{"name": "mock-chat", "deployments": [{"provider": "openai", "model": "gpt-4o-mini",
                                                         "api_base": mock.base_url}]}]
        body = orjson.dumps({"model": "mock-chat", "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of Australia?"}]})
        results: dict[str, float] = {}
        for label, cache in (("pass-through (cache off)", {"enabled": False}),
                             ("exact hit (memory cache)", {"enabled": True, "semantic": {"enabled": False}})):
            app = create_app(parse_config({"models": models, "cache": cache}))
            async with app.lifespan():
                status, headers = await _asgi_post(app, body)  # warm up / fill
                if cache["enabled"]:
                    await app.state.gateway.services.cache.drain()
                for _ in range(50):
                    await _asgi_post(app, body)
                c0, w0 = time.thread_time(), time.perf_counter()
                for _ in range(n):
                    status, headers = await _asgi_post(app, body)
                cpu = (time.thread_time() - c0) / n * 1000
                wall = (time.perf_counter() - w0) / n * 1000
                assert status == 200
                if cache["enabled"]:
                    assert headers.get("x-sluice-cache") == "hit", headers
                results[label] = cpu
                print(f"{label:28s} CPU {cpu:6.3f} ms/request   wall {wall:6.3f} ms/request")
        base, hit = results["pass-through (cache off)"], results["exact hit (memory cache)"]
        print(f"exact hit / pass-through CPU ratio: {hit / base:.2f}")


# ---- 4. exact hit end to end: server process CPU under wrk ------------------------------------------

def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def e2e_cpu(seconds: float) -> None:
    import re
    import shutil
    import subprocess
    import tempfile

    import orjson
    import yaml

    from tests.services import free_port, stop, wait_for_port

    wrk = shutil.which("wrk")
    if wrk is None:
        print("\n== 4. skipped: wrk is not installed ==")
        return
    print(f"\n== 4. end to end: `sluice serve` process CPU per request under wrk (4 connections, {seconds:g} s) ==")
    tmp = Path(tempfile.mkdtemp(prefix="cache-bench-e2e-"))
    py = sys.executable
    # The mock in its own process (the test harness, so the port is picked free and read back).
    mock = subprocess.Popen([py, "-c", ("import time; from gateway.mock_upstream import MockUpstream; "
                             "m = MockUpstream().start(); print(m.port, flush=True); time.sleep(1e9)")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert mock.stdout is not None
    mport = int(mock.stdout.readline())
    body = orjson.dumps({"model": "mock-chat", "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the capital of Australia?"}]}).decode()
    (tmp / "post.lua").write_text(f"wrk.method = 'POST'\nwrk.body = [[{body}]]\n"
                                  "wrk.headers['Content-Type'] = 'application/json'\n")
    try:
        wait_for_port(mport, proc=mock)
        results: dict[str, float] = {}
        for label, cache in (("pass-through (cache off)", {"enabled": False}),
                             ("exact hit (memory cache)", {"enabled": True, "semantic": {"enabled": False}})):
            port = free_port()
            cfg = {"server": {"host": "127.0.0.1", "port": port, "reload_watch": False},
                   "models": [{"name": "mock-chat", "deployments": [{"provider": "openai", "model": "gpt-4o-mini",
                                                                    "api_base": f"http://127.0.0.1:{mport}/v1"}]}],
                   "cache": cache}
            (tmp / "cfg.yaml").write_text(yaml.safe_dump(cfg))
            srv = subprocess.Popen([py, "-m", "gateway.cli", "serve", "-c", str(tmp / "cfg.yaml"),
                                    "--log-level", "warning"], cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_for_port(port, proc=srv)
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                subprocess.run([wrk, "-t1", "-c4", "-d1s", "-s", str(tmp / "post.lua"), url],
                               capture_output=True, check=True)  # warm up (and fill the cache)
                c0 = _proc_cpu_s(srv.pid)
                out = subprocess.run([wrk, "-t1", "-c4", f"-d{seconds:g}s", "-s", str(tmp / "post.lua"), url],
                                     capture_output=True, text=True, check=True).stdout
                cpu = _proc_cpu_s(srv.pid) - c0
                n = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
                non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
                results[label] = cpu / n * 1000
                print(f"{label:28s} server CPU {cpu / n * 1000:6.3f} ms/request  {n / seconds:8.0f} req/s"
                      f"{'  NON-2xx: ' + non2xx.group(1) if non2xx else ''}")
            finally:
                stop(srv)
        base, hit = results["pass-through (cache off)"], results["exact hit (memory cache)"]
        print(f"exact hit / pass-through server CPU ratio: {hit / base:.2f}")
    finally:
        stop(mock)
        shutil.rmtree(tmp, ignore_errors=True)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--chroma", type=int, default=0, help="also time a Chroma index of this many entries")
    ap.add_argument("--exact-requests", type=int, default=2000)
    ap.add_argument("--e2e-seconds", type=float, default=5.0)
    ap.add_argument("--skip", nargs="*", default=[], choices=["quality", "verifier", "lookup", "exact", "e2e"])
    ap.add_argument("--splits", nargs="*", default=None, help="pair splits for the verifier report (default: all)")
    args = ap.parse_args()
    embedder = get_embedder()
    from gateway.cache.config import SemanticConfig

    threshold = SemanticConfig().threshold
    if "quality" not in args.skip:
        quality(embedder)
    if "verifier" not in args.skip:
        verifier_report(embedder, threshold, args.splits)
    if "lookup" not in args.skip:
        await lookup_latency(embedder, args.entries, args.queries, threshold, args.chroma)
    if "exact" not in args.skip:
        await exact_hit_cpu(args.exact_requests)
    if "e2e" not in args.skip:
        e2e_cpu(args.e2e_seconds)


if __name__ == "__main__":
    asyncio.run(main())
