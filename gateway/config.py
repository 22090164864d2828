"""YAML config -> typed pydantic models. Unknown keys are rejected naming the key and the file.

Secrets are never inline: a deployment names the environment variable that holds its key
(`api_key_env: OPENAI_API_KEY`). Each capability owns its section's model in its own package;
this module only composes them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gateway.cache.config import CacheConfig
from gateway.capture.config import CaptureConfig
from gateway.errors import ConfigError
from gateway.spend.config import AuthConfig, SpendConfig
from gateway.spend.config import ModelPrice as Price  # a deployment's `price`
from gateway.telemetry.config import TelemetryConfig
from guardrails.config import GuardrailsConfig
from prompts.config import PromptsConfig
from rag.config import RagConfig


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Deployment(StrictModel):
    """One upstream serving a model group."""

    id: str | None = None
    provider: str = Field(description="registered provider kind: openai, azure, anthropic, llamacpp, minilm, ...")
    model: str
    api_base: str | None = None
    api_key_env: str | None = None
    api_version: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    weight: float = Field(default=1.0, gt=0)
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    max_in_flight: int | None = Field(default=None, gt=0)
    timeout_s: float = Field(default=60.0, gt=0)
    price: Price | None = None
    options: dict[str, Any] = Field(default_factory=dict, description="provider-specific settings")

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict) and "api_key" in data:
            raise ValueError("api_key must not be written in the config; put it in an environment "
                             "variable and name it with api_key_env: NAME")
        return data

    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None


class ModelGroup(StrictModel):
    """A public model name (alias) served by one or more deployments."""

    name: str = Field(min_length=1)
    mode: Literal["chat", "embedding"] = "chat"
    strategy: Literal["weighted", "least-busy", "lowest-latency", "lowest-cost"] = "weighted"
    deployments: list[Deployment] = Field(min_length=1)
    fallbacks: list[str] = Field(default_factory=list)
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _name_is_not_reserved(cls, v: str) -> str:
        if v.startswith(("rag:", "prompt:")):
            raise ValueError("model names starting with 'rag:' or 'prompt:' are reserved")
        return v


class RetryPolicy(StrictModel):
    max_retries: int = Field(default=2, ge=0, le=10)
    backoff_base_s: float = Field(default=0.05, ge=0)
    backoff_max_s: float = Field(default=2.0, ge=0)
    max_retry_after_s: float = Field(default=10.0, ge=0, description="longest upstream Retry-After honoured")


class CooldownPolicy(StrictModel):
    failures: int = Field(default=3, ge=1)
    window_s: float = Field(default=60.0, gt=0)
    cooldown_s: float = Field(default=30.0, ge=0)


class RouterConfig(StrictModel):
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    cooldown: CooldownPolicy = Field(default_factory=CooldownPolicy)
    queue_timeout_s: float = Field(default=5.0, ge=0, description="wait for a free deployment before 503")
    total_deadline_s: float = Field(default=600.0, gt=0)
    ewma_alpha: float = Field(default=0.2, gt=0, le=1)


class MetricsAccess(StrictModel):
    """Who may read GET /metrics. With auth off it is open on the main port (as every route is);
    with auth on it needs `Authorization: Bearer <token>`: the token from `token_env`, or the
    master key when no token is configured. `port` moves it to a listener of its own."""

    token_env: str | None = Field(default=None, description="env var holding the scrapers' bearer token")
    public: bool = Field(default=False, description="no token even with auth on (the network restricts it)")
    port: int | None = Field(default=None, ge=0, le=65535, description="serve /metrics only on this port")
    host: str = Field(default="127.0.0.1", description="bind address of the metrics listener")


class CorsConfig(StrictModel):
    """Starlette's CORSMiddleware over every route; off until an origin is allowed."""

    allow_origins: list[str] = Field(default_factory=list, description='exact origins, or ["*"]')
    allow_origin_regex: str | None = None
    allow_methods: list[str] = Field(default_factory=lambda: ["GET", "POST", "PATCH", "DELETE", "OPTIONS"])
    allow_headers: list[str] = Field(default_factory=lambda: ["authorization", "content-type", "x-request-id",
                                                              "x-sluice-cache", "openai-organization"])
    expose_headers: list[str] = Field(default_factory=lambda: ["x-request-id", "x-sluice-model", "x-sluice-attempts",
                                                               "x-sluice-cost-usd", "retry-after"])
    allow_credentials: bool = False
    max_age_s: int = Field(default=600, ge=0)

    @property
    def enabled(self) -> bool:
        return bool(self.allow_origins or self.allow_origin_regex)


