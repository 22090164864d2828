"""Process helpers for the benches: spawn pinned to cores, wait for a port, CPU time and RSS of a tree."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cores() -> dict[str, str | None]:
    """Which cores the server under test, the mock and wrk get (None: no pinning)."""
    n = os.cpu_count() or 1
    if n < 2 or shutil.which("taskset") is None:
        return {"proxy": None, "mock": None, "load": None}
    if n == 2:
        return {"proxy": "0", "mock": "1", "load": "1"}
    return {"proxy": "0", "mock": "1", "load": "2"}


def pinned(cmd: Sequence[str], core: str | None) -> list[str]:
    return ["taskset", "-c", core, *cmd] if core is not None else list(cmd)


def spawn(cmd: Sequence[str], core: str | None, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.Popen(pinned(cmd, core), cwd=REPO, env=full_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> float:
    """Seconds until the port accepts connections; raises if the process dies or time runs out."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
            raise RuntimeError(f"process exited with {proc.returncode} before listening:\n{err}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return time.perf_counter() - t0
        time.sleep(0.02)
    raise TimeoutError(f"nothing listened on port {port} within {timeout:g} s")


def wait_ready(port: int, timeout: float = 60) -> float:
    """Seconds until `/readyz` answers 200 (the gateway's warm-ups are done); raises on timeout."""
    import urllib.error
    import urllib.request

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter() - t0
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"/readyz on port {port} not 200 within {timeout:g} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _tree(pid: int) -> list[int]:
    """pid and its live descendants (uvicorn workers, taskset's exec'd child is the pid itself)."""
    parents: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            parents[int(d)] = int(stat[stat.rindex(")") + 2:].split()[1])
    out, frontier = [pid], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        out.extend(kids)
        frontier.extend(kids)
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process tree, in seconds (children that already exited included)."""
    total = 0
    for p in _tree(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        f = stat[stat.rindex(")") + 2:].split()
        total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])  # utime stime cutime cstime
    return total / CLK_TCK


def rss_mib(pid: int) -> float:
    total_kib = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024
