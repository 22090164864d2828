"""Output JSON validity, and conformance to the JSON schema the request gave in response_format."""

from __future__ import annotations

import json

from guardrails.scanners.base import Scanner
from guardrails.types import Finding, ScanContext


class JsonOutputScanner(Scanner):
    name = "json_output"
    needs_full_text = True

    def __init__(self, *, always: bool = False, name: str = "json_output") -> None:
        self.name = name
        self.always = always  # check JSON even when the request did not ask for it

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        if not (ctx.expect_json or ctx.json_schema is not None or self.always):
            return []
        try:
            value = json.loads(_strip_fence(text))
        except ValueError:
            return [Finding("invalid_json")]
        if ctx.json_schema is None:
            return []
        import jsonschema

        try:
            validator_cls = jsonschema.validators.validator_for(ctx.json_schema)
            validator_cls.check_schema(ctx.json_schema)
            errors = list(validator_cls(ctx.json_schema).iter_errors(value))
        except jsonschema.SchemaError:
            return [Finding("invalid_schema")]
        return [Finding("schema_mismatch", score=float(len(errors)))] if errors else []


def _strip_fence(text: str) -> str:
    """Models often wrap JSON in a ```json fence; accept that."""
    t = text.strip()
    if t.startswith("```") and t.endswith("```"):
        t = t[3:-3]
        t = t.removeprefix("json")
    return t
