"""Pydantic models that document the OpenAI-compatible routes in the OpenAPI document.

The hot path does not parse with these (see gateway/engine/validation.py); they describe the wire format
for clients and for the schemathesis conformance tests.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.engine.validation import MAX_MODEL_CHARS
from prompts.names import NAME_PATTERN


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ContentPart(_Open):
    type: str = Field(description="text, image_url, input_audio, file, ...")
    text: str | None = None


class _Message(_Open):
    name: str | None = None


class SystemMessage(_Message):
    role: Literal["system", "developer"]
    content: str | list[ContentPart]


class UserMessage(_Message):
    role: Literal["user"]
    content: str | list[ContentPart] = Field(description="text, or parts such as image_url (passed through)")


class AssistantMessage(_Message):
    role: Literal["assistant"]
    content: str | list[ContentPart] | None = None
    tool_calls: list[dict[str, Any]] | None = None


class ToolMessage(_Message):
    role: Literal["tool"]
    content: str | list[ContentPart]
    tool_call_id: str


class FunctionMessage(_Message):
    role: Literal["function"]
    content: str | None
    name: str


ChatMessage = Annotated[SystemMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage,
                        Field(discriminator="role")]


class StreamOptions(_Open):
    include_usage: bool | None = None


class FunctionDef(_Open):
    name: str = Field(min_length=1)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(_Open):
    type: Literal["function"] = "function"
    function: FunctionDef


class NamedToolChoice(_Open):
    type: Literal["function"]
    function: dict[str, Any]


class TextFormat(_Open):
    type: Literal["text"]


class JsonObjectFormat(_Open):
    type: Literal["json_object"]


class JsonSchemaFormat(_Open):
    type: Literal["json_schema"]
    json_schema: dict[str, Any]


ResponseFormat = Annotated[TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")]


# the registry's one rule for names and labels (prompts/names.py), and no ".." anywhere in them; a
# label that reads as a version ("3", "v3") is one, so it is no label
_PROMPT_NAME = r"^(?!.*\.\.)" + NAME_PATTERN[1:]
_PROMPT_LABEL = r"^(?!v?[0-9]+$)" + _PROMPT_NAME[1:]


class _PromptRef(BaseModel):
    model_config = ConfigDict(extra="forbid", regex_engine="python-re")  # the pattern has a look-ahead
    name: str = Field(pattern=_PROMPT_NAME, description="a prompt in the registry")
    variables: dict[str, Any] = Field(default_factory=dict, description="template variables")


class PromptByLabel(_PromptRef):
    label: str = Field(pattern=_PROMPT_LABEL, description="e.g. production, staging")


class PromptByVersion(_PromptRef):
    version: int = Field(ge=1, le=999_999_999)


PromptReference = PromptByLabel | PromptByVersion | _PromptRef


# --- cache (gateway/cache/controls.py parses it; keep the two in step) ---
class CacheField(BaseModel):
    model_config = ConfigDict(extra="forbid")
    no_cache: bool | None = Field(default=None, description="do not answer from the cache (still stored)")
    no_store: bool | None = Field(default=None, description="do not store this answer")
    ttl: float | None = Field(default=None, gt=0, description="seconds to keep this answer")
    max_age: float | None = Field(default=None, ge=0, description="serve only entries at most this old (s)")
    semantic: bool | None = Field(default=None, description="semantic (similar-question) lookup on/off")
# --- end cache ---


class ChatCompletionRequest(_Open):
    model: str = Field(min_length=1, max_length=MAX_MODEL_CHARS,
                       description="a model alias from /v1/models, rag:<pipeline> or prompt:<name>@<label-or-version>")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: int | None = Field(default=None, ge=1, le=128)
    max_tokens: int | None = Field(default=None, ge=1, le=2**31 - 1)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=2**31 - 1)
    stop: str | Annotated[list[str], Field(max_length=4)] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    response_format: ResponseFormat | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
    logit_bias: dict[str, float] | None = None
    parallel_tool_calls: bool | None = None
    prompt: PromptReference | None = Field(default=None, description="render a registered prompt")
    cache: CacheField | None = Field(default=None, description="per-request cache control")


class ResponseMessage(_Open):
    role: str
    content: str | None
    refusal: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class Choice(_Open):
    index: int
    message: ResponseMessage
    finish_reason: str
    logprobs: dict[str, Any] | None


class Usage(_Open):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(_Open):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: Usage | None = None


class EmbeddingRequest(_Open):
    model: str = Field(min_length=1, max_length=MAX_MODEL_CHARS)
    input: (Annotated[str, Field(min_length=1)] | Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1, max_length=2048)]
            | Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)]
            | Annotated[list[Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)]], Field(min_length=1, max_length=2048)])
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(default=None, ge=1, le=100_000)
    user: str | None = None


class Embedding(_Open):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str


class EmbeddingList(_Open):
    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: dict[str, int]


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: {"model": ErrorResponse, "description": "OpenAI-shaped error"} for c in codes}
