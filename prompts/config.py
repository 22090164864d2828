"""Config section 'PromptsConfig' (owned by this package; gateway/config.py composes it)."""

from pydantic import BaseModel, ConfigDict


class PromptsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
