"""Mock upstream settings. Every knob can also be set per request by an `x-mock-*` header."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Fault = Literal[
    "429", "500", "503", "hang", "slow-first-byte", "disconnect-mid-stream", "malformed-json", "omit-fields"
]
FAULTS: tuple[str, ...] = Fault.__args__  # type: ignore[attr-defined]


class MockConfig(BaseModel):
    # Not frozen: tests flip faults on a running instance (`m.config.fault = "500"`).
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    models: list[str] = Field(default_factory=lambda: ["mock-gpt", "mock-claude", "mock-embed"])
    reply_words: int = Field(default=16, ge=1, description="natural reply length; max_tokens cuts it")
    embedding_dims: int = Field(default=384, ge=1, le=8192)
    latency_s: float = Field(default=0.0, ge=0, description="delay before the first byte")
    tokens_per_s: float | None = Field(default=None, gt=0, description="None: as fast as possible")
    # Fault injection by config: `fault` hits the first `fault_first_n` inference requests (None: all)
    # and, of those, a seeded `fault_rate` fraction.
    fault: Fault | None = None
    fault_first_n: int | None = Field(default=None, ge=0)
    fault_rate: float = Field(default=1.0, ge=0, le=1)
    retry_after_s: float = Field(default=1.0, ge=0, description="Retry-After sent with 429/503")
    slow_first_byte_s: float = Field(default=3.0, ge=0)
    hang_s: float = Field(default=300.0, ge=0, description="a hung request is dropped after this")
    disconnect_after_chunks: int = Field(default=2, ge=0)
    seed: int = 0
