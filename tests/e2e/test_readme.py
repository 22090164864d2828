"""Docs as tests: the README's quickstart blocks marked `test` (```bash test, ```python test) run
against `sluice serve` on the demo config, started on a terminal as a new user would start it, and
their output is checked. A marked block without a check here fails the test, so the README cannot
promise what nobody verified.

The demo runs from a copy of examples/ in a temporary folder (its state, `.sluice/demo`, lands
there), with the repository's .venv linked in so `.venv/bin/sluice` works as the README writes it.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.docs.readme import read_json_docs
from tests.services import free_port, stop

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```(bash|python) test\n(.*?)^```$", re.DOTALL | re.MULTILINE)


@dataclass
class Demo:
    port: int
    cwd: Path
    terminal: list[bytes]  # what `sluice serve` wrote to its terminal

    def output(self) -> str:
        return b"".join(self.terminal).decode(errors="replace")


def _drain(fd: int, into: list[bytes]) -> None:
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            return
        if not data:
            return
        into.append(data)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    cwd = tmp_path_factory.mktemp("demo")
    shutil.copytree(ROOT / "examples", cwd / "examples", ignore=shutil.ignore_patterns(".sluice"))
    (cwd / ".venv").symlink_to(ROOT / ".venv")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["PYTHONPATH"] = str(ROOT)
    master, slave = pty.openpty()  # stderr is a terminal: the banner and text logs
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config", "examples/sluice.yaml",
                             "--port", str(port)], cwd=cwd, env=env, stdout=slave, stderr=slave)
    os.close(slave)
    terminal: list[bytes] = []
    threading.Thread(target=_drain, args=(master, terminal), daemon=True).start()
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert proc.poll() is None, b"".join(terminal).decode(errors="replace")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            raise AssertionError("the demo was not ready within 180 s:\n" + b"".join(terminal).decode(errors="replace"))
        yield Demo(port, cwd, terminal)
    finally:
        stop(proc)
        os.close(master)


def _blocks() -> list[tuple[str, str]]:
    start = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = start[start.index("## Quickstart"):start.index("\n## ", start.index("## Quickstart") + 1)]
    return [(lang, body) for lang, body in BLOCK.findall(quickstart)]


def _run(demo: Demo, lang: str, body: str) -> str:
    code = body.replace("127.0.0.1:4000", f"127.0.0.1:{demo.port}")
    cmd = ["bash", "-euo", "pipefail", "-c", code] if lang == "bash" else [sys.executable, "-c", code]
    out = subprocess.run(cmd, cwd=demo.cwd, capture_output=True, text=True, timeout=240, check=False,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, f"{lang} block failed ({out.returncode}):\n{body}\n{out.stderr}"
    return out.stdout


def _chat_answer(out: str) -> None:
    (doc,) = read_json_docs(out)
    assert doc["object"] == "chat.completion" and doc["choices"][0]["message"]["content"].strip()


def _sdk(out: str) -> None:
    first, _, streamed = out.partition("\n")
    assert first.strip() and streamed.strip()  # the mock's answer, then SmolLM2's streamed colour


def _cache(out: str) -> None:
    lines = [line.strip().lower() for line in out.splitlines() if line.strip()]
    caches = [line.split(":", 1)[1].strip() for line in lines if line.startswith("x-sluice-cache")]
    assert caches == ["miss", "hit"], out
    assert sum(line.startswith("x-sluice-cost-usd") for line in lines) >= 1


def _rag(out: str) -> None:
    query, chat = read_json_docs(out)
    assert query["answer"] is None and query["contexts"][0]["source"] == "security.html"
    assert "14 characters" in query["contexts"][0]["text"]
    assert chat["model"] == "rag:handbook" and chat["citations"][0]["source"] == "holidays.md"


def _prompt_and_guardrails(out: str) -> None:
    prompted, refused = read_json_docs(out)
    assert prompted["choices"][0]["message"]["content"].strip()
    assert refused["error"]["code"] == "content_policy_violation"
    assert "AKIA" not in json.dumps(refused)


def _spend(out: str) -> None:
    header, *rows = [line.split(",") for line in out.strip().splitlines()]
    assert "model" in header and "cost_usd" in header, header
    models = {r[header.index("model")] for r in rows}
    assert {"mock", "smollm2"} <= models, out


CHECKS: list[Callable[[str], None]] = [_chat_answer, _sdk, _cache, _rag, _prompt_and_guardrails, _spend]


def test_every_marked_block_has_a_check() -> None:
    assert len(_blocks()) == len(CHECKS), "a README block marked `test` needs a check in CHECKS (same order)"


def test_readme_quickstart_blocks_run_against_the_demo(demo: Demo) -> None:
    blocks = _blocks()
    for (lang, body), check in zip(blocks, CHECKS, strict=True):
        out = _run(demo, lang, body)
        for _ in range(20):  # the ledger is written off the request path: give it a moment
            try:
                check(out)
                break
            except AssertionError:
                if check is not _spend:
                    raise
                time.sleep(0.25)
                out = _run(demo, lang, body)
        else:
            check(out)


def test_serve_on_a_terminal_prints_a_banner_and_readable_logs(demo: Demo) -> None:
    text = demo.output()
    banner = text[:text.index("\n  auth")]
    assert f"http://127.0.0.1:{demo.port}/v1" in banner
    for expected in ("smollm2", "rag:handbook", "exact + semantic (memory)", "default on chat.completions",
                     str(demo.cwd / ".sluice" / "demo" / "spend.db"), str(demo.cwd / ".sluice" / "demo" / "chroma")):
        assert expected in banner, expected
    assert "auth: {enabled: true}" in text
    logs = [line for line in text.splitlines() if " INFO " in line]
    assert logs and not any(line.lstrip().startswith("{") for line in logs)  # text, not JSON, on a terminal
    assert "seeded collection 'handbook'" in text
