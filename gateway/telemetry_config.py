"""Config section 'TelemetryConfig' (owned by this package; gateway/config.py composes it)."""

from pydantic import BaseModel, ConfigDict


class TelemetryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
