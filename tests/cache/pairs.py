"""The labelled paraphrase / near-miss pairs (tests/cache/data/), split tune / held-out.

pairs.txt: within each label, every 5th line starting at offsets 1 and 3 (40%) is held out. The
verifier's rules were tuned on `tune` only. `heldout` was first evaluated with the rules final;
seeing it moved the default threshold from 0.825 to 0.85 (see bench/cache_bench.py), so a third
split, `fresh` (data/pairs_fresh.txt), was written afterwards and evaluated once at 0.85. Its
misses then informed two generic rule changes (unit rules), so `fresh2` (data/pairs_fresh2.txt)
was written after the rules were final and evaluated once.

pairs_roles.txt (issue #20: near-spelled names, swapped roles) is split per pair by a hash of its
text: `roles_heldout` when sha256(first|second)'s first byte is odd, else `roles_tune`. The
protocol (written before the pairs were scored) is tests/cache/data/README.md.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parent / "data"
PAIRS_FILE = DATA / "pairs.txt"
FRESH_FILE = DATA / "pairs_fresh.txt"
FRESH2_FILE = DATA / "pairs_fresh2.txt"
ROLES_FILE = DATA / "pairs_roles.txt"

OLD_SPLITS = ("tune", "heldout", "fresh", "fresh2")
TUNE_SPLITS = ("tune", "roles_tune")
HELDOUT_SPLITS = ("heldout", "fresh", "fresh2", "roles_heldout")


@dataclass(frozen=True)
class Pair:
    label: str  # "paraphrase" | "near_miss"
    category: str
    a: str
    b: str
    split: str  # one of OLD_SPLITS, "roles_tune", "roles_heldout"


def hash_split(a: str, b: str) -> str:
    """The fixed split of pairs_roles.txt: never change it once the file has been scored."""
    return "roles_heldout" if hashlib.sha256(f"{a}|{b}".encode()).digest()[0] % 2 else "roles_tune"


def _split(path: Path, i: int, a: str, b: str) -> str:
    if path == ROLES_FILE:
        return hash_split(a, b)
    return {FRESH_FILE: "fresh", FRESH2_FILE: "fresh2"}.get(path) or ("heldout" if i % 5 in (1, 3) else "tune")


def load_pairs(split: str | None = None, *, splits: tuple[str, ...] | None = None) -> list[Pair]:
    """All pairs, or those of one `split`, or of any of `splits`."""
    pairs: list[Pair] = []
    for path in (PAIRS_FILE, FRESH_FILE, FRESH2_FILE, ROLES_FILE):
        seen = {"P": 0, "N": 0}
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            label, category, a, b = line.split("|")
            i = seen[label]
            seen[label] += 1
            pairs.append(Pair("paraphrase" if label == "P" else "near_miss", category, a, b, _split(path, i, a, b)))
    want = splits if splits is not None else (split,) if split is not None else None
    return [p for p in pairs if want is None or p.split in want]


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score 95% interval for k successes of n; (0, 1) when n == 0."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return (max(0.0, mid - half), min(1.0, mid + half))


@dataclass(frozen=True)
class Rate:
    served: int
    total: int

    @property
    def rate(self) -> float:
        return self.served / self.total if self.total else 0.0

    def __str__(self) -> str:
        lo, hi = wilson(self.served, self.total)
        return f"{self.served}/{self.total} = {self.rate:5.1%} [{lo:5.1%}, {hi:5.1%}]"


def served_rates(pairs: list[Pair], served: list[bool], by: str = "category") -> dict[tuple[str, str], Rate]:
    """(label, group) -> pairs served; group is a pair's category or split, or "all"."""
    out: dict[tuple[str, str], list[int]] = {}
    for p, s in zip(pairs, served):
        for g in (getattr(p, by), "all"):
            c = out.setdefault((p.label, g), [0, 0])
            c[0] += s
            c[1] += 1
    return {k: Rate(v[0], v[1]) for k, v in sorted(out.items())}
