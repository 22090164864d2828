"""Errors of the eval harness.

    EvalError
    ├── SuiteError        the suite could not run (bad file, missing dataset, unknown metric): exit 2
    │   └── CassetteMiss  --replay met a request the cassette does not hold: re-record with --record
    └── ModelCallError    one model call failed after retries (the trial fails, the suite goes on)
"""

from __future__ import annotations


class EvalError(Exception):
    pass


class SuiteError(EvalError):
    pass


class CassetteMiss(SuiteError):
    pass


class ModelCallError(EvalError):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
