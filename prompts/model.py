"""A prompt version as data: the YAML file's schema and the content hash of what affects output."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from prompts.names import NAME_PATTERN

# Fields whose change can change what the model returns; the content hash covers exactly these.
OUTPUT_FIELDS = ("messages", "variables", "model", "parameters", "response_format", "tools")


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str = Field(description="Jinja2 template (sandboxed, strict undefined)")
    name: str | None = None


class PromptSpec(BaseModel):
    """One version of one prompt, as written in `<registry>/<name>/v<version>.yaml`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    version: int = Field(ge=1, description="the author's version number")
    description: str = ""
    messages: list[Message] = Field(min_length=1)
    variables: dict[str, Any] = Field(
        default_factory=dict, description="JSON Schema of the variables object (type: object)"
    )
    model: str | None = Field(default=None, description="model alias used unless the request names one")
    parameters: dict[str, Any] = Field(default_factory=dict, description="temperature, max_tokens, ...")
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    suite: str | None = Field(default=None, description="eval suite guarding this prompt (path relative to this file)")

    @field_validator("parameters")
    @classmethod
    def _no_messages_in_parameters(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key in ("messages", "model", "prompt", "stream"):
            if key in v:
                raise ValueError(f"parameters must not set {key!r}; it has its own field or belongs to the request")
        return v

    def content_hash(self) -> str:
        """sha256 over a canonical JSON of the output-affecting fields (not description/metadata)."""
        payload = self.model_dump(include=set(OUTPUT_FIELDS), mode="json", exclude_none=False)
        return "sha256:" + hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"
