"""Guardrail latency per 1 KB prompt, against a baseline measured in the same run.

    python bench/guardrails_bench.py [--n 300]

Times are this thread's CPU time (time.thread_time), not wall time: the machine is shared and
wall-clock percentiles swing with other people's load. Baseline: orjson-parsing and re-serialising the 1 KB chat request body (work the gateway does on
every request anyway). Prompts: 1 KB slices of the jackhhao test prompts (prose), and the same
slices with an e-mail, a card number and a phone number spliced in (PII); short prompts: every
jackhhao test prompt under 200 characters, as written (the policy with and without injection). Reports p50/p99 ms per
prompt for the default input policy (secrets block, PII redact, injection block, invisible-text
redact), each scanner alone, and the stream output filter (PII redact) per KB of streamed text.
The injection scanner's slow path (the MiniLM embedder, only for short texts with a directive cue
in the uncertain score band) is reported separately: on short prompts (the first 120 characters
of each jackhhao test prompt, and the benign trigger-word dev prompts), how many took it, and
p50/p99 of the scanner over all of them and over those that took it.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson

from guardrails import Guardrails, GuardrailsConfig, ScanContext, StreamGuard, Vault
from guardrails.config import PolicyConfig, Rule
from guardrails.datasets import dataset_path
from guardrails.scanners.injection import load_model

DATA = dataset_path("injection", "jackhhao_test.csv")


def short_prompts() -> list[str]:
    """Every jackhhao test prompt under 200 characters, as written (53 prompts)."""
    with DATA.open(newline="", encoding="utf-8") as f:
        return [r["prompt"] for r in csv.DictReader(f) if len(r["prompt"]) < 200]


def prompts(n: int) -> tuple[list[str], list[str]]:
    with DATA.open(newline="", encoding="utf-8") as f:
        text = " ".join(r["prompt"] for r in csv.DictReader(f))
    prose = [text[i * 1024 : (i + 1) * 1024] for i in range(min(n, len(text) // 1024))]
    pii = [p[:300] + " mail jane.doe@example.org, card 4111 1111 1111 1111, call +1 415 555 0199 " + p[300:940]
           for p in prose]
    return prose, [p[:1024] for p in pii]


def timed(fn: Callable[[str], object], items: list[str], repeat: int = 1) -> tuple[float, float]:
    xs = []
    for _ in range(repeat):
        for t in items:
            t0 = time.thread_time()
            fn(t)
            xs.append((time.thread_time() - t0) * 1000)
    xs.sort()
    return statistics.median(xs), xs[min(len(xs) - 1, int(0.99 * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    prose, pii = prompts(args.n)
    g = Guardrails(GuardrailsConfig())
    guard = g.guard(("default",))
    assert guard is not None
    g.warm()
    ictx = ScanContext(direction="input")

    def body_roundtrip(t: str) -> object:
        return orjson.dumps(orjson.loads(orjson.dumps({"model": "m", "messages": [{"role": "user", "content": t}]})))

    def policy(t: str) -> object:
        return guard.check(t, ictx, Vault())

    base50, base99 = timed(body_roundtrip, prose, 3)
    print(f"prompts: {len(prose)} x 1 KB; baseline (orjson body round-trip) p50 {base50:.3f} ms p99 {base99:.3f} ms")
    print(f"{'what':44s} {'p50 ms':>8s} {'p99 ms':>8s} {'p50/baseline':>13s}")
    # First sight: the injection scorer's per-word n-gram cache starts empty and every prompt is
    # new (the rows below see each prompt a second and third time, as a busy gateway sees words).
    for block in load_model().blocks:
        block.cache.clear()
    p50, p99 = timed(policy, prose, 1)
    print(f"{'default input policy, prose, first sight':44s} {p50:8.3f} {p99:8.3f} {p50 / base50:12.1f}x")
    short = short_prompts()
    no_injection = Guardrails(GuardrailsConfig(policies={"n": PolicyConfig(
        input=[r for r in guard.policy.input if r.scanner != "injection"])})).guard(("n",))
    assert no_injection is not None
    rows: list[tuple[str, Callable[[str], object], list[str]]] = [
        ("default input policy, prose", policy, prose),
        ("default input policy, with PII", policy, pii),
        (f"default input policy, {len(short)} prompts < 200 chars", policy, short),
        ("  the same without injection", lambda t: no_injection.check(t, ictx, Vault()), short),
        ("  injection alone, < 200 chars", lambda t: guard.scanners["injection"].scan(t, ictx), short),
    ]
    def scan_with(scanner: Any) -> Callable[[str], object]:
        return lambda t: scanner.scan(t, ictx)

    for r in guard.policy.input:
        one = scan_with(guard.scanners[r.scanner])
        rows.append((f"  {r.scanner} alone, prose", one, prose))
        rows.append((f"  {r.scanner} alone, with PII", one, pii))
    for name, fn, items in rows:
        p50, p99 = timed(fn, items, 3)
        print(f"{name:44s} {p50:8.3f} {p99:8.3f} {p50 / base50:12.1f}x")

    out_guard = Guardrails(GuardrailsConfig(policies={"o": PolicyConfig(output=[Rule(scanner="pii", action="redact")])})).guard(("o",))
    assert out_guard is not None

    def stream(t: str) -> object:
        sg = StreamGuard(out_guard, ScanContext(direction="output"))
        out = [sg.feed(t[i : i + 12]) for i in range(0, len(t), 12)]  # ~3-token chunks
        return "".join(out) + sg.finish()

    p50, p99 = timed(stream, pii, 3)
    print(f"{'stream filter (PII redact), 1 KB in 12-char chunks':44s} {p50:8.3f} {p99:8.3f} {p50 / base50:12.1f}x")
    slow_path(prose, ictx, base50)


def slow_path(prose: list[str], ictx: ScanContext, base50: float) -> None:
    from guardrails.scanners.injection import InjectionScanner
    from tools.injection_training.train import DEV_TRIGGER_SET, read_lines

    model = load_model()
    calls: list[str] = []
    real = model.embed_score

    def counting(text: str) -> float:
        calls.append(text)
        return real(text)

    model.embed_score = counting  # type: ignore[method-assign]
    scanner = InjectionScanner()
    with DATA.open(newline="", encoding="utf-8") as f:
        short = [r["prompt"][:120] for r in csv.DictReader(f)] + read_lines(DEV_TRIGGER_SET)
    for t in prose:
        scanner.scan(t, ictx)
    print(f"injection slow path (embedder): {len(set(calls))} of {len(prose)} 1 KB prompts")
    calls.clear()
    for t in short:
        scanner.scan(t, ictx)
    slow = sorted(set(calls))
    print(f"injection slow path: {len(slow)} of {len(short)} short prompts (<= 120 chars)")
    for name, items in (("injection alone, short prompts", short), ("injection alone, slow-path prompts", slow)):
        if items:
            p50, p99 = timed(lambda t: scanner.scan(t, ictx), items, 3)
            print(f"{name:44s} {p50:8.3f} {p99:8.3f} {p50 / base50:12.1f}x")
    model.embed_score = real  # type: ignore[method-assign]


if __name__ == "__main__":
    main()
