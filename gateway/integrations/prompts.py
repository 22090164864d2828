"""Prompt rendering in the pipeline (right after auth): a chat request may name a registered prompt.

    {"prompt": {"name": "support-answer", "label": "production", "variables": {...}}, ...}
    {"model": "prompt:support-answer@production", "variables": {...}, ...}
    {"model": "prompt:support-answer@3", "prompt": {"variables": {...}}, ...}

The rendered messages come first, then any `messages` the request sent. The prompt's model and
parameters apply unless the request sets them. ctx.prompt_ref ("name@version") and ctx.prompt_hash
go to the ledger. Label moves made by `sluice prompts promote` on any machine sharing the registry's
state folder are seen on the next request (the registry stats its label journal per lookup).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from gateway.context import RequestContext
from gateway.errors import InvalidRequest, NotFound, SluiceError
from gateway.hooks import Hook, HookResult
from prompts import (
    LabelNotFound,
    MissingVariable,
    PromptError,
    PromptFileError,
    PromptNotFound,
    PromptRegistry,
    RenderError,
    VersionNotFound,
    parse_ref,
)

PREFIX = "prompt:"


class PromptField(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    label: str | None = None
    version: int | None = None
    variables: dict[str, Any] = {}


class PromptHook(Hook):
    name = "prompts"

    def __init__(self, registry: PromptRegistry) -> None:
        self.registry = registry

    async def before(self, ctx: RequestContext) -> HookResult:
        if ctx.kind != "chat":
            return None
        body = ctx.body
        field, model = body.get("prompt"), body.get("model")
        by_model = isinstance(model, str) and model.startswith(PREFIX)
        if field is None and not by_model:
            return None  # the common case costs two dict lookups
        spec = _parse_field(field)
        if by_model:
            name, ref = parse_ref(str(model)[len(PREFIX):])
            if spec.name is not None and spec.name != name:
                raise InvalidRequest(f"model names prompt {name!r} but prompt.name is {spec.name!r}; give one",
                                     param="prompt.name", code="prompt_conflict")
        else:
            if not spec.name:
                raise InvalidRequest("prompt.name is required (or use model: 'prompt:NAME@LABEL')",
                                     param="prompt.name", code="prompt_name_missing")
            if spec.label is not None and spec.version is not None:
                raise InvalidRequest("give prompt.label or prompt.version, not both", param="prompt",
                                     code="prompt_conflict")
            name = spec.name
            ref = spec.label if spec.label is not None else (str(spec.version) if spec.version is not None else None)
        variables = spec.variables or body.get("variables") or {}
        if not isinstance(variables, dict):
            raise InvalidRequest("variables must be an object", param="variables", code="invalid_value")
        try:
            rendered = self.registry.render(name, ref, variables)
        except PromptError as e:
            raise _map_error(e, name, ref) from e
        new: dict[str, Any] = {k: v for k, v in body.items() if k not in ("prompt", "variables")}
        for key, value in rendered.parameters.items():
            new.setdefault(key, value)
        if by_model or not new.get("model"):
            if rendered.model is None:
                raise InvalidRequest(f"prompt {rendered.ref} names no model; pass one in the request's model field "
                                     f"together with prompt: {{...}}", param="model", code="prompt_model_missing")
            new["model"] = rendered.model
        new["messages"] = rendered.messages + list(body.get("messages") or [])
        # in place: the pipeline holds a reference to this dict from before the hooks ran
        body.clear()
        body.update(new)
        ctx.requested_model = body["model"]
        ctx.prompt_ref = rendered.ref
        ctx.prompt_hash = rendered.content_hash
        ctx.response_headers["x-sluice-prompt"] = rendered.ref
        return None


def _parse_field(field: Any) -> PromptField:
    if field is None:
        return PromptField()
    try:
        return PromptField.model_validate(field)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in ("prompt", *first["loc"]))
        raise InvalidRequest(f"'{where}': {first['msg']}", param=where, code="invalid_value") from None


def _map_error(e: PromptError, name: str, ref: str | None) -> SluiceError:
    if isinstance(e, LabelNotFound):
        return NotFound(e.message, param="prompt.label", code="prompt_label_not_found")
    if isinstance(e, VersionNotFound):
        return NotFound(e.message, param="prompt.version", code="prompt_version_not_found")
    if isinstance(e, PromptNotFound):
        return NotFound(e.message, param="prompt.name", code="prompt_not_found")
    if isinstance(e, MissingVariable):
        var = e.details.get("variable")
        return InvalidRequest(e.message, param=f"prompt.variables.{var}" if var else "prompt.variables",
                              code="prompt_variable_missing")
    if isinstance(e, RenderError):
        return InvalidRequest(e.message, param="prompt.variables", code="prompt_render_error")
    if isinstance(e, PromptFileError):  # the registry is broken, not the request
        return SluiceError(f"prompt {name}@{ref or 'production'} cannot be loaded: {e.message}",
                           code="prompt_file_invalid")
    return SluiceError(e.message, code="prompt_error")
