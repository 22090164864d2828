"""Config section 'GuardrailsConfig' (owned by this package; gateway/config.py composes it)."""

from pydantic import BaseModel, ConfigDict


class GuardrailsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
