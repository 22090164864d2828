"""Render a prompt's messages: Jinja2 in a sandbox, undefined variables are errors, schema-checked."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jsonschema
from jinja2 import StrictUndefined, TemplateError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from prompts.errors import MissingVariable, RenderError
from prompts.model import PromptSpec

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


@lru_cache(maxsize=1024)
def _compile(source: str) -> Any:
    return _ENV.from_string(source)


def render_string(source: str, variables: dict[str, Any]) -> str:
    """Render one template string in the sandbox; raises MissingVariable / RenderError."""
    try:
        return str(_compile(source).render(**variables))
    except UndefinedError as e:
        raise MissingVariable(f"template variable missing: {e.message}", variable=_undefined_name(e)) from e
    except SecurityError as e:
        raise RenderError(f"template tried an unsafe operation: {e}") from e
    except TemplateError as e:
        raise RenderError(f"template error: {e}") from e


def _undefined_name(e: UndefinedError) -> str | None:
    # jinja2's message is "'name' is undefined"
    msg = e.message or ""
    if msg.startswith("'") and "' is undefined" in msg:
        return msg[1 : msg.index("' is undefined")]
    return None


@dataclass(slots=True)
class RenderedPrompt:
    ref: str
    content_hash: str
    messages: list[dict[str, Any]]
    model: str | None
    parameters: dict[str, Any] = field(default_factory=dict)

    def request_body(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """A chat.completions body: the prompt's model and parameters, then the caller's overrides."""
        body: dict[str, Any] = dict(self.parameters)
        if self.model is not None:
            body["model"] = self.model
        body["messages"] = self.messages
        for key, value in (overrides or {}).items():
            if value is not None:
                body[key] = value
        return body


def render(spec: PromptSpec, variables: dict[str, Any] | None = None) -> RenderedPrompt:
    variables = dict(variables or {})
    if spec.variables:
        _validate_variables(spec, variables)
    messages = []
    for m in spec.messages:
        out: dict[str, Any] = {"role": m.role, "content": render_string(m.content, variables)}
        if m.name:
            out["name"] = m.name
        messages.append(out)
    params = dict(spec.parameters)
    if spec.response_format is not None:
        params["response_format"] = spec.response_format
    if spec.tools is not None:
        params["tools"] = spec.tools
    return RenderedPrompt(spec.ref, spec.content_hash(), messages, spec.model, params)


def _validate_variables(spec: PromptSpec, variables: dict[str, Any]) -> None:
    missing = [n for n in spec.variables.get("required", []) if n not in variables]
    if missing:
        raise MissingVariable(
            f"prompt {spec.ref} needs variable(s) {', '.join(missing)}", variable=missing[0]
        )
    try:
        jsonschema.validate(variables, spec.variables)
    except jsonschema.ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "(root)"
        raise RenderError(f"prompt {spec.ref}: variable {where} is invalid: {e.message}", variable=where) from e
