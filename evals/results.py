"""A run's results as plain data: what every report (JSON, JUnit, Markdown, HTML, terminal) reads."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from evals.assertions.base import AssertionResult


@dataclass(slots=True)
class TrialResult:
    case_id: str
    repeat: int
    passed: bool
    score: float | None
    output: str = ""
    latency_ms: float | None = None
    cost_usd: float | None = None
    source: str = "model"
    error: str | None = None
    assertions: list[AssertionResult] = field(default_factory=list)

    def failure_reasons(self) -> list[str]:
        if self.error:
            return [self.error]
        return [f"{a.name}: {a.reason}" for a in self.assertions if not a.passed]

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("case_id", "repeat", "passed", "score", "output", "latency_ms",
                                           "cost_usd", "source", "error")}
        d["assertions"] = [a.to_dict() for a in self.assertions]
        return d


@dataclass(slots=True)
class ThresholdResult:
    metric: str
    value: float | None
    min: float | None
    max: float | None
    passed: bool


@dataclass(slots=True)
class RunResult:
    suite: str
    suite_path: str | None
    suite_hash: str
    dataset_hash: str
    target: dict[str, Any]
    mode: str
    started: float
    duration_s: float
    repeats: int
    trials: list[TrialResult]
    cases: list[dict[str, Any]]  # per case: id, trials, passes, pass_at_k, pass_hat_k
    metrics: dict[str, dict[str, Any]]  # per metric: mean, pass_rate, n
    scores: dict[str, float]  # what thresholds are checked against
    pass_rate_ci: tuple[float, float]
    thresholds: list[ThresholdResult]
    status: str  # "passed" | "failed" | "error"
    error: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    git_commit: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def exit_code(self) -> int:
        return {"passed": 0, "failed": 1}.get(self.status, 2)

    def failing_cases(self, limit: int | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for t in self.trials:
            if not t.passed:
                out.append({"case": t.case_id, "repeat": t.repeat, "reasons": t.failure_reasons()})
        return out[:limit] if limit is not None else out

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("suite", "suite_path", "suite_hash", "dataset_hash", "target", "mode",
                                           "started", "duration_s", "repeats", "cases", "metrics", "scores",
                                           "status", "error", "stats", "git_commit")}
        d["format"] = "sluice-eval-run/1"
        d["pass_rate_ci"] = list(self.pass_rate_ci)
        d["thresholds"] = [asdict(t) for t in self.thresholds]
        d["trials"] = [t.to_dict() for t in self.trials]
        return d
