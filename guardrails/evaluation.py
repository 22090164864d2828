"""Measure scanners on labelled data: precision, recall, F1, FPR with Wilson 95% intervals, and
latency per KB. Used by `sluice guardrails eval`, the tests and bench/guardrails_bench.py."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from guardrails.scanners.base import Scanner
from guardrails.types import ScanContext


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion k/n (scipy's); (0, 1) when n == 0."""
    if n == 0:
        return (0.0, 1.0)
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return (max(0.0, float(ci.low)), min(1.0, float(ci.high)))


@dataclass(slots=True)
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def fpr(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0

    def row(self) -> dict[str, object]:
        return {
            "n": self.tp + self.fp + self.fn + self.tn,
            "precision": round(self.precision, 4), "precision_ci": _r(wilson(self.tp, self.tp + self.fp)),
            "recall": round(self.recall, 4), "recall_ci": _r(wilson(self.tp, self.tp + self.fn)),
            "f1": round(self.f1, 4),
            "fpr": round(self.fpr, 4), "fpr_ci": _r(wilson(self.fp, self.fp + self.tn)),
            "tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn,
        }


def _r(ci: tuple[float, float]) -> list[float]:
    return [round(ci[0], 4), round(ci[1], 4)]


@dataclass(slots=True)
class Latency:
    ms_per_kb: list[float] = field(default_factory=list)

    def add(self, ms: float, chars: int) -> None:
        self.ms_per_kb.append(ms / max(chars, 1) * 1024)

    def row(self) -> dict[str, float]:
        if not self.ms_per_kb:
            return {"p50_ms_per_kb": 0.0, "p99_ms_per_kb": 0.0}
        xs = sorted(self.ms_per_kb)
        return {"p50_ms_per_kb": round(statistics.median(xs), 3),
                "p99_ms_per_kb": round(xs[min(len(xs) - 1, int(0.99 * len(xs)))], 3)}


def classify(predict: Callable[[str], bool], items: Sequence[tuple[str, int]]) -> tuple[Counts, Latency]:
    c, lat = Counts(), Latency()
    for text, label in items:
        t0 = time.perf_counter()
        pred = predict(text)
        lat.add((time.perf_counter() - t0) * 1000, len(text.encode()))
        if pred and label:
            c.tp += 1
        elif pred:
            c.fp += 1
        elif label:
            c.fn += 1
        else:
            c.tn += 1
    return c, lat


def eval_injection(scanner: Scanner, data_dir: Path | None = None) -> dict[str, dict[str, object]]:
    """Held-out splits of the fixed protocol (see guardrails/injection/data.py)."""
    from guardrails.injection.data import test_splits

    ctx = ScanContext()
    out: dict[str, dict[str, object]] = {}
    for name, rows in test_splits(data_dir).items():
        c, lat = classify(lambda t: bool(scanner.scan(t, ctx)), [(e.text, e.label) for e in rows])
        out[name] = {**c.row(), **lat.row()}
    return out


def eval_labelled_jsonl(scanner: Scanner, path: Path) -> dict[str, object]:
    """A JSONL file of {"text", "label"} where label is truthy/"injection"/1 for positives."""
    ctx = ScanContext()
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            lab = r.get("label")
            items.append((r["text"], int(lab in (1, True, "injection", "jailbreak", "positive", "1"))))
    c, lat = classify(lambda t: bool(scanner.scan(t, ctx)), items)
    return {**c.row(), **lat.row()}


def eval_pii(scanner: Scanner, path: Path, *, claimed: Sequence[str] | None = None) -> dict[str, dict[str, object]]:
    """Span-level scores per entity on presidio-research's synthetic format, strict (exact offsets)
    and overlap (any overlap with a gold span of the same type)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    ents = list(claimed or getattr(scanner, "entities", []))
    strict = {e: Counts() for e in ents}
    overlap = {e: Counts() for e in ents}
    lat = Latency()
    ctx = ScanContext()
    for d in data:
        text = d["full_text"]
        gold = [(s["entity_type"], s["start_position"], s["end_position"]) for s in d["spans"] if s["entity_type"] in strict]
        t0 = time.perf_counter()
        pred = [(f.rule, f.start, f.end) for f in scanner.scan(text, ctx) if f.rule in strict]
        lat.add((time.perf_counter() - t0) * 1000, len(text.encode()))
        for g in gold:
            strict[g[0]].tp += g in pred
            strict[g[0]].fn += g not in pred
            hit = any(p[0] == g[0] and p[1] < g[2] and g[1] < p[2] for p in pred)
            overlap[g[0]].tp += hit
            overlap[g[0]].fn += not hit
        for p in pred:
            strict[p[0]].fp += p not in gold
            overlap[p[0]].fp += not any(p[0] == g[0] and p[1] < g[2] and g[1] < p[2] for g in gold)
    out: dict[str, dict[str, object]] = {}
    for e in ents:
        out[e] = {"strict": strict[e].row(), "overlap": overlap[e].row()}
    micro = Counts(*(sum(getattr(strict[e], a) for e in ents) for a in ("tp", "fp", "fn", "tn")))
    out["ALL (micro, strict)"] = {"strict": micro.row(), "overlap": {}}
    out["_latency"] = lat.row()  # type: ignore[assignment]
    return out
