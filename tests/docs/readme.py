"""Docs as tests for the package READMEs: run their marked examples, check their field tables.

The convention (the root README's, tests/e2e/test_readme.py, with attributes added) is described
at the top of each tests/docs/test_*_readme.py. This module holds the shared machinery:

- `blocks(readme)`: the fenced blocks marked `test` (```LANG test id=NAME [file=PATH] [background]);
  `unmarked_examples(readme)` lists fenced code blocks in a runnable language that are not marked.
- `Session`: a workspace (a temporary copy of examples/), one shell "terminal session" whose exported
  variables carry from block to block, and at most one background gateway (`sluice serve ...`).
- `field_tables(readme)` / `expected_fields(obj)`: a table preceded by `<!-- fields: module:name -->`
  must list exactly the object's fields (and, for pydantic models, their defaults).
- `cli_options(app)`: every `--option` of a Typer app, to check the README names them all.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import httpx

from tests.services import free_port, stop

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
RUNNABLE = {"bash", "sh", "shell", "console", "python", "py", "yaml", "yml", "json", "jsonl", "csv"}
DEMO_PORT = "127.0.0.1:4000"

_FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
_JSON_START = re.compile(r"^\{", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Block:
    lang: str
    id: str
    code: str
    file: str | None = None
    background: bool = False
    line: int = 0

    def where(self) -> str:
        return f"block {self.id!r} (README line {self.line}, ```{self.lang})"


def _fences(text: str) -> Iterator[tuple[str, list[str], str, int]]:
    for m in _FENCE.finditer(text):
        info = m.group(1).split()
        lang = info[0] if info else ""
        yield lang, info[1:], m.group(2), text.count("\n", 0, m.start()) + 1


def blocks(readme: Path) -> list[Block]:
    out: list[Block] = []
    for lang, words, code, line in _fences(readme.read_text(encoding="utf-8")):
        if not words or words[0] != "test":
            continue
        attrs = dict(w.split("=", 1) if "=" in w else (w, "true") for w in words[1:])
        unknown = set(attrs) - {"id", "file", "background"}
        assert not unknown, f"README line {line}: unknown block attribute(s) {sorted(unknown)}"
        assert "id" in attrs, f"README line {line}: a ```{lang} test block needs id=NAME"
        out.append(Block(lang, attrs["id"], code, attrs.get("file"), attrs.get("background") == "true", line))
    ids = [b.id for b in out]
    assert len(ids) == len(set(ids)), f"block ids repeat in {readme}: {ids}"
    return out


def unmarked_examples(readme: Path) -> list[str]:
    """Fenced blocks in a runnable language without the `test` mark (output belongs in ```text)."""
    return [f"line {line}: ```{lang}" for lang, words, _, line in _fences(readme.read_text(encoding="utf-8"))
            if lang in RUNNABLE and (not words or words[0] != "test")]


# --- running ------------------------------------------------------------------------------------
@dataclass(slots=True)
class Result:
    block: Block
    out: str
    err: str = ""
    rc: int = 0


