"""Turn a prompt suite's run into an attestation in the prompt registry (what the gate reads)."""

from __future__ import annotations

from pathlib import Path

from evals.errors import SuiteError
from evals.results import RunResult
from prompts import Attestation, PromptRegistry, record_attestation


def attestation_from(result: RunResult, *, actor: str | None = None) -> Attestation:
    target = result.target
    if target.get("kind") != "prompt":
        raise SuiteError(f"suite {result.suite} targets a {target.get('kind')}, not a prompt: nothing to attest")
    if result.status == "error":
        raise SuiteError(f"suite {result.suite} could not run; no attestation recorded: {result.error}")
    return Attestation(
        prompt=target["prompt_name"], version=target["prompt_version"], content_hash=target["content_hash"],
        suite=result.suite, suite_file=Path(result.suite_path).name if result.suite_path else None,
        suite_hash=result.suite_hash, dataset_hash=result.dataset_hash,
        passed=result.passed, scores={k: round(v, 6) for k, v in result.scores.items()},
        thresholds={t.metric: {"min": t.min, "max": t.max} for t in result.thresholds},
        failures=result.failing_cases(limit=20), mode=result.mode, time=result.started + result.duration_s,
        git_commit=result.git_commit, actor=actor,
    )


def attest(result: RunResult, registry_dir: str | Path, *, actor: str | None = None) -> Attestation:
    return record_attestation(PromptRegistry(registry_dir), attestation_from(result, actor=actor))
