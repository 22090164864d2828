"""Turn a prompt suite's run into an attestation in the prompt registry (what the gate reads).

The attestation names the suite and dataset by path (relative to the registry folder, so it means
the same on every machine) and hash, the cassette a recording wrote or a replay read, and is
signed by the registry's journal with $SLUICE_ATTEST_KEY.
"""

from __future__ import annotations

import os
from pathlib import Path

from evals.dataset import dataset_hash, dataset_path
from evals.errors import SuiteError
from evals.results import RunResult
from evals.suite import load_suite
from prompts import Attestation, PromptError, PromptRegistry, record_attestation
from prompts.signing import no_key_message


def _relative(path: Path, registry_dir: Path) -> str:
    return Path(os.path.relpath(path.resolve(), registry_dir.resolve())).as_posix()


def suite_fingerprint(path: Path) -> tuple[str, str]:
    """(suite hash, dataset hash) of the suite file as it is now: what the gate compares with."""
    suite = load_suite(path)
    return suite.source_hash, dataset_hash(suite.cases)


def attestation_from(result: RunResult, registry_dir: str | Path, *, actor: str | None = None,
                     actor_claimed: bool = True) -> Attestation:
    target = result.target
    if target.get("kind") != "prompt":
        raise SuiteError(f"suite {result.suite} targets a {target.get('kind')}, not a prompt: nothing to attest")
    if result.status == "error":
        raise SuiteError(f"suite {result.suite} could not run; no attestation recorded: {result.error}")
    registry_dir = Path(registry_dir)
    suite_file = Path(result.suite_path) if result.suite_path else None
    data_file = None
    if suite_file is not None:
        source = load_suite(suite_file, allow_outside_dataset=True).spec.dataset
        if isinstance(source, str):
            data_file = _relative(dataset_path(source, suite_file.parent, allow_outside=True), registry_dir)
    return Attestation(
        prompt=target["prompt_name"], version=target["prompt_version"], content_hash=target["content_hash"],
        suite=result.suite, suite_file=suite_file.name if suite_file else None,
        suite_path=_relative(suite_file, registry_dir) if suite_file else None,
        suite_hash=result.suite_hash, dataset_hash=result.dataset_hash, dataset_path=data_file,
        cassette_hash=result.stats.get("cassette_hash"),
        passed=result.passed, scores={k: round(v, 6) for k, v in result.scores.items()},
        thresholds={t.metric: {"min": t.min, "max": t.max} for t in result.thresholds},
        failures=result.failing_cases(limit=20), mode=result.mode, time=result.started + result.duration_s,
        git_commit=result.git_commit, actor=actor, actor_claimed=actor_claimed,
    )


def attest(result: RunResult, registry_dir: str | Path, *, actor: str | None = None) -> Attestation:
    try:
        registry = PromptRegistry(registry_dir)
    except ValueError as e:  # a key too short to sign with
        raise SuiteError(str(e)) from e
    if registry.signer is None:
        raise SuiteError(no_key_message() + "; without it the gate cannot trust the run")
    try:
        return record_attestation(registry, attestation_from(result, registry_dir, actor=actor))
    except PromptError as e:  # e.g. a rewritten journal: nothing is appended to it
        raise SuiteError(e.message) from e