@dataclass
class Session:
    """One reader at one terminal, in a copy of the repository's examples (tmp/ws)."""

    tmp: Path
    ws: Path = field(init=False)
    port: int = field(default_factory=free_port)
    server: subprocess.Popen[bytes] | None = None
    server_log: Path | None = None

    def __post_init__(self) -> None:
        self.ws = self.tmp / "ws"
        self.ws.mkdir(parents=True)
        shutil.copytree(ROOT / "examples", self.ws / "examples", ignore=shutil.ignore_patterns(".sluice"))
        self.envfile = self.tmp / "session-env.sh"
        assert (VENV_BIN / "sluice").exists(), f"no sluice console script next to {sys.executable}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        # the reader's environment: this venv first on PATH, no SLUICE_* settings of the test runner
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
        env["COLUMNS"] = "160"
        env.pop("VIRTUAL_ENV", None)
        return env

    def _script(self, body: str) -> str:
        restore = f"[ -f {shlex.quote(str(self.envfile))} ] && source {shlex.quote(str(self.envfile))}\n"
        return restore + body.replace(DEMO_PORT, f"127.0.0.1:{self.port}")

    def run(self, block: Block, timeout: float = 300) -> Result:
        if block.file:
            path = self.ws / block.file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block.code, encoding="utf-8")
        if block.lang in ("yaml", "yml", "json", "jsonl", "csv"):
            return Result(block, block.code)
        if block.lang in ("python", "py"):
            snippet = self.tmp / f"snippet-{block.id}.py"
            snippet.write_text(block.code, encoding="utf-8")
            body = f"python {shlex.quote(str(snippet))}\n"
        elif block.lang in ("bash", "sh", "shell", "console"):
            body = block.code
        else:
            raise AssertionError(f"{block.where()}: no runner for ```{block.lang}")
        if block.background:
            return self._start_server(block, body)
        script = self._script(body) + f"\nexport -p > {shlex.quote(str(self.envfile))}\n"
        proc = subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=self.ws, env=self.env(),
                              capture_output=True, text=True, timeout=timeout, check=False)
        res = Result(block, proc.stdout, proc.stderr, proc.returncode)
        assert proc.returncode == 0, (f"{block.where()} exited {proc.returncode}:\n{block.code}\n"
                                      f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
        return res

    def _start_server(self, block: Block, body: str) -> Result:
        """`sluice serve ...` (the block's last line) runs until the session ends, on a free port."""
        assert self.server is None, f"{block.where()}: one background server per README"
        lines = body.rstrip().splitlines()
        assert lines and lines[-1].lstrip().startswith("sluice serve"), f"{block.where()}: last line must be `sluice serve`"
        lines[-1] = f"exec {lines[-1]} --port {self.port}"
        self.server_log = self.tmp / f"{block.id}.log"
        with self.server_log.open("wb") as log:  # the child keeps its own handle
            self.server = subprocess.Popen(["bash", "-eo", "pipefail", "-c", self._script("\n".join(lines))],
                                           cwd=self.ws, env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert self.server.poll() is None, f"{block.where()}: the server exited:\n{self.log()}"
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200:
                    return Result(block, self.log())
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{block.where()}: not ready within 180 s:\n{self.log()}")

    def log(self) -> str:
        return self.server_log.read_text(errors="replace") if self.server_log else ""

    def close(self) -> None:
        if self.server is not None:
            stop(self.server)
            self.server = None


def walk(session: Session, readme: Path, checks: dict[str, Callable[[Result, Session], None]],
         before: dict[str, Callable[[Session], None]] | None = None) -> None:
    """Run every marked block in README order; after each, its check (`before`: what a reader waits for)."""
    found = blocks(readme)
    assert [b.id for b in found] == list(checks), "each marked block needs a check (in README order)"
    for block in found:
        if before and block.id in before:
            before[block.id](session)
        result = session.run(block)
        try:
            checks[block.id](result, session)
        except Exception as e:
            raise AssertionError(f"{block.where()}: {e}\n--- stdout\n{result.out}\n--- stderr\n{result.err}") from e


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


# --- field tables -------------------------------------------------------------------------------
_TABLE_MARK = re.compile(r"<!--\s*fields:\s*([\w.]+):([\w.]+)\s*-->[ \t]*\n(?:[ \t]*\n)*((?:[ \t]*\|[^\n]*\n?)+)")


def _cells(row: str) -> list[str]:
    parts = re.split(r"(?<!\\)\|", row.strip())
    return [p.strip().replace("\\|", "|") for p in parts[1:-1]]


def field_tables(readme: Path) -> dict[str, list[dict[str, str]]]:
    """'module:name' -> the rows of the table marked for it (header -> cell; first column is 'name').

    A first cell may name several fields (`from`, `to`): each becomes a row. Targets `docs:NAME` are
    tables a test module checks itself (e.g. against a real report)."""
    out: dict[str, list[dict[str, str]]] = {}
    for m in _TABLE_MARK.finditer(readme.read_text(encoding="utf-8")):
        target = f"{m.group(1)}:{m.group(2)}"
        lines = [ln for ln in m.group(3).splitlines() if ln.strip()]
        header = [h.lower() for h in _cells(lines[0])]
        rows = []
        for ln in lines[2:]:
            cells = _cells(ln)
            names = re.findall(r"`([^`]+)`", cells[0]) or [cells[0].strip()]
            for name in names:
                rows.append({**dict(zip(header, cells, strict=False)), "name": name})
        assert target not in out, f"two tables are marked for {target}"
        out[target] = rows
    return out


def resolve(target: str) -> Any:
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def render_default(value: Any) -> str:
    """A default as the README writes it (YAML flow style)."""
    if isinstance(value, Enum):
        value = value.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value else '""'
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {render_default(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple | set):
        return "[" + ", ".join(render_default(v) for v in value) + "]"
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"no README form for a default of type {type(value).__name__}")


def expected_fields(obj: Any) -> dict[str, str | None]:
    """Field name -> its default as the README writes it ('required'), or None where not checked."""
    from pydantic import BaseModel
    from sqlalchemy import Table

    if isinstance(obj, type) and issubclass(obj, BaseModel):
        out: dict[str, str | None] = {}
        for name, f in obj.model_fields.items():
            if f.exclude:
                continue
            if f.is_required():
                out[f.alias or name] = "required"
                continue
            default = f.get_default(call_default_factory=True)
            varies = f.default_factory is not None and default != f.get_default(call_default_factory=True)
            out[f.alias or name] = None if varies or isinstance(default, BaseModel) else render_default(default)
        return out
    if dataclasses.is_dataclass(obj):
        return {f.name: None for f in dataclasses.fields(obj)}
    if isinstance(obj, Table):
        return {c.name: None for c in obj.columns}
    if isinstance(obj, dict | list | tuple | set | frozenset):
        return {str(k): None for k in obj}
    raise TypeError(f"cannot list the fields of {obj!r}")


def check_field_tables(readme: Path, required: list[str]) -> None:
    """Every marked table lists exactly its object's fields, with the code's defaults."""
    tables = {t: rows for t, rows in field_tables(readme).items() if not t.startswith("docs:")}
    missing_tables = [t for t in required if t not in tables]
    assert not missing_tables, f"{readme.name} has no field table for {missing_tables}"
    problems = []
    for target, rows in tables.items():
        want = expected_fields(resolve(target))
        have = [r["name"] for r in rows]
        if sorted(have) != sorted(want) or len(have) != len(set(have)):
            problems.append(f"{target}: undocumented {sorted(set(want) - set(have))}, "
                            f"not in the code {sorted(set(have) - set(want))}")
            continue
        for r in rows:
            expected = want[r["name"]]
            if expected is None or "default" not in r:
                continue
            got = r["default"].strip().strip("`")
            if got != expected:
                problems.append(f"{target}.{r['name']}: README default {got!r}, code default {expected!r}")
    assert not problems, "\n".join(problems)


_TYPER_OWN = {"--help", "--install-completion", "--show-completion"}


def cli_options(app: Any) -> dict[str, set[str]]:
    """'group command' -> the long option names of a Typer app and its sub-apps (not `--no-x` twins)."""
    import typer

    out: dict[str, set[str]] = {}

    def visit(cmd: Any, path: str) -> None:  # click's or typer's vendored click: duck-typed
        opts = {o for p in cmd.params if getattr(p, "param_type_name", "") == "option"
                for o in p.opts if o.startswith("--") and o not in _TYPER_OWN}
        out[path or "(root)"] = opts
        for name, sub in getattr(cmd, "commands", {}).items():
            visit(sub, f"{path} {name}".strip())

    visit(typer.main.get_command(app), "")
    return out


def undocumented_options(readme: Path, app: Any) -> list[str]:
    text = readme.read_text(encoding="utf-8")
    return [f"{cmd} {opt}" for cmd, opts in cli_options(app).items() for opt in sorted(opts)
            if not re.search(re.escape(opt) + r"(?![\w-])", text)]


def json_docs_in(text: str) -> list[Any]:
    """The JSON objects in a command's output that start a line, whatever is printed around them."""
    import json

    dec, docs, i = json.JSONDecoder(), [], 0
    while (m := _JSON_START.search(text, i)) is not None:
        try:
            doc, i = dec.raw_decode(text, m.start())
        except json.JSONDecodeError:
            i = m.start() + 1
            continue
        docs.append(doc)
    return docs


def read_json_docs(text: str) -> list[Any]:
    """Consecutive JSON documents in a command's output (curl prints them with no separator)."""
    import json

    dec, docs, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        doc, i = dec.raw_decode(text, i)
        docs.append(doc)
    return docs
