"""Captured datasets on disk: one JSONL file per dataset, each line an evals case
(`evals/dataset.py` Case: id, input, vars, metadata), so `sluice eval run SUITE --dataset
captured:NAME` reads it as it is.

A dataset is named after the registered prompt the request used (`prompt-<name>`), else the model
group (`model-<group>`). Appends take an exclusive lock on the file; pruning (retention and the
per-dataset cap) rewrites it under the same lock.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
DEFAULT_DIR = ".sluice/captured"


def dataset_name(kind: str, name: str) -> str:
    return f"{kind}-{_SAFE.sub('_', name)[:120]}"


def dataset_file(root: Path, name: str) -> Path:
    if not name or _SAFE.search(name) or name.startswith("."):
        raise ValueError(f"dataset names use letters, digits, '.', '_' and '-' only, got {name!r}")
    return root / f"{name}.jsonl"


def append(root: Path, name: str, cases: list[dict[str, Any]]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(dataset_file(root, name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, b"".join(orjson.dumps(c) + b"\n" for c in cases))
    finally:
        os.close(fd)


def read(root: Path, name: str) -> list[dict[str, Any]]:
    path = dataset_file(root, name)
    if not path.exists():
        raise FileNotFoundError(f"no captured dataset {name!r} in {root}")
    out = []
    for line in path.read_bytes().splitlines():
        if line.strip():
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue  # a torn last line after a crash: skipped, never fatal
    return out


def names(root: Path) -> Iterator[tuple[str, Path]]:
    if root.is_dir():
        for p in sorted(root.glob("*.jsonl")):
            yield p.stem, p


def prune(root: Path, now: float, retention_days: float, max_cases: int) -> int:
    """Drop cases older than the retention and beyond the cap (oldest first); returns how many went."""
    dropped = 0
    for name, path in names(root):
        fd = os.open(path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            cases = read(root, name)
            keep = [c for c in cases if now - float(c.get("metadata", {}).get("captured_ts", now)) <= retention_days * 86400]
            keep = keep[-max_cases:]
            if len(keep) != len(cases):
                dropped += len(cases) - len(keep)
                tmp = path.with_suffix(".jsonl.tmp")
                tmp.write_bytes(b"".join(orjson.dumps(c) + b"\n" for c in keep))
                os.replace(tmp, path)
        finally:
            os.close(fd)
    return dropped
