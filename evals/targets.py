"""What a suite evaluates: a registered prompt, a model alias, or a RAG pipeline (`rag:<name>`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from evals.dataset import Case
from evals.errors import SuiteError
from evals.suite import Suite
from prompts import PromptError, PromptRegistry, PromptSpec, parse_ref, render, render_string


@dataclass(slots=True)
class TargetInfo:
    kind: str  # "prompt" | "model" | "rag"
    ref: str  # "name@version" | alias | "rag:name"
    content_hash: str
    prompt_name: str | None = None
    prompt_version: int | None = None


class TargetPlan:
    """Turns a case into a chat.completions body (and the user message, for judges)."""

    def __init__(self, suite: Suite, *, registry_dir: str | Path | None = None,
                 prompt_ref: str | None = None) -> None:
        self.suite = suite
        t = suite.spec.target
        self.spec: PromptSpec | None = None
        if t.prompt is not None:
            name, ref = parse_ref(t.prompt)
            self.registry = PromptRegistry(suite.registry_dir(registry_dir))
            try:
                self.spec = self.registry.resolve(name, prompt_ref or ref)
            except PromptError as e:
                raise SuiteError(f"suite {suite.name}: target {t.prompt}: {e.message}") from e
            if self.spec.model is None and t.model is None:
                raise SuiteError(f"prompt {self.spec.ref} names no model; set target.model in the suite")
            self.info = TargetInfo("prompt", self.spec.ref, self.spec.content_hash(), name, self.spec.version)
        else:
            ref = f"rag:{t.rag}" if t.rag else str(t.model)
            digest = hashlib.sha256(orjson.dumps(t.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)).hexdigest()
            self.info = TargetInfo("rag" if t.rag else "model", ref, "sha256:" + digest)

    def build(self, case: Case) -> tuple[dict[str, Any], str | None]:
        """Raises prompts.PromptError (e.g. MissingVariable) when the case does not fit the target."""
        t = self.suite.spec.target
        overrides = {"model": t.model, **t.params}
        if self.spec is not None:
            rendered = render(self.spec, case.vars)
            body = rendered.request_body(overrides)
        else:
            messages = case.vars.get("messages")
            if not isinstance(messages, list):
                messages = [{"role": "user", "content": render_string(t.input, case.template_vars())}]
                if t.system:
                    messages.insert(0, {"role": "system", "content": render_string(t.system, case.template_vars())})
            body = {**t.params, "model": self.info.ref, "messages": messages}
        user = next((m.get("content") for m in reversed(body["messages"]) if m.get("role") == "user"), None)
        return body, user if isinstance(user, str) else None
