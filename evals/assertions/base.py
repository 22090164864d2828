"""Assertion plumbing: a registry of check functions by type name, and what each check sees."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evals.dataset import AssertionSpec, Case
from evals.errors import SuiteError

if TYPE_CHECKING:
    from evals.client import EvalClient, Reply
    from evals.suite import SuiteSpec


@dataclass(slots=True)
class AssertionResult:
    name: str
    type: str
    passed: bool
    score: float | None = None
    reason: str = ""
    threshold: float | None = None
    weight: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "passed": self.passed, "score": self.score,
                "reason": self.reason, "threshold": self.threshold, "weight": self.weight}


@dataclass(slots=True)
class CheckContext:
    case: Case
    output: str
    reply: Reply
    client: EvalClient
    suite: SuiteSpec
    user_input: str | None = None  # the rendered user message, for relevance-style metrics
    vars: dict[str, Any] = field(default_factory=dict)


Check = Callable[[AssertionSpec, CheckContext], Awaitable[AssertionResult]]
CHECKS: dict[str, Check] = {}
NEGATABLE: set[str] = set()


def register(name: str, *, negatable: bool = False) -> Callable[[Check], Check]:
    def deco(fn: Check) -> Check:
        CHECKS[name] = fn
        if negatable:
            NEGATABLE.add(name)
        return fn
    return deco


def validate_spec(spec: AssertionSpec) -> None:
    """Fail the suite up front (exit 2) on an unknown assertion type rather than per case."""
    base = spec.type.removeprefix("not-")
    if base not in CHECKS:
        raise SuiteError(f"unknown assertion type {spec.type!r}; known: {', '.join(sorted(CHECKS))}")
    if spec.type.startswith("not-") and base not in NEGATABLE:
        raise SuiteError(f"assertion type {base!r} cannot be negated with not-")


async def evaluate(spec: AssertionSpec, ctx: CheckContext) -> AssertionResult:
    negate = spec.type.startswith("not-")
    base = spec.type[4:] if negate else spec.type
    result = await CHECKS[base](spec, ctx)
    result.name = spec.metric_name
    result.weight = spec.weight
    if negate:
        result.passed = not result.passed
        result.score = None if result.score is None else 1.0 - result.score
        result.reason = f"not ({result.reason})"
    return result
