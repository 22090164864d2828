"""Config section 'RagConfig' (owned by this package; gateway/config.py composes it)."""

from pydantic import BaseModel, ConfigDict


class RagConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
