"""Config section 'PromptsConfig' (owned by this package; gateway/config.py composes it)."""

from pydantic import BaseModel, ConfigDict, Field


class PromptsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="resolve `prompt` requests in the gateway")
    registry_dir: str = Field(default="prompts", description="folder of <name>/v<N>.yaml prompt files (relative to the config file's folder)")
    state_dir: str | None = Field(
        default=None,
        description="where labels, label history and attestations live (JSONL); default <registry_dir>/.sluice",
    )
