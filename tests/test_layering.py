"""The dependency direction of the project design notes (DESIGN.md) ("an import may only point down this list"):

1. `gateway` composes everything below; it may import any of them.
2. `evals`, `rag` never import `gateway`.
3. `prompts`, `guardrails` are leaves: no imports of gateway, rag, evals, prompts or guardrails
   other than themselves.
4. `minilm` (the local embedding model loader) is a leaf too: it imports none of the other five.

Every .py module of those packages is parsed (never imported) and every import is collected:
top-level and inside functions, `if TYPE_CHECKING:` blocks, `try:` fallbacks, relative imports
(resolved to absolute names), `importlib.import_module(...)` / `__import__(...)` with a literal
name (or an f-string whose literal prefix already names the package), and "package.module:attr"
strings, the project's convention for lazily imported targets (register_provider, the CLI's
SUBCOMMANDS). Not seen: import_module() of a computed name (rag/__init__.py, evals/__init__.py
look names up in their own `_WHERE` tables, which point only into their own package).

A violation reads `file:line imports X (rule)`.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PACKAGES = ("gateway", "rag", "evals", "prompts", "guardrails", "minilm")
FIRST_PARTY = frozenset(PACKAGES)

# What each package may not import (first-party packages only; third-party imports are not checked).
FORBIDDEN: dict[str, frozenset[str]] = {
    "gateway": frozenset(),
    "evals": frozenset({"gateway"}),
    "rag": frozenset({"gateway"}),
    "prompts": FIRST_PARTY - {"prompts", "minilm"},
    "guardrails": FIRST_PARTY - {"guardrails", "minilm"},
    "minilm": FIRST_PARTY - {"minilm"},
}
RULES: dict[str, str] = {
    "gateway": "gateway may import every package",
    "evals": "evals never imports gateway",
    "rag": "rag never imports gateway",
    "prompts": "prompts is a leaf: none of gateway, rag, evals, guardrails",
    "guardrails": "guardrails is a leaf: none of gateway, rag, evals, prompts",
    "minilm": "minilm is a leaf: none of gateway, rag, evals, prompts, guardrails",
}

# Known violations of today's code, as (file, imported module) -> why it exists.
# This list must only shrink: an entry is removed when the code is fixed, and the test fails
# if an entry no longer matches any import (so it cannot go stale), as it fails on any new violation.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}

_LAZY_TARGET = re.compile(r"^([A-Za-z_]\w*)(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class Imported:
    file: str  # relative to the repository root, with "/" separators
    line: int
    module: str  # absolute dotted name ("gateway.config"); an f-string's prefix ends in "*"
    how: str  # "import" | "from" | "import_module" | "lazy target"

    @property
    def top(self) -> str:
        return self.module.split(".", 1)[0].rstrip("*")


@dataclass(frozen=True)
class Violation:
    imported: Imported
    rule: str

    def __str__(self) -> str:
        i = self.imported
        via = "" if i.how in ("import", "from") else f" via {i.how}"
        return f"{i.file}:{i.line} imports {i.module}{via} ({self.rule})"


def module_name(relpath: str) -> str:
    """'rag/x.py' -> 'rag.x'; 'rag/__init__.py' -> 'rag'."""
    parts = relpath.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def resolve_relative(relpath: str, module: str | None, level: int) -> str:
    """The absolute name of `from <'.' * level><module> import ...` written in `relpath`."""
    if level == 0:
        assert module is not None
        return module
    package = module_name(relpath).split(".")
    if not relpath.endswith("/__init__.py"):
        package = package[:-1]  # a module's package is its folder
    if level - 1 >= len(package):
        return "." * level + (module or "")  # beyond the top-level package: Python refuses it too
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _literal(node: ast.expr) -> tuple[str, bool] | None:
    """(text, complete) for a string literal, or an f-string's literal prefix."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value, True
    if isinstance(node, ast.JoinedStr) and node.values:
        head = node.values[0]
        if isinstance(head, ast.Constant) and isinstance(head.value, str):
            return head.value, False
    return None


def _import_module_target(call: ast.Call, relpath: str) -> str | None:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name not in ("import_module", "__import__") or not call.args:
        return None
    lit = _literal(call.args[0])
    if lit is None:
        return None
    text, complete = lit
    if text.startswith("."):  # import_module(".x", package="pkg.sub")
        pkg_arg = call.args[1] if len(call.args) > 1 else next(
            (k.value for k in call.keywords if k.arg == "package"), None)
        pkg = _literal(pkg_arg) if pkg_arg is not None else None
        if pkg is None or not pkg[1] or not complete:
            return None
        level = len(text) - len(text.lstrip("."))
        return resolve_relative(pkg[0].replace(".", "/") + "/__init__.py", text[level:] or None, level)
    if complete:
        return text
    if "." in text:  # f"detect_secrets.plugins.{x}": the package is already named
        return text + "*"
    return None


