"""Assertion types, registered by name (`register`); importing this package registers the built-ins."""

from evals.assertions import limits, model_checks, ragas_checks, text  # noqa: F401  (registration)
from evals.assertions.base import CHECKS, AssertionResult, CheckContext, evaluate, register, validate_spec

__all__ = ["CHECKS", "AssertionResult", "CheckContext", "evaluate", "register", "validate_spec"]
