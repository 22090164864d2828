"""Config sections for keys/auth and spend (owned by gateway/spend; gateway/config.py composes them).

Secrets are named by environment variable, never written inline.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelPrice(_Strict):
    """USD per million tokens, per token class (also a deployment's `price`).

    A rate left unset is taken from litellm's table when the model is there; otherwise tokens of
    that class are charged at the plain input (or output) rate and the row is marked partially priced.
    """

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cached_input_per_mtok: float | None = Field(default=None, ge=0, description="cache reads")
    cache_write_per_mtok: float | None = Field(default=None, ge=0, description="cache writes (Anthropic)")
    reasoning_per_mtok: float | None = Field(default=None, ge=0)
    input_audio_per_mtok: float | None = Field(default=None, ge=0)
    output_audio_per_mtok: float | None = Field(default=None, ge=0)
    input_image_per_mtok: float | None = Field(default=None, ge=0)
    output_image_per_mtok: float | None = Field(default=None, ge=0)
    max_output_tokens: int | None = Field(default=None, gt=0, description="the model's output limit: what a "
                                          "budget reserves for a request that sets no max_tokens")


class CountersConfig(_Strict):
    """Where rate-limit and budget counters live. `memory` holds only inside one process."""

    backend: Literal["memory", "redis"] = "memory"
    redis_url_env: str = Field(default="SLUICE_REDIS_URL", description="env var holding redis://...")
    redis_url: str | None = Field(default=None, description="a redis URL without a password, for local use")
    key_prefix: str = "sluice:"


class AuthConfig(_Strict):
    """Virtual keys. Disabled by default so the embedded demo needs no key."""

    enabled: bool = False
    master_key_env: str = "SLUICE_MASTER_KEY"
    key_secret_env: str = Field(
        default="SLUICE_KEY_SECRET",
        description="env var with the server secret keys are HMAC-hashed with; falls back to the master key",
    )
    cache_ttl_s: float = Field(default=5.0, ge=0, description="how long a verified key is trusted before re-reading it")
    counters: CountersConfig = Field(default_factory=CountersConfig)


class LedgerConfig(_Strict):
    backend: Literal["sqlite", "postgres"] = "sqlite"
    path: str = Field(default=".sluice/spend.db", description="SQLite file, relative to the config file's folder")
    url_env: str = Field(default="SLUICE_DATABASE_URL", description="env var holding postgresql+psycopg://...")
    url: str | None = Field(default=None, description="a database URL without a password, for local use")
    spool_dir: str = Field(default=".sluice/spool", description="write-ahead spool folder (one file per process)")
    batch_size: int = Field(default=500, ge=1, le=10_000)
    flush_interval_s: float = Field(default=0.2, gt=0)
    fsync: bool = Field(default=False, description="fsync the spool on every row (survives power loss, costs ~ms)")


class RetentionConfig(_Strict):
    """How long raw ledger rows are kept; the daily rollups are kept forever. Off by default: the
    raw rows are the per-request audit record, and deleting them is the operator's decision."""

    raw_days: int | None = Field(default=None, ge=32, description="delete raw rows older than this many "
                                 "whole UTC days (at least 32, so budgets' day and month periods are read "
                                 "from raw rows); null keeps them")
    batch_rows: int = Field(default=5000, ge=1, le=100_000, description="rows deleted per transaction")
    interval_s: float = Field(default=3600.0, gt=0, description="how often the ledger writer prunes")


class AlertsConfig(_Strict):
    thresholds: list[float] = Field(default_factory=lambda: [0.5, 0.8, 1.0])
    webhook_url: str | None = None
    webhook_timeout_s: float = Field(default=5.0, gt=0)

    @field_validator("thresholds")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        for t in v:
            if not 0 < t <= 10:
                raise ValueError(f"alert threshold {t} must be a fraction of the budget, e.g. 0.8 for 80%")
        return sorted(set(v))


class SpendConfig(_Strict):
    enabled: bool = True
    ledger: LedgerConfig = Field(default_factory=LedgerConfig)
    prices: dict[str, ModelPrice] = Field(
        default_factory=dict, description="price overrides keyed by model (provider/model or bare model)"
    )
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    tags_header: str = Field(default="x-sluice-tags", description="comma-separated tags for the ledger row")
    reserve_max_output_tokens: int = Field(
        default=4096, gt=0, description="what a budget or TPM limit reserves for the output of a request that "
        "sets no max_tokens, when the price table does not know the model's output limit")
    unpriced_with_budget: Literal["block", "allow"] = Field(
        default="block",
        description="a key or team with a budget asking for a model that has an unpriced deployment: refuse "
        "(403 model_unpriced; its spend could not be counted) or allow (the request is recorded as unpriced "
        "and does not count against the budget)",
    )
