"""Compare a run with a baseline run (its JSON report): regressions and improvements per case and metric."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from evals.errors import SuiteError

EPS = 1e-9


@dataclass(slots=True)
class Change:
    kind: str  # "case" | "metric"
    name: str
    before: Any
    after: Any


@dataclass(slots=True)
class Comparison:
    baseline_label: str
    regressions: list[Change] = field(default_factory=list)
    improvements: list[Change] = field(default_factory=list)
    new_cases: list[str] = field(default_factory=list)
    removed_cases: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # why the two runs may not be comparable


def load_baseline(path: Path) -> dict[str, Any]:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as e:
        raise SuiteError(f"baseline {path} is not a readable JSON report: {e}") from e
    if data.get("format") != "sluice-eval-run/1":
        raise SuiteError(f"baseline {path} is not a `sluice eval run --json` report")
    return data  # type: ignore[no-any-return]


def _case_rates(run: dict[str, Any]) -> dict[str, float]:
    return {c["id"]: c["passes"] / c["trials"] for c in run["cases"] if c["trials"]}


def compare(run: dict[str, Any], baseline: dict[str, Any], label: str = "baseline") -> Comparison:
    """Both arguments are run dicts (RunResult.to_dict() / a JSON report)."""
    out = Comparison(label)
    now, before = _case_rates(run), _case_rates(baseline)
    for cid in sorted(now.keys() & before.keys()):
        if now[cid] < before[cid] - EPS:
            out.regressions.append(Change("case", cid, before[cid], now[cid]))
        elif now[cid] > before[cid] + EPS:
            out.improvements.append(Change("case", cid, before[cid], now[cid]))
    out.new_cases = sorted(now.keys() - before.keys())
    out.removed_cases = sorted(before.keys() - now.keys())
    for key, what in (("suite_hash", "suite file"), ("dataset_hash", "dataset")):
        if run.get(key) and baseline.get(key) and run[key] != baseline[key]:
            out.warnings.append(f"the {what} changed since the baseline ({baseline[key][7:19]} -> {run[key][7:19]}): "
                                "scores may not be comparable")
    lower_is_better = {"latency", "cost"}
    # a replayed latency is the recording's, not this run's: comparing it is noise
    noisy = {"latency"} if "replay" in (run.get("mode"), baseline.get("mode")) else set()
    for name in sorted((run["scores"].keys() & baseline["scores"].keys()) - noisy):
        a, b = baseline["scores"][name], run["scores"][name]
        if a is None or b is None or abs(a - b) <= EPS:
            continue
        worse = b > a if name in lower_is_better else b < a
        (out.regressions if worse else out.improvements).append(Change("metric", name, a, b))
    return out
