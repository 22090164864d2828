"""Config section `capture` (gateway/config.py composes it)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CaptureConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=False, description="keep a sampled, redacted copy of exchanges as eval datasets")
    sample_rate: float = Field(default=0.01, ge=0, le=1,
                               description="the share of exchanges kept (by a hash of the request id)")
    dir: str = Field(default=".sluice/captured",
                     description="folder of <dataset>.jsonl files (relative to the config file's folder)")
    exclude_teams: list[str] = Field(default_factory=list, description="team ids whose traffic is never captured")
    retention_days: float = Field(default=30.0, gt=0, description="cases older than this are pruned")
    max_cases: int = Field(default=10_000, ge=1, description="per dataset; the oldest go first")
