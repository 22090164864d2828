"""Config sections for keys/auth and spend (owned by gateway/spend; gateway/config.py composes them)."""

from pydantic import BaseModel, ConfigDict


class AuthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SpendConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
