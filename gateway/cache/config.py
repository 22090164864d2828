"""Config section 'CacheConfig' (owned by this package; gateway/config.py composes it)."""

from pydantic import BaseModel, ConfigDict


class CacheConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