def collect_imports(source: str, relpath: str) -> list[Imported]:
    """Every import `source` (the text of `relpath`) makes, wherever it is in the module, by line."""
    return sorted(_walk(ast.parse(source, filename=relpath), relpath), key=lambda i: i.line)


def _walk(tree: ast.AST, relpath: str) -> Iterator[Imported]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Imported(relpath, node.lineno, alias.name, "import")
        elif isinstance(node, ast.ImportFrom):
            yield Imported(relpath, node.lineno, resolve_relative(relpath, node.module, node.level), "from")
        elif isinstance(node, ast.Call):
            target = _import_module_target(node, relpath)
            if target is not None:
                yield Imported(relpath, node.lineno, target, "import_module")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            m = _LAZY_TARGET.match(node.value)
            if m is not None and m.group(1) in FIRST_PARTY:
                yield Imported(relpath, node.lineno, node.value.partition(":")[0], "lazy target")


def violations_in(source: str, relpath: str) -> list[Violation]:
    package = relpath.split("/", 1)[0]
    forbidden = FORBIDDEN[package]
    found: list[Violation] = []
    for i in collect_imports(source, relpath):
        if i.module.startswith("."):  # unresolvable, and it would name a package outside this one
            found.append(Violation(i, "relative import beyond the top-level package"))
        elif i.top in forbidden:
            found.append(Violation(i, RULES[package]))
    return found


def modules_of(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def package_violations(package: str) -> list[Violation]:
    found: list[Violation] = []
    for path in modules_of(package):
        rel = path.relative_to(ROOT).as_posix()
        found += violations_in(path.read_text(encoding="utf-8"), rel)
    return found


def split_known(found: list[Violation], known: dict[tuple[str, str], str],
                package: str) -> tuple[list[Violation], list[tuple[str, str]]]:
    """(violations not allow-listed, allow-list entries of `package` that no longer occur)."""
    seen = {(v.imported.file, v.imported.module) for v in found}
    unexpected = [v for v in found if (v.imported.file, v.imported.module) not in known]
    stale = [k for k in known if k[0].split("/", 1)[0] == package and k not in seen]
    return unexpected, stale


# ---- the rule, per package ------------------------------------------------------------------------

@pytest.mark.parametrize("package", PACKAGES)
def test_package_respects_the_dependency_direction(package: str) -> None:
    assert (ROOT / package).is_dir(), f"{package}/ is missing from the repository"
    assert modules_of(package), f"no .py modules found under {package}/"
    unexpected, stale = split_known(package_violations(package), KNOWN_VIOLATIONS, package)
    problems = [str(v) for v in unexpected]
    problems += [f"{f} no longer imports {m}: remove it from KNOWN_VIOLATIONS" for f, m in stale]
    if problems:
        print("\n".join(problems))
    assert not problems, "layering (DESIGN.md, dependency direction):\n" + "\n".join(problems)


def test_every_distributed_package_has_a_rule() -> None:
    """A new top-level package in pyproject's package list must get a rule here."""
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    tops = {pattern.rstrip("*").rstrip(".") for pattern in find["include"]}
    assert tops <= set(PACKAGES), f"packages without a layering rule: {sorted(tops - set(PACKAGES))}"
    assert set(PACKAGES) <= tops, f"layered packages the wheel does not ship: {sorted(set(PACKAGES) - tops)}"
    assert set(FORBIDDEN) == set(RULES) == set(PACKAGES)


# ---- the checker itself can fail ------------------------------------------------------------------

def _found(source: str, relpath: str) -> list[str]:
    return [str(v) for v in violations_in(source, relpath)]


def test_checker_reports_an_import_inside_a_function() -> None:
    source = "def load():\n    from gateway.config import Config\n    return Config\n"
    assert _found(source, "rag/x.py") == ["rag/x.py:2 imports gateway.config (rag never imports gateway)"]


def test_checker_reports_type_checking_try_and_plain_imports() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from gateway.runtime import Gateway\n"
        "try:\n"
        "    import gateway.errors as errors\n"
        "except ImportError:\n"
        "    errors = None\n"
        "import json, rag.store\n"
    )
    assert _found(source, "evals/x.py") == [
        "evals/x.py:3 imports gateway.runtime (evals never imports gateway)",
        "evals/x.py:5 imports gateway.errors (evals never imports gateway)",
    ]
    assert _found(source, "prompts/sub/x.py") == [
        "prompts/sub/x.py:3 imports gateway.runtime (prompts is a leaf: none of gateway, rag, evals, guardrails)",
        "prompts/sub/x.py:5 imports gateway.errors (prompts is a leaf: none of gateway, rag, evals, guardrails)",
        "prompts/sub/x.py:8 imports rag.store (prompts is a leaf: none of gateway, rag, evals, guardrails)",
    ]


