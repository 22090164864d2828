"""`sluice serve` in its own process on a free loopback port, stopped by pid (the production path:
uvicorn with uvloop, httptools and the gateway's own protocol)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.services import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def sluice_serve(tmp_path: Path, cfg: dict[str, Any], *, ready_path: str = "/healthz",
                 env: dict[str, str] | None = None, timeout: float = 60) -> Iterator[int]:
    """Yields the port once `ready_path` answers 200. `cfg["server"]["port"]` is filled in."""
    port = free_port()
    cfg = {**cfg, "server": {**cfg.get("server", {}), "port": port, "reload_watch": False}}
    path = tmp_path / "sluice.yaml"
    path.write_text(yaml.safe_dump(cfg))
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config", str(path),
                             "--log-level", "warning"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    try:
        try:
            wait_for_port(port, timeout=timeout, proc=proc)
            deadline = time.monotonic() + timeout
            while httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=5).status_code != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{ready_path} never answered 200")
                time.sleep(0.1)
        except (RuntimeError, httpx.HTTPError):
            log.flush()
            raise RuntimeError((tmp_path / "serve.log").read_text()[-3000:]) from None
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
