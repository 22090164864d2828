"""Streamed output guardrails: time to first content and content deltas, guarded against unguarded.

    python bench/stream_guard_bench.py [--n 10] [--words 60] [--tps 50]
    python bench/stream_guard_bench.py --cpu [--n 200]

`--cpu`: the StreamGuard's own cost, as the stream row of bench/guardrails_bench.py measures it:
`--n` 1 KB slices of the jackhhao test prompts (prose) and the same with an e-mail, a card and a
phone number spliced in, each fed in 12-character chunks and finished, 3 passes; p50/p99 of this
thread's CPU time per KB, for PII redact alone and for the default output rules (PII + secrets
redact).

Protocol (fixed before the first run): one mock upstream process (`--words`-word plain-prose
answers, paced at `--tps` tokens per second, one token per SSE event) and one `sluice serve`
process with two model groups on that mock: `plain` (no guardrails) and `guarded` (the shipped
`default` policy attached by model: output rules PII redact and secrets redact; its input rules
run too). Requests alternate plain / guarded, `--n` of each after two warm-up pairs, one at a time,
streamed over HTTP with httpx. Per request: TTFC = seconds from sending the request to the first
SSE event whose `delta.content` is non-empty; content deltas = events with non-empty content;
total = seconds to `[DONE]`. Reported: medians, the guarded/plain ratios from the same run, and the
guarded answer checked equal to the plain one (prose: nothing to redact). Targets (issue 20):
guarded TTFC within +50 ms of plain, guarded content deltas at least half of plain's (= the
upstream's: an unguarded stream passes every event through).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import orjson

from bench.proc import cores, free_port, spawn, stop, wait_port

PY = sys.executable


def config(mock_base: str, port: int) -> Path:
    d = Path(tempfile.mkdtemp(prefix="sluice-stream-bench-"))
    cfg = d / "gateway.yaml"
    dep = f"[{{provider: openai, model: gpt-4o-mini, api_base: '{mock_base}', timeout_s: 30}}]"
    cfg.write_text(
        f"server:\n  host: 127.0.0.1\n  port: {port}\n"
        f"models:\n  - {{name: plain, deployments: {dep}}}\n  - {{name: guarded, deployments: {dep}}}\n"
        "spend: {enabled: false}\nprompts: {enabled: false}\ntelemetry: {metrics: false}\n"
        "guardrails: {warm_on_start: true, attach: [{policy: default, models: [guarded]}]}\n")
    return cfg


def wait_ready(client: httpx.Client, deadline_s: float = 120.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError("gateway not ready")


def one(client: httpx.Client, model: str, i: int) -> tuple[float, int, float, str]:
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": f"tell me a story {i}"}]}
    t0 = time.perf_counter()
    ttfc = None
    deltas = 0
    text: list[str] = []
    with client.stream("POST", "/v1/chat/completions", json=body, headers={"authorization": "Bearer bench"}) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            ev = orjson.loads(line[6:])
            if "error" in ev:
                raise RuntimeError(f"{model}: error event {ev['error']}")
            for ch in ev.get("choices") or ():
                c = (ch.get("delta") or {}).get("content")
                if c:
                    if ttfc is None:
                        ttfc = time.perf_counter() - t0
                    deltas += 1
                    text.append(c)
    total = time.perf_counter() - t0
    return ttfc if ttfc is not None else total, deltas, total, "".join(text)


def cpu(n: int) -> int:
    import csv

    from guardrails import Guardrails, GuardrailsConfig, ScanContext, StreamGuard
    from guardrails.config import PolicyConfig, Rule
    from guardrails.datasets import dataset_path

    with dataset_path("injection", "jackhhao_test.csv").open(newline="", encoding="utf-8") as f:
        text = " ".join(r["prompt"] for r in csv.DictReader(f))
    prose = [text[i * 1024 : (i + 1) * 1024] for i in range(min(n, len(text) // 1024))]
    pii = [(p[:300] + " mail jane.doe@example.org, card 4111 1111 1111 1111, call +1 415 555 0199 " + p[300:940])[:1024]
           for p in prose]
    with open("/proc/loadavg") as f:
        print(f"{len(prose)} x 1 KB in 12-char chunks, CPU ms per KB; load average {' '.join(f.read().split()[:3])}")
    print(f"{'rules':22s} {'text':9s} {'p50':>7s} {'p99':>7s}")
    for label, rules in (("PII redact", [Rule(scanner="pii", action="redact")]),
                         ("PII + secrets redact", [Rule(scanner="pii", action="redact"),
                                                   Rule(scanner="secrets", action="redact")])):
        guard = Guardrails(GuardrailsConfig(policies={"o": PolicyConfig(output=rules)})).guard(("o",))
        assert guard is not None
        for s in guard.scanners.values():
            s.warm()
        for name, items in (("prose", prose), ("with PII", pii)):
            xs = []
            for _ in range(3):
                for t in items:
                    t0 = time.thread_time()
                    sg = StreamGuard(guard, ScanContext(direction="output"))
                    for i in range(0, len(t), 12):
                        sg.feed(t[i : i + 12])
                    sg.finish()
                    xs.append((time.thread_time() - t0) * 1000)
            xs.sort()
            print(f"{label:22s} {name:9s} {statistics.median(xs):7.3f} {xs[int(0.99 * len(xs))]:7.3f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--words", type=int, default=60)
    ap.add_argument("--tps", type=float, default=50.0)
    ap.add_argument("--cpu", action="store_true")
    args = ap.parse_args(argv)
    if args.cpu:
        return cpu(args.n or 200)
    args.n = args.n or 10
    cpus = cores()
    mock_port, gw_port = free_port(), free_port()
    run_mock = f"from gateway.mock_upstream import run; run('127.0.0.1', {mock_port}, " \
               f"reply_words={args.words}, tokens_per_s={args.tps})"
    mock = spawn([PY, "-c", run_mock], cpus["mock"])
    gw = None
    try:
        wait_port(mock_port, mock)
        cfg = config(f"http://127.0.0.1:{mock_port}/v1", gw_port)
        gw = spawn([PY, "-m", "gateway.cli", "serve", "--config", str(cfg), "--port", str(gw_port),
                    "--log-level", "warning"], cpus["proxy"])
        wait_port(gw_port, gw, timeout=120)
        rows: dict[str, list[tuple[float, int, float, str]]] = {"plain": [], "guarded": []}
        with httpx.Client(base_url=f"http://127.0.0.1:{gw_port}", timeout=60) as client:
            wait_ready(client)
            for i in range(args.n + 2):
                for model in ("plain", "guarded"):
                    got = one(client, model, i)
                    if i >= 2:
                        rows[model].append(got)
        same = all(p[3] == g[3] for p, g in zip(rows["plain"], rows["guarded"], strict=True))
        med = {m: (statistics.median(x[0] for x in r), statistics.median(x[1] for x in r),
                   statistics.median(x[2] for x in r)) for m, r in rows.items()}
        with open("/proc/loadavg") as f:
            load = f.read().split()[:3]
        print(f"{args.n} streamed requests each, {args.words}-word answers at {args.tps:g} tokens/s; "
              f"load average {' '.join(load)}")
        print(f"{'':10s} {'TTFC ms':>9s} {'content deltas':>15s} {'total ms':>9s}")
        for m, (t, d, tot) in med.items():
            print(f"{m:10s} {t * 1000:9.1f} {d:15.0f} {tot * 1000:9.1f}")
        (pt, pd, ptot), (gt, gd, gtot) = med["plain"], med["guarded"]
        print(f"guarded - plain TTFC: {(gt - pt) * 1000:+.1f} ms (target <= +50 ms); TTFC ratio {gt / pt:.2f}x")
        print(f"content deltas guarded/plain: {gd / pd:.2f} (target >= 0.5); total ratio {gtot / ptot:.2f}x")
        print(f"guarded text equals plain text in every pair: {same}")
        return 0 if same else 1
    finally:
        if gw is not None:
            stop(gw)
        stop(mock)


if __name__ == "__main__":
    raise SystemExit(main())