def test_checker_reports_import_module_and_lazy_targets() -> None:
    source = (
        "import importlib\n"
        "from importlib import import_module\n"
        "a = importlib.import_module('gateway.providers.minilm')\n"
        "b = import_module(f'prompts.render{1}')\n"
        "c = __import__('evals')\n"
        "d = import_module(name)\n"  # computed: not resolvable, not reported
        "TARGETS = {'x': 'rag.pipeline:Pipeline', 'y': 'json:dumps', 'z': 'not a target: rag'}\n"
    )
    leaf = f"({RULES['guardrails']})"
    assert _found(source, "guardrails/x.py") == [
        f"guardrails/x.py:3 imports gateway.providers.minilm via import_module {leaf}",
        f"guardrails/x.py:4 imports prompts.render* via import_module {leaf}",
        f"guardrails/x.py:5 imports evals via import_module {leaf}",
        f"guardrails/x.py:7 imports rag.pipeline via lazy target {leaf}",
    ]


def test_checker_allows_what_points_down() -> None:
    assert _found("import rag, evals, prompts, guardrails\nfrom minilm import x\n", "gateway/x.py") == []
    assert _found("from prompts import render\nfrom rag.store import ChromaStore\n", "evals/x.py") == []
    assert _found("import minilm\nfrom guardrails.types import Verdict\n", "guardrails/x.py") == []
    assert _found("import guardrails\n", "minilm/x.py") == [
        "minilm/x.py:1 imports guardrails (minilm is a leaf: none of gateway, rag, evals, prompts, guardrails)"]


def test_relative_imports_resolve_to_absolute_names() -> None:
    assert resolve_relative("guardrails/scanners/pii.py", "types", 2) == "guardrails.types"
    assert resolve_relative("guardrails/scanners/pii.py", None, 1) == "guardrails.scanners"
    assert resolve_relative("guardrails/scanners/__init__.py", "pii", 1) == "guardrails.scanners.pii"
    assert resolve_relative("rag/__init__.py", "store", 1) == "rag.store"
    assert resolve_relative("rag/x.py", "gateway", 2) == "..gateway"  # beyond the top: never "gateway"
    assert _found("def f():\n    from ..gateway import config\n", "rag/x.py") == [
        "rag/x.py:2 imports ..gateway (relative import beyond the top-level package)"]
    source = "from ..types import Verdict\nfrom . import registry\n"
    assert [i.module for i in collect_imports(source, "guardrails/scanners/x.py")] == [
        "guardrails.types", "guardrails.scanners"]
    imported = list(collect_imports("import importlib\nm = importlib.import_module('.cfg', 'rag')\n", "rag/x.py"))
    assert [i.module for i in imported if i.how == "import_module"] == ["rag.cfg"]


def test_the_allow_list_cannot_go_stale() -> None:
    found = violations_in("from gateway import errors\n", "rag/x.py")
    known = {("rag/x.py", "gateway"): "why", ("rag/y.py", "gateway.config"): "fixed since"}
    unexpected, stale = split_known(found, known, "rag")
    assert unexpected == [] and stale == [("rag/y.py", "gateway.config")]
    unexpected, stale = split_known(found, {}, "rag")
    assert [str(v) for v in unexpected] == ["rag/x.py:1 imports gateway (rag never imports gateway)"] and stale == []


def test_the_collector_sees_real_imports() -> None:
    """A collector that saw nothing would pass every package: check it on known code."""
    rel = "gateway/composition.py"
    modules = {i.module for i in collect_imports((ROOT / rel).read_text(encoding="utf-8"), rel)}
    assert {"gateway.config", "gateway.runtime", "prompts"} <= modules  # top level, TYPE_CHECKING, in a function
    rel = "gateway/providers/base.py"
    imported = list(collect_imports((ROOT / rel).read_text(encoding="utf-8"), rel))
    assert any(i.how == "lazy target" and i.module == "gateway.providers.openai_compat" for i in imported)
