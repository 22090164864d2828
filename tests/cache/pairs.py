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
