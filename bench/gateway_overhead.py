"""Gateway overhead vs bare pass-throughs, measured in one run against the mock upstream.

    python bench/gateway_overhead.py [--seconds 5] [--connections 16] [--gateway-workers 1,2] [--json OUT]
        [--variants core,default,auth,guardrails] [--prompt-kb 1] [--routes chat,messages,responses]

Targets, each served by its own process pinned to one core (the mock on another core, wrk beside it):
  direct   wrk -> mock (the ceiling; CPU column is the mock's)
  bare     bare ASGI + aiohttp + orjson pass-through under uvicorn (bench/floors.py)
  fastapi  FastAPI + aiohttp + orjson pass-through under uvicorn
  gateway  `sluice serve` with a config whose one model group points at the mock
With --routes, the gateway is also measured on Anthropic's /v1/messages (`messages`: translated to the
OpenAI-format group; `messages-native`: passed through to an Anthropic-format group on the mock) and
OpenAI's /v1/responses (translated to chat). For each: requests/s, p50/p99 latency (wrk --latency), CPU-ms per request of the server's process
tree (utime+stime from /proc, before/after), RSS after the run, for a non-streaming request and a
short stream (16 tokens). Ratios are against the floors measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import wrk
from bench.proc import cores, cpu_seconds, free_port, rss_mib, spawn, stop, wait_port, wait_ready

PY = sys.executable
PROMPT = [{"role": "user", "content": "Say hello to the benchmark, briefly."}]


@dataclass
class Row:
    target: str
    mode: str
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_req: float
    rss_mib: float
    requests: int
    errors: int


# --prompt-kb pads the user message with this sentence (same body for every target and variant).
FILLER = "The river rises in spring, and the keepers open the sluice gates to let the water through. "


def body(model: str, stream: bool, prompt_kb: float = 0.0, route: str = "chat") -> str:
    messages = PROMPT
    if prompt_kb > 0:
        text = PROMPT[0]["content"] + " " + FILLER * int(prompt_kb * 1024 / len(FILLER) + 1)
        messages = [{"role": "user", "content": text[: int(prompt_kb * 1024)]}]
    b: dict[str, Any]
    if route == "responses":
        b = {"model": model, "input": messages[0]["content"], "max_output_tokens": 16, "store": False}
    else:  # chat completions and Anthropic's messages share this shape
        b = {"model": model, "messages": messages, "max_tokens": 16}
    if stream:
        b["stream"] = True
    return json.dumps(b)


# route -> (path, model group): the gateway config below has both groups
ROUTES = {"chat": ("/v1/chat/completions", "bench"), "messages": ("/v1/messages", "bench"),
          "messages-native": ("/v1/messages", "bench-claude"), "responses": ("/v1/responses", "bench")}


def measure(name: str, mode: str, url: str, pid: int, script: Path, args: argparse.Namespace,
            core: str | None) -> Row:
    wrk.run(url, script, seconds=1, connections=args.connections, core=core)  # warm up pools and caches
    c0 = cpu_seconds(pid)
    r = wrk.run(url, script, seconds=args.seconds, connections=args.connections, core=core)
    c1 = cpu_seconds(pid)
    cpu_ms = (c1 - c0) * 1000 / r.requests if r.requests else float("nan")
    row = Row(name, mode, r.rps, r.p50_ms, r.p99_ms, cpu_ms, rss_mib(pid), r.requests, r.errors)
    print(f"  {name:8s} {mode:6s} {r.rps:9.0f} req/s  p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms  "
          f"{cpu_ms:6.3f} CPU-ms/req  {row.rss_mib:6.1f} MiB" + (f"  ERRORS {r.errors}" if r.errors else ""),
          flush=True)
    return row


def gateway_available() -> str | None:
    """None if `sluice serve` can run here, else why not."""
    for mod in ("gateway.app", "gateway.cli.root"):
        try:
            if importlib.util.find_spec(mod) is None:
                return f"{mod} is missing"
        except ImportError as e:
            return f"{mod}: {e}"
    return None


# "core": the target config (auth, ledger, prompts, metrics off); "default": the shipped
# defaults (spend ledger and Prometheus metrics on, prompt and cache hooks installed).
CORE = "spend: {enabled: false}\nprompts: {enabled: false}\ntelemetry: {metrics: false}\n"
VARIANTS = {
    "core": CORE,
    "default": "",
    "auth": "auth: {enabled: true}\n",  # + a virtual key with rpm/tpm/budget: every limit is checked
    # core + the shipped default guardrail policy (input: secrets, PII, injection, invisible text;
    # output: PII and secrets), on every request
    "guardrails": CORE + "guardrails: {default_policy: default, warm_on_start: true}\n",
    # the same with every scan in a worker thread (inline_scan_chars: 0): the thread hop's own cost
    "guardrails-threaded": CORE + "guardrails: {default_policy: default, warm_on_start: true, inline_scan_chars: 0}\n",
    # everything on (issue 21): auth + a key with rpm/tpm/budget, the SQLite ledger, Prometheus
    # metrics, and the shipped default guardrail policy
    "full": "auth: {enabled: true}\nguardrails: {default_policy: default, warm_on_start: true}\n",
}
KEYED = ("auth", "full")  # variants that need a virtual key
BENCH_SECRET = "bench-key-secret"


def create_key(cfg: Path) -> str:
    """A virtual key with limits far above what the bench sends, so every check runs and none trips."""
    import re
    import subprocess

    out = subprocess.run([PY, "-m", "gateway.cli", "keys", "create", "-c", str(cfg), "--name", "bench",
                          "--rpm", "100000000", "--tpm", "1000000000", "--budget", "1000000", "--period", "day"],
                         capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "SLUICE_KEY_SECRET": BENCH_SECRET}).stdout
    m = re.search(r"sk-[A-Za-z0-9_\-]+", out)
    if m is None:
        raise RuntimeError(f"no key in `sluice keys create` output: {out!r}")
    return m.group(0)


@dataclass
class Served:
    """A mock upstream and a `sluice serve` in front of it (mock_and_gateway)."""

    mock_port: int
    port: int
    key: str  # the bearer token the variant needs ("bench" when it has no auth)
    gateway: Any  # the server's Popen


@contextlib.contextmanager
def mock_and_gateway(variant: str, cpus: dict[str, str | None]) -> Iterator[Served]:
    """Start the mock upstream (core cpus["mock"]) and the gateway for `variant` (cpus["proxy"]),
    wait until it is ready, and stop both afterwards (the start-up open_loop.py and
    profile_gateway.py share)."""
    mock_port = free_port()
    mock = spawn([PY, "-c", f"from gateway.mock_upstream import run; run('127.0.0.1', {mock_port})"], cpus["mock"])
    try:
        wait_port(mock_port, mock)
        port = free_port()
        cfg = gateway_config(f"http://127.0.0.1:{mock_port}/v1", port, variant)
        env, key = None, "bench"
        if variant in KEYED:
            key = create_key(cfg)
            env = {**os.environ, "SLUICE_KEY_SECRET": BENCH_SECRET}
        gw = spawn([PY, "-m", "gateway.cli", "serve", "--config", str(cfg), "--port", str(port),
                    "--log-level", "warning"], cpus["proxy"], env)
        try:
            wait_port(port, gw)
            wait_ready(port)
            yield Served(mock_port, port, key, gw)
        finally:
            stop(gw)
    finally:
        stop(mock)


def gateway_config(mock_base: str, port: int, variant: str = "core", anthropic: bool = False) -> Path:
    """One OpenAI-compatible group (`bench`); with `anthropic`, also an Anthropic-format group
    (`bench-claude`, for --routes messages-native). Only then: the Anthropic provider's imports
    (litellm's adapter pulls the openai SDK) would otherwise add ~25 MiB to every variant's RSS."""
    d = Path(tempfile.mkdtemp(prefix="sluice-bench-"))
    cfg = d / "gateway.yaml"
    claude = ("  - name: bench-claude\n    deployments:\n"
              f"      - {{provider: anthropic, model: claude-sonnet-4-5, api_base: '{mock_base.removesuffix('/v1')}', "
              "timeout_s: 30}\n") if anthropic else ""
    cfg.write_text(
        f"server:\n  host: 127.0.0.1\n  port: {port}\n"
        "models:\n  - name: bench\n    deployments:\n"
        f"      - {{provider: openai, model: gpt-4o-mini, api_base: '{mock_base}', timeout_s: 30}}\n"
        + claude + VARIANTS[variant]
    )
    return cfg


def run_target(name: str, cmd: list[str], port: int, model: str, args: argparse.Namespace, cpus: dict[str, str | None],
               env: dict[str, str] | None = None, core: str | None = None, key: str = "bench",
               routes: tuple[str, ...] = ("chat",)) -> list[Row]:
    proc = spawn(cmd, core if core is not None else cpus["proxy"], env)
    try:
        wait_port(port, proc)
        if name.startswith("gw"):
            wait_ready(port)  # measure the warmed-up gateway (guardrail models loaded)
        rows = []
        for route in routes:
            path, group = ROUTES[route] if route != "chat" else ("/v1/chat/completions", model)
            url = f"http://127.0.0.1:{port}{path}"
            target = name if route == "chat" else f"{name}:{route}"
            for mode, stream in (("json", False), ("stream", True)):
                script = wrk.lua_script(body(group, stream, args.prompt_kb, route),
                                        {"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
                rows.append(measure(target, mode, url, proc.pid, script, args, cpus["load"]))
        return rows
    finally:
        stop(proc)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0, help="measured seconds per target and mode")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--gateway-workers", default="1",
                    help="comma-separated worker counts, e.g. 1,2 (more than 1 runs unpinned)")
    ap.add_argument("--skip-floors", action="store_true")
    ap.add_argument("--variants", default="core,default", help=f"gateway configs to run: {', '.join(VARIANTS)}")
    ap.add_argument("--json", type=Path, help="write the rows here")
    ap.add_argument("--routes", default="chat", help=f"gateway routes to measure: {', '.join(ROUTES)}")
    ap.add_argument("--prompt-kb", type=float, default=0.0,
                    help="pad the user message to this many KB of English prose (0: the short prompt)")
    args = ap.parse_args(argv)

    cpus = cores()
    print(f"cores: {cpus}; {args.connections} connections, {args.seconds:g} s per measurement", flush=True)
    mock_port = free_port()
    mock = spawn([PY, "-c", f"from gateway.mock_upstream import run; run('127.0.0.1', {mock_port})"], cpus["mock"])
    rows: list[Row] = []
    notes: list[str] = []
    try:
        wait_port(mock_port, mock)
        mock_base = f"http://127.0.0.1:{mock_port}/v1"
        for mode, stream in (("json", False), ("stream", True)):
            script = wrk.lua_script(body("mock-gpt", stream, args.prompt_kb), {"Content-Type": "application/json"})
            rows.append(measure("direct", mode, f"{mock_base}/chat/completions", mock.pid, script, args, cpus["load"]))

        uv = [PY, "-m", "uvicorn", "--host", "127.0.0.1", "--loop", "uvloop", "--http", "httptools",
              "--no-access-log", "--log-level", "warning"]
        if not args.skip_floors:
            for name, target in (("bare", "bench.floors:bare_app"), ("fastapi", "bench.floors:fastapi_app")):
                port = free_port()
                rows += run_target(name, [*uv, "--port", str(port), target], port, "mock-gpt", args, cpus,
                                   env={"BENCH_UPSTREAM": mock_base})

        why = gateway_available()
        if why is None:
            runs = [(v, int(w)) for v in args.variants.split(",") for w in str(args.gateway_workers).split(",")]
            for variant, workers in runs:
                port = free_port()
                cfg = gateway_config(mock_base, port, variant, anthropic="messages-native" in args.routes)
                cmd = [PY, "-m", "gateway.cli", "serve", "--config", str(cfg), "--port", str(port),
                       "--log-level", "warning"]
                core = cpus["proxy"]
                if workers > 1:
                    cmd += ["--workers", str(workers)]
                    core = None  # several workers: let them use every core
                name = f"gw-{variant}" if workers == 1 else f"gw-{variant}-x{workers}"
                env, key = None, "bench"
                if variant in KEYED:
                    key = create_key(cfg)
                    env = {**__import__("os").environ, "SLUICE_KEY_SECRET": BENCH_SECRET}
                try:
                    rows += run_target(name, cmd, port, "bench", args, cpus, core=core, env=env, key=key,
                                       routes=tuple(args.routes.split(",")))
                except (RuntimeError, TimeoutError) as e:
                    notes.append(f"gateway ({workers} workers) did not run: {e}")
        else:
            notes.append(f"gateway not measured: {why}")
    finally:
        stop(mock)

    report(rows, notes)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                         "cores": cpus, "connections": args.connections, "seconds": args.seconds,
                                         "rows": [asdict(r) for r in rows], "notes": notes}, indent=2))
    return 1 if any(r.errors for r in rows) else 0


def report(rows: list[Row], notes: list[str]) -> None:
    by = {(r.target, r.mode): r for r in rows}
    print("\n| target | mode | req/s | p50 ms | p99 ms | CPU-ms/req | RSS MiB | CPU vs bare | CPU vs fastapi "
          "| CPU vs the gateway's chat |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        bare, fast = by.get(("bare", r.mode)), by.get(("fastapi", r.mode))
        vs_bare = f"{r.cpu_ms_per_req / bare.cpu_ms_per_req:.2f}x" if bare and r.target != "direct" else "-"
        vs_fast = f"{r.cpu_ms_per_req / fast.cpu_ms_per_req:.2f}x" if fast and r.target != "direct" else "-"
        chat = by.get((r.target.split(":")[0], r.mode)) if ":" in r.target else None
        vs_chat = f"{r.cpu_ms_per_req / chat.cpu_ms_per_req:.2f}x" if chat else "-"
        print(f"| {r.target} | {r.mode} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
              f"{r.cpu_ms_per_req:.3f} | {r.rss_mib:.0f} | {vs_bare} | {vs_fast} | {vs_chat} |")
    for n in notes:
        print(f"note: {n}")


if __name__ == "__main__":
    sys.exit(main())