class ServerConfig(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(default=4000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    drain_timeout_s: float = Field(default=30.0, ge=0)
    reload_watch: bool = Field(default=True, description="reload the config when the file changes")
    # Slow clients (gateway/http_server.py), in the manner of Apache's mod_reqtimeout.
    header_timeout_s: float = Field(default=10.0, gt=0, description="the request line and headers must arrive "
                                    "within this, from the connection's opening or a keep-alive request's first byte")
    body_timeout_s: float = Field(default=20.0, gt=0, description="time allowed for the body after the headers, "
                                  "extended by one second per min_body_rate_bytes_s bytes received")
    min_body_rate_bytes_s: int = Field(default=500, ge=0, description="0: no extension; the body gets body_timeout_s")
    body_max_s: float = Field(default=300.0, gt=0, description="the body's deadline never extends past this")
    docs: bool | None = Field(default=None, description="serve /openapi.json, /docs and /redoc; "
                              "null: only while auth is off")
    metrics: MetricsAccess = Field(default_factory=MetricsAccess)
    cors: CorsConfig = Field(default_factory=CorsConfig)


class ResponsesConfig(StrictModel):
    """The Responses API's stored responses (`store`, `previous_response_id`, `GET /v1/responses/{id}`)."""

    ttl_s: float = Field(default=30 * 86400, gt=0, description="a stored response is kept this long (OpenAI: 30 days)")
    max_stored_bytes: int = Field(default=4 * 1024 * 1024, gt=0, description="a response whose conversation is "
                                  "larger is not stored (its request says store: false in effect; the answer stands)")
    memory_entries: int = Field(default=10_000, gt=0, description="without a database (spend and auth off), the "
                                "most responses kept in memory")


class Config(StrictModel):
    server: ServerConfig = Field(default_factory=ServerConfig)
    router: RouterConfig = Field(default_factory=RouterConfig)
    models: list[ModelGroup] = Field(default_factory=list)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    spend: SpendConfig = Field(default_factory=SpendConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    guardrails: GuardrailsConfig = Field(default_factory=GuardrailsConfig)
    prompts: PromptsConfig = Field(default_factory=PromptsConfig)
    rag: RagConfig = Field(default_factory=RagConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    responses: ResponsesConfig = Field(default_factory=ResponsesConfig)
    capture: CaptureConfig = Field(default_factory=CaptureConfig)

    # Where relative paths in the config resolve from (the config file's folder).
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _names_unique_and_fallbacks_known(self) -> Config:
        names = [g.name for g in self.models]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"model group names must be unique; repeated: {sorted(dup)}")
        known = set(names)
        for g in self.models:
            for fb in g.fallbacks:
                if fb not in known:
                    raise ValueError(f"model group {g.name!r} falls back to unknown group {fb!r}")
            for i, d in enumerate(g.deployments):
                if d.id is None:
                    d.id = f"{g.name}/{d.provider}/{d.model}#{i}"
        return self

    def group(self, name: str) -> ModelGroup | None:
        for g in self.models:
            if g.name == name:
                return g
        return None


def _format_errors(path: str, exc: ValidationError) -> str:
    lines = [f"{path}: invalid config ({exc.error_count()} problem{'s' if exc.error_count() > 1 else ''})"]
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            lines.append(f"  {loc}: unknown key {str(e['loc'][-1])!r}; remove it or check its spelling")
        else:
            lines.append(f"  {loc}: {e['msg']}")
    return "\n".join(lines)


def parse_config(data: Any, *, source: str = "<config>", base_dir: Path | None = None) -> Config:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections, got {type(data).__name__}")
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(source, exc)) from None
    if base_dir is not None:
        cfg.base_dir = base_dir
    return cfg


def load_config(path: str | Path) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    return parse_config(data, source=str(p), base_dir=p.resolve().parent)
