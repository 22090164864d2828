"""Config section `cache` (owned by this package; gateway/config.py composes it).

    cache:
      enabled: true
      backend: memory            # memory | redis
      redis_url_env: REDIS_URL   # when backend: redis
      tenant_by: team            # team | key
      default_ttl_s: 3600
      semantic:
        enabled: true
        threshold: 0.85          # cosine; chosen from bench/cache_bench.py's curve
        index: numpy             # numpy (in-process) | chroma
      models:
        gpt-4o-mini: {ttl_s: 600, cache_temperature_above_zero: true}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelCachePolicy(_Strict):
    """Per-model-group overrides of the defaults below; unset fields inherit them."""

    enabled: bool | None = None
    ttl_s: float | None = Field(default=None, gt=0)
    semantic: bool | None = None
    cache_temperature_above_zero: bool | None = None
    cache_tool_calls: bool | None = None


class MemoryBackendConfig(_Strict):
    max_entries: int = Field(default=10_000, gt=0)
    max_bytes: int = Field(default=256 * 1024 * 1024, gt=0, description="sum of stored value sizes")


class RedisBackendConfig(_Strict):
    url_env: str = Field(default="SLUICE_REDIS_URL", description="env var holding redis://host:port/db")
    url: str | None = Field(default=None, description="redis URL without a password (else use url_env)")
    prefix: str = "sluice:cache:"
    socket_timeout_s: float = Field(default=0.25, gt=0, description="a slow Redis counts as a miss")


class SemanticConfig(_Strict):
    enabled: bool = Field(default=True, description="semantic lookups on by default for eligible requests")
    threshold: float = Field(default=0.85, ge=0, le=1, description="min cosine of the last user turn")
    verify: bool = Field(default=True, description="reject candidates whose facts differ (numbers, negation...)")
    index: Literal["numpy", "chroma"] = "numpy"
    chroma_path: str | None = Field(default=None, description="PersistentClient folder (index: chroma)")
    chroma_host: str | None = Field(default=None, description="Chroma server host (index: chroma)")
    chroma_port: int = 8000
    chroma_collection: str = "sluice_semantic_cache"
    max_entries: int = Field(default=100_000, gt=0, description="per process (numpy index)")
    embedding_model: str | None = Field(
        default=None, description="a configured embedding model group; default: the local MiniLM model")
    max_turn_chars: int = Field(default=2000, gt=0, description="longer last turns skip the semantic cache")


class CacheConfig(_Strict):
    enabled: bool = False
    backend: Literal["memory", "redis"] = "memory"
    memory: MemoryBackendConfig = Field(default_factory=MemoryBackendConfig)
    redis: RedisBackendConfig = Field(default_factory=RedisBackendConfig)
    tenant_by: Literal["team", "key"] = "team"
    default_ttl_s: float = Field(default=3600.0, gt=0)
    max_ttl_s: float = Field(default=7 * 86400.0, gt=0, description="upper bound for a client's ttl/max-age")
    cache_temperature_above_zero: bool = Field(
        default=False, description="temperature > 0 asks for variety; cache those answers only if set")
    cache_tool_calls: bool = False
    max_entry_bytes: int = Field(default=1024 * 1024, gt=0, description="larger responses are not stored")
    semantic: SemanticConfig = Field(default_factory=SemanticConfig)
    models: dict[str, ModelCachePolicy] = Field(default_factory=dict)

    def policy(self, model_group: str) -> ResolvedPolicy:
        p = self.models.get(model_group) or ModelCachePolicy()
        return ResolvedPolicy(
            enabled=self.enabled if p.enabled is None else p.enabled,
            ttl_s=self.default_ttl_s if p.ttl_s is None else p.ttl_s,
            semantic=self.semantic.enabled if p.semantic is None else p.semantic,
            cache_temperature_above_zero=(self.cache_temperature_above_zero
                                          if p.cache_temperature_above_zero is None
                                          else p.cache_temperature_above_zero),
            cache_tool_calls=self.cache_tool_calls if p.cache_tool_calls is None else p.cache_tool_calls,
        )


class ResolvedPolicy(_Strict):
    enabled: bool
    ttl_s: float
    semantic: bool
    cache_temperature_above_zero: bool
    cache_tool_calls: bool
