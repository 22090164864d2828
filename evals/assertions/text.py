"""String and JSON checks: equals, contains, icontains, contains-any, regex, is-json, json-schema."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema

from evals.assertions.base import AssertionResult, CheckContext, register
from evals.dataset import AssertionSpec
from evals.errors import SuiteError
from prompts.errors import RenderError
from prompts.render import render_string


def expected_value(spec: AssertionSpec, ctx: CheckContext) -> Any:
    """The assertion's value (a template rendered with the case's vars) or the case's `expected`."""
    value = spec.value if spec.value is not None else ctx.case.expected
    if isinstance(value, str) and "{" in value:
        try:
            return render_string(value, ctx.vars)
        except RenderError as e:
            raise SuiteError(f"case {ctx.case.id}: assertion {spec.type} value: {e.message}") from e
    if isinstance(value, list):
        return [render_string(v, ctx.vars) if isinstance(v, str) and "{" in v else v for v in value]
    return value


def _bool(spec: AssertionSpec, ok: bool, reason: str) -> AssertionResult:
    return AssertionResult(spec.type, spec.type, ok, 1.0 if ok else 0.0, reason)


def _short(s: str, n: int = 80) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


@register("equals", negatable=True)
async def equals(spec: AssertionSpec, ctx: CheckContext) -> AssertionResult:
    want = expected_value(spec, ctx)
    if isinstance(want, dict | list):
        try:
            got: Any = json.loads(strip_fences(ctx.output))
        except json.JSONDecodeError:
            return _bool(spec, False, "output is not JSON, expected a JSON value")
        return _bool(spec, got == want, "JSON equal" if got == want else "JSON differs from expected")
    ok = ctx.output.strip() == str(want).strip()
    return _bool(spec, ok, "equal" if ok else f"expected {_short(str(want))!r}, got {_short(ctx.output)!r}")


def _contains(spec: AssertionSpec, ctx: CheckContext, *, fold: bool, any_: bool) -> AssertionResult:
    want = expected_value(spec, ctx)
    needles = [str(w) for w in (want if isinstance(want, list) else [want])]
    hay = ctx.output.casefold() if fold else ctx.output
    found = [n for n in needles if (n.casefold() if fold else n) in hay]
    ok = bool(found) if any_ else len(found) == len(needles)
    missing = [n for n in needles if n not in found]
    reason = f"found {found!r}" if ok else (f"none of {needles!r} found" if any_ else f"missing {missing!r}")
    return _bool(spec, ok, reason)


@register("contains", negatable=True)
async def contains(spec: AssertionSpec, ctx: CheckContext) -> AssertionResult:
    return _contains(spec, ctx, fold=False, any_=False)


@register("icontains", negatable=True)
async def icontains(spec: AssertionSpec, ctx: CheckContext) -> AssertionResult:
    return _contains(spec, ctx, fold=True, any_=False)


@register("contains-any", negatable=True)
async def contains_any(spec: AssertionSpec, ctx: CheckContext) -> AssertionResult:
    return _contains(spec, ctx, fold=False, any_=True)


@register("icontains-any", negatable=True)
async def icontains_any(spec: AssertionSpec, ctx: CheckContext) -> AssertionResult:
    return _contains(spec, ctx, fold=True, any_=True)


@register("regex", negatable=True)
async def regex(spec: AssertionSpec, ctx: CheckContext) -> AssertionResult:
    pattern = str(expected_value(spec, ctx))
    flags = re.IGNORECASE if spec.options.get("ignore_case") else 0
    try:
        m = re.search(pattern, ctx.output, flags | re.MULTILINE)
    except re.error as e:
        raise SuiteError(f"assertion regex {pattern!r} is invalid: {e}") from e
    return _bool(spec, m is not None, f"matched {_short(m.group(0))!r}" if m else f"no match for /{pattern}/")


def strip_fences(text: str) -> str:
    """Models often wrap JSON in ```json fences; the checks look inside them."""
    t = text.strip()
    if t.startswith("```"):
        t = t.split("\n", 1)[1] if "\n" in t else ""
        if t.rstrip().endswith("```"):
            t = t.rstrip()[:-3]
    return t.strip()


@register("is-json", negatable=True)
async def is_json(spec: AssertionSpec, ctx: CheckContext) -> AssertionResult:
    try:
        json.loads(strip_fences(ctx.output))
    except json.JSONDecodeError as e:
        return _bool(spec, False, f"not JSON: {e.msg} at {e.pos}")
    return _bool(spec, True, "valid JSON")


@register("json-schema")
async def json_schema(spec: AssertionSpec, ctx: CheckContext) -> AssertionResult:
    schema = spec.value
    if not isinstance(schema, dict):
        raise SuiteError("assertion json-schema needs value: a JSON Schema object")
    try:
        doc = json.loads(strip_fences(ctx.output))
    except json.JSONDecodeError as e:
        return _bool(spec, False, f"not JSON: {e.msg}")
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc), key=lambda e: list(e.path))
    if errors:
        where = "/".join(map(str, errors[0].absolute_path)) or "(root)"
        return _bool(spec, False, f"{where}: {errors[0].message}")
    return _bool(spec, True, "matches schema")
