"""Prompt rendering in the pipeline (right after auth): a chat request may name a registered prompt.

    {"prompt": {"name": "support-answer", "label": "production", "variables": {...}}, ...}
    {"model": "prompt:support-answer@production", "variables": {...}, ...}
    {"model": "prompt:support-answer@3", "prompt": {"variables": {...}}, ...}

Only releases are served (`PromptRegistry.serve`): a label's snapshot, or a pinned version's latest
released snapshot, never the live file (unless `prompts.serve_unreleased`). The rendered messages
come first, then any `messages` the request sent; the prompt's model and parameters apply unless
the request sets them. ctx.prompt_ref ("name@version"), ctx.prompt_hash (the served content's hash)
and ctx.prompt_forced go to the ledger; `x-sluice-prompt` says `name@version`, marked `; forced`.
Label moves made on any machine sharing the registry's state folder are seen on the next request.
A journal that stops verifying (rewritten, forged) is logged and counted, and the last verified
state keeps serving: never a 500.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from gateway.clock import SystemClock
from gateway.context import RequestContext
from gateway.errors import InvalidRequest, NotFound, SluiceError
from gateway.hooks import Hook, HookResult
from gateway.integrations.rollout_health import RolloutMonitor
from prompts import (
    IntegrityError,
    InvalidName,
    LabelNotFound,
    MissingVariable,
    NotReleased,
    PromptError,
    PromptFileError,
    PromptNotFound,
    PromptRegistry,
    RenderError,
    VersionNotFound,
    parse_ref,
    render,
)
from prompts.config import PromptsConfig
from prompts.names import shown

PREFIX = "prompt:"
log = logging.getLogger("sluice.prompts")


class PromptField(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    label: str | None = None
    version: int | None = None
    variables: dict[str, Any] = {}


class PromptHook(Hook):
    name = "prompts"

    def __init__(self, registry: PromptRegistry, config: PromptsConfig | None = None, gateway: Any = None) -> None:
        self.registry = registry
        self.config = config or PromptsConfig()
        self._reported: str | None = None
        self._gateway = gateway  # for the metric, registered on first use: telemetry is built after us
        self.monitor = RolloutMonitor(registry, self.config.rollout_guards, _ledger_engine(gateway),
                                      gateway.clock if gateway is not None else SystemClock())

    def _register_metric(self) -> None:
        tel = getattr(getattr(self._gateway, "services", None), "telemetry", None)
        self._gateway = None
        if tel is not None and tel.metrics is not None:  # each generation's hook re-registers it
            tel.metrics.gauge_callback("prompt_journal_unverified",
                                       "1 while a prompt journal fails verification (the last verified state serves)",
                                       lambda: float(bool(self.registry.problems())))
            tel.metrics.labeled_gauge_callback(
                "prompt_rollout_halts", "rollouts this process halted on a guard trip, by prompt and label",
                ("prompt", "label"), lambda: [(k, float(v)) for k, v in self.monitor.halts.items()])

    def _watch_integrity(self) -> None:
        problem = self.registry.labels_journal.problem
        if problem != self._reported:
            if problem:
                log.error("prompt label journal does not verify; serving the last verified state: %s", problem)
            else:
                log.warning("prompt label journal verifies again")
            self._reported = problem

    async def before(self, ctx: RequestContext) -> HookResult:
        if self._gateway is not None:
            self._register_metric()
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
                raise InvalidRequest(f"model names prompt {shown(name)} but prompt.name is {shown(spec.name)}; give one",
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
            release = self.registry.serve(name, ref, pins=self.config.version_pins,
                                          unreleased=self.config.serve_unreleased, unit=rollout_unit(ctx))
            rendered = render(release.spec, variables)
        except PromptError as e:
            raise _map_error(e, name, ref) from e
        finally:
            self._watch_integrity()
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
        ctx.prompt_hash = rendered.content_hash  # the snapshot's content: what attestations name
        ctx.prompt_forced = release.forced
        ctx.prompt_variant = release.variant
        ctx.prompt_variables = variables
        if release.variant is not None:
            self.monitor.maybe_check()  # schedules a background check when one is due
        ctx.response_headers["x-sluice-prompt"] = release.header
        return None


def _ledger_engine(gateway: Any) -> Any:
    def engine() -> Any:
        svc = getattr(getattr(gateway, "services", None), "spend", None)
        return svc.engine if svc is not None and svc.started else None
    return engine


def rollout_unit(ctx: RequestContext) -> str:
    """Who a rollout keeps sticky: the `x-sluice-session` header, else the user, else the key id,
    else the request id."""
    session = ctx.headers.get("x-sluice-session")
    if session:
        return "session:" + session
    p = ctx.principal
    if p is not None and p.user_id:
        return "user:" + p.user_id
    if p is not None and p.key_id:
        return "key:" + p.key_id
    return "request:" + ctx.request_id


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
    """Registry errors as OpenAI-shaped ones. Bodies never carry a file path or file content: the
    registry's own message (which may) is logged for the operator instead."""
    if isinstance(e, InvalidName):
        return InvalidRequest(e.message, param="prompt.name", code="prompt_name_invalid")
    if isinstance(e, NotReleased):
        return NotFound(e.message, param="prompt.name", code="prompt_not_released")
    if isinstance(e, VersionNotFound) and e.details.get("pinned"):
        return InvalidRequest(e.message, param="prompt.version", code="prompt_pin_disabled")
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
    if isinstance(e, PromptFileError | IntegrityError):  # the registry is broken, not the request
        log.error("prompt %r cannot be loaded: %s", name[:80], e.message)
        return SluiceError(f"prompt {name}@{ref or 'production'} cannot be loaded; the gateway's log says why",
                           code="prompt_file_invalid")
    log.error("prompt %r: %s", name[:80], e.message)
    return SluiceError("the prompt registry failed; the gateway's log says why", code="prompt_error")


def suite_fingerprint(path: Path) -> tuple[str, str]:
    """(suite hash, dataset hash) of a prompt's suite, for the gate; a suite that cannot be read
    refuses the label move. The eval harness loads only when a label moves (CLI and admin API)."""
    from evals.attest import suite_fingerprint as fingerprint
    from evals.errors import SuiteError
    from prompts import PromotionRefused

    try:
        return fingerprint(path)
    except SuiteError as e:
        raise PromotionRefused(f"the prompt's suite cannot be read, so its dataset cannot be checked: {e}",
                               attestation=None) from e
