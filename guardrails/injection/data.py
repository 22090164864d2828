"""Loaders for the injection datasets under the issue's fixed protocol.

Train only on: jackhhao_train.csv, Gandalf lines 1-777 (its upstream train split) and the deepset
rows with int(sha256(text).hexdigest(), 16) % 10 < 7. Test on jackhhao_test.csv, Gandalf lines
889-1000 and the other deepset rows. Label 1 = injection/jailbreak, 0 = benign.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from guardrails.datasets import dataset_path


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: int  # 1 = injection, 0 = benign
    source: str  # "jackhhao" | "gandalf" | "deepset"


def deepset_is_train(text: str) -> bool:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % 10 < 7


def _jackhhao(path: Path) -> list[Example]:
    with path.open(newline="", encoding="utf-8") as f:
        return [Example(r["prompt"], int(r["type"] == "jailbreak"), "jackhhao") for r in csv.DictReader(f)]


def _jsonl(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _deepset(data_dir: Path) -> list[Example]:
    rows = _jsonl(data_dir / "deepset_attacks.jsonl") + _jsonl(data_dir / "deepset_benign.jsonl")
    return [Example(r["text"], int(r["label"] == "injection"), "deepset") for r in rows]


def _gandalf(data_dir: Path, first: int, last: int) -> list[Example]:
    """Lines first..last, 1-based inclusive, as the dataset README numbers them."""
    rows = _jsonl(data_dir / "gandalf_attacks.jsonl")
    return [Example(r["text"], 1, "gandalf") for r in rows[first - 1 : last]]


def train_split(data_dir: Path | None = None) -> list[Example]:
    d = data_dir or dataset_path("injection")
    deepset = [e for e in _deepset(d) if deepset_is_train(e.text)]
    return _jackhhao(d / "jackhhao_train.csv") + _gandalf(d, 1, 777) + deepset


def test_splits(data_dir: Path | None = None) -> dict[str, list[Example]]:
    d = data_dir or dataset_path("injection")
    return {
        "jackhhao": _jackhhao(d / "jackhhao_test.csv"),
        "gandalf": _gandalf(d, 889, 1000),
        "deepset": [e for e in _deepset(d) if not deepset_is_train(e.text)],
    }
