"""Config section `telemetry:` (traces, metrics, logs). gateway/config.py composes it.

Secrets are never inline: OTLP headers (e.g. an API key for a hosted collector) are read from the
environment variable named by `otlp_headers_env`, in the OTel `k1=v1,k2=v2` format.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TelemetryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service_name: str = Field(default="sluicegate", min_length=1)
    exporter: Literal["none", "console", "otlp"] = Field(
        default="none", description="where spans go; 'none' makes every span a cheap no-op")
    otlp_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP traces URL, e.g. http://otel-collector:4318/v1/traces")
    otlp_headers_env: str | None = Field(
        default=None, description="env var holding OTLP headers as 'k1=v1,k2=v2' (never inline)")
    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0,
                                description="head sampling for root spans without a sampled parent")
    metrics: bool = Field(default=True, description="serve GET /metrics (Prometheus text format)")
    access_log: bool = Field(default=False, description="log one line per request (model, deployment, attempts, "
                             "status, latency); failed and retried requests are always logged")
    record_content: bool = Field(
        default=False, description="record prompt/completion text on spans (redacted); off by default")
    content_max_chars: int = Field(default=2000, ge=0, description="truncate recorded content to this")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto", description="auto: human-readable text on a terminal, JSON lines otherwise")

    @model_validator(mode="after")
    def _otlp_needs_endpoint(self) -> TelemetryConfig:
        if self.exporter == "otlp" and not self.otlp_endpoint:
            raise ValueError("telemetry.exporter is 'otlp' but telemetry.otlp_endpoint is not set; "
                             "set it to the collector's OTLP/HTTP traces URL "
                             "(e.g. http://otel-collector:4318/v1/traces)")
        return self
