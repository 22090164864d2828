"""Evaluation harness: suites, datasets, assertions, runner, cassettes, cache, reports and attestations.

Talks to models only through an OpenAI-compatible endpoint (the `openai` SDK); never imports gateway.
"""

from evals.client import EvalClient, Reply
from evals.errors import CassetteMiss, EvalError, ModelCallError, SuiteError
from evals.results import RunResult, TrialResult
from evals.runner import run_suite
from evals.session import RunOptions, run_suite_file
from evals.suite import Suite, load_suite, suite_from_dict

__all__ = [
    "CassetteMiss", "EvalClient", "EvalError", "ModelCallError", "Reply", "RunOptions", "RunResult", "Suite",
    "SuiteError", "TrialResult", "load_suite", "run_suite", "run_suite_file", "suite_from_dict",
]
