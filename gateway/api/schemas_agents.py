"""Pydantic models that document Anthropic's Messages and OpenAI's Responses requests in the
OpenAPI document (the routes parse with gateway/formats/, not these: keep the two in step; the
schemathesis conformance test sends what these allow and expects no 400 from the gateway)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.engine.validation import MAX_MODEL_CHARS


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# ---- Anthropic Messages ----------------------------------------------------------------------

class TextBlock(_Open):
    type: Literal["text"]
    text: str


class _Block(_Open):
    type: Literal["image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"]


ContentBlock = Annotated[TextBlock | _Block, Field(discriminator="type")]


class AnthropicMessage(_Open):
    role: Literal["user", "assistant", "system"]
    content: str | Annotated[list[ContentBlock], Field(min_length=1)]


class AnthropicTool(_Open):
    name: str = Field(min_length=1)
    description: str | None = None
    input_schema: dict[str, Any] | None = None


class ToolChoiceMode(_Open):
    type: Literal["auto", "any", "none"]
    disable_parallel_tool_use: bool | None = None


class ToolChoiceNamed(_Open):
    type: Literal["tool"]
    name: str = Field(min_length=1)
    disable_parallel_tool_use: bool | None = None


AnthropicToolChoice = Annotated[ToolChoiceMode | ToolChoiceNamed, Field(discriminator="type")]


class CountTokensRequest(_Open):
    model: str = Field(min_length=1, max_length=MAX_MODEL_CHARS, description="a model alias from /v1/models")
    messages: list[AnthropicMessage] = Field(min_length=1)
    system: str | list[TextBlock] | None = None
    tools: list[AnthropicTool] | None = None
    tool_choice: AnthropicToolChoice | None = None
    thinking: dict[str, Any] | None = None


class MessagesRequest(CountTokensRequest):
    max_tokens: int = Field(ge=1, le=2**31 - 1)
    stream: bool | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    metadata: dict[str, Any] | None = None


# ---- OpenAI Responses ------------------------------------------------------------------------

class InputText(_Open):
    type: Literal["input_text", "output_text", "text"]
    text: str


class InputMedia(_Open):
    type: Literal["input_image", "input_file", "refusal"]


InputPart = Annotated[InputText | InputMedia, Field(discriminator="type")]


class MessageItem(_Open):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[InputPart]


class FunctionCallItem(_Open):
    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str | None = None


class FunctionCallOutputItem(_Open):
    type: Literal["function_call_output"]
    call_id: str
    output: str | list[InputPart] | dict[str, Any] | None = None


class ReasoningItem(_Open):
    type: Literal["reasoning", "item_reference"]


InputItem = MessageItem | FunctionCallItem | FunctionCallOutputItem | ReasoningItem


class FunctionTool(_Open):
    type: Literal["function", "custom"]
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class OtherTool(_Open):
    """Hosted and client-side tools without a chat counterpart: left out (`x-sluice-tools-dropped`)."""

    type: Literal["web_search", "web_search_preview", "file_search", "code_interpreter", "image_generation",
                  "mcp", "local_shell", "tool_search", "namespace"]


class ResponsesRequest(_Open):
    model: str = Field(min_length=1, max_length=MAX_MODEL_CHARS, description="a model alias from /v1/models")
    input: str | Annotated[list[InputItem], Field(min_length=1)]
    instructions: str | None = None
    previous_response_id: str | None = Field(default=None, max_length=64)
    store: bool | None = Field(default=None, description="keep the response for GET and previous_response_id "
                                                         "(default true)")
    stream: bool | None = None
    tools: list[FunctionTool | OtherTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None
    max_output_tokens: int | None = Field(default=None, ge=1, le=2**31 - 1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    parallel_tool_calls: bool | None = None
    background: Literal[False] | None = None
    reasoning: dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
