"""Real Redis, PostgreSQL and Chroma servers for tests, started on free loopback ports.

Each server is started once per test session, in a temporary directory, and stopped by pid.
A missing binary fails the test with the install command (never a silent skip): `.ci/run`
installs them on a fresh machine.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    os.kill(proc.pid, sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)


def _require(binary: str | None, what: str, install: str) -> str:
    if not binary:
        pytest.fail(f"{what} is not installed; run: {install} (.ci/run does this)")
    return binary


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    exe = _require(shutil.which("redis-server"), "redis-server", "apt-get install redis-server")
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="sluice-redis-")
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc=proc)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class PostgresServer:
    url: str
    port: int
    datadir: str


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    initdb = _require(_pg_bin("initdb"), "PostgreSQL", "apt-get install postgresql")
    postgres = _require(_pg_bin("postgres"), "PostgreSQL", "apt-get install postgresql")
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="sluice-pg-")
    datadir = os.path.join(tmp, "data")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
        shutil.chown(tmp, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_user, initdb, "-D", datadir, "-U", "sluice", "--auth=trust", "-E", "UTF8"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = subprocess.Popen(
        [*as_user, postgres, "-D", datadir, "-p", str(port), "-h", "127.0.0.1", "-k", tmp,
         "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc=proc)
        # the port opens before the server accepts logins: retry createdb briefly
        createdb = _pg_bin("createdb") or "createdb"
        for _ in range(100):
            r = subprocess.run([createdb, "-h", "127.0.0.1", "-p", str(port), "-U", "sluice", "sluice"],
                               capture_output=True, check=False)
            if r.returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"createdb failed: {r.stderr.decode(errors='replace')}")
        yield PostgresServer(f"postgresql+psycopg://sluice@127.0.0.1:{port}/sluice", port, datadir)
    finally:
        # the postmaster runs under runuser: signal the real server process via its pid file
        pidfile = Path(datadir, "postmaster.pid")
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text().split()[0]), signal.SIGINT)
            except (ProcessLookupError, ValueError):
                pass
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            stop(proc, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.url


@dataclass
class ChromaServer:
    host: str
    port: int
    path: str


@pytest.fixture(scope="session")
def chroma_server() -> Iterator[ChromaServer]:
    chroma = Path(sys.executable).with_name("chroma")
    if not chroma.exists():
        pytest.fail("the chroma CLI (from the chromadb package) is missing; run `make install`")
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="sluice-chroma-")
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    proc = subprocess.Popen([str(chroma), "run", "--path", tmp, "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_for_port(port, timeout=60, proc=proc)
        yield ChromaServer("127.0.0.1", port, tmp)
    finally:
        stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
