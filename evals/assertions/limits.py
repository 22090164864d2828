"""Latency and cost ceilings (threshold is the maximum: ms, USD) and custom Python checks."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from evals.assertions.base import AssertionResult, CheckContext, register
from evals.dataset import AssertionSpec
from evals.errors import SuiteError


@register("latency")
async def latency(spec: AssertionSpec, ctx: CheckContext) -> AssertionResult:
    limit = spec.threshold if spec.threshold is not None else spec.value
    if limit is None:
        raise SuiteError("assertion latency needs threshold: max milliseconds")
    ms = ctx.reply.latency_ms
    ok = ms <= float(limit)
    return AssertionResult("latency", "latency", ok, ms, f"{ms:.0f} ms {'<=' if ok else '>'} {float(limit):.0f} ms",
                           float(limit))


@register("cost")
async def cost(spec: AssertionSpec, ctx: CheckContext) -> AssertionResult:
    limit = spec.threshold if spec.threshold is not None else spec.value
    if limit is None:
        raise SuiteError("assertion cost needs threshold: max USD per call")
    usd = ctx.reply.cost_usd
    if usd is None:
        # a ceiling that cannot be checked is not met; the gateway reports cost in x-sluice-cost-usd
        return AssertionResult("cost", "cost", False, None, "the endpoint reported no cost (x-sluice-cost-usd)",
                               float(limit))
    ok = usd <= float(limit)
    return AssertionResult("cost", "cost", ok, usd, f"${usd:.6f} {'<=' if ok else '>'} ${float(limit):.6f}",
                           float(limit))


def load_callable(path: str) -> Any:
    module_name, sep, attr = path.partition(":")
    if not sep:
        raise SuiteError(f"python assertion {path!r}: write it as package.module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise SuiteError(f"python assertion {path!r}: cannot import {module_name}: {e}") from e
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise SuiteError(f"python assertion {path!r}: {attr} is not a function in {module_name}")
    return fn


@register("python", negatable=True)
async def python(spec: AssertionSpec, ctx: CheckContext) -> AssertionResult:
    """Calls fn(output, context) -> bool | float | {"pass", "score", "reason"}; may be async."""
    fn = load_callable(str(spec.value))
    try:
        out = fn(ctx.output, ctx)
        if inspect.isawaitable(out):
            out = await out
    except Exception as e:  # noqa: BLE001  (user code: a crash fails this check, not the whole run)
        return AssertionResult("python", "python", False, 0.0, f"{spec.value} raised {type(e).__name__}: {e}")
    threshold = spec.threshold if spec.threshold is not None else 0.5
    if isinstance(out, bool):
        return AssertionResult("python", "python", out, float(out), f"{spec.value} -> {out}")
    if isinstance(out, int | float):
        return AssertionResult("python", "python", float(out) >= threshold, float(out),
                               f"{spec.value} -> {float(out):.3g}", threshold)
    if isinstance(out, dict) and "pass" in out:
        score = out.get("score")
        return AssertionResult("python", "python", bool(out["pass"]),
                               float(score) if score is not None else float(bool(out["pass"])),
                               str(out.get("reason", "")))
    raise SuiteError(f"python assertion {spec.value}: return a bool, a number or a dict with 'pass'; got {type(out).__name__}")
