"""Evaluation harness: suites, datasets, assertions, runner, cassettes, cache, reports and attestations.

Talks to models only through an OpenAI-compatible endpoint (the `openai` SDK); never imports gateway.
Names are loaded on first use (the openai SDK takes seconds to import), so `sluice --help` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "CassetteMiss": "evals.errors", "EvalError": "evals.errors", "ModelCallError": "evals.errors",
    "SuiteError": "evals.errors", "EvalClient": "evals.client", "Reply": "evals.client",
    "RunResult": "evals.results", "TrialResult": "evals.results", "run_suite": "evals.runner",
    "RunOptions": "evals.session", "run_suite_file": "evals.session", "Suite": "evals.suite",
    "load_suite": "evals.suite", "suite_from_dict": "evals.suite",
}
__all__ = [
    "CassetteMiss", "EvalClient", "EvalError", "ModelCallError", "Reply", "RunOptions", "RunResult", "Suite",
    "SuiteError", "TrialResult", "load_suite", "run_suite", "run_suite_file", "suite_from_dict",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'evals' has no attribute {name!r}")
