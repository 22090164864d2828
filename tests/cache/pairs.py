"""The labelled paraphrase / near-miss pairs (tests/cache/data/pairs.txt), split tune / heldout.

Split: within each label, every 5th line starting at offsets 1 and 3 (40%) is held out. The
verifier's rules and the threshold are tuned on `tune` only; `heldout` is reported separately.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PAIRS_FILE = Path(__file__).parent / "data" / "pairs.txt"


@dataclass(frozen=True)
class Pair:
    label: str  # "paraphrase" | "near_miss"
    category: str
    a: str
    b: str
    split: str  # "tune" | "heldout"


def load_pairs(split: str | None = None) -> list[Pair]:
    pairs: list[Pair] = []
    seen = {"P": 0, "N": 0}
    for line in PAIRS_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, category, a, b = line.split("|")
        i = seen[label]
        seen[label] += 1
        pairs.append(Pair("paraphrase" if label == "P" else "near_miss", category, a, b,
                          "heldout" if i % 5 in (1, 3) else "tune"))
    return [p for p in pairs if split is None or p.split == split]
