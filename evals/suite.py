"""Suite files (YAML): what to evaluate, on which cases, with which checks and thresholds."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evals.dataset import AssertionSpec, Case, load_cases
from evals.errors import SuiteError


class Target(BaseModel):
    """Exactly one of prompt (name[@label|version]), model (alias) or rag (pipeline name)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str | None = None
    model: str | None = Field(default=None, description="model alias; with prompt, overrides the prompt's model")
    rag: str | None = None
    input: str = Field(default="{{ input }}", description="user message template for model/rag targets")
    system: str | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="request parameters (override the prompt's)")

    @model_validator(mode="after")
    def _one_kind(self) -> Target:
        if self.prompt is None and self.model is None and self.rag is None:
            raise ValueError("target needs one of prompt, model or rag")
        if self.rag is not None and (self.prompt is not None or self.model is not None):
            raise ValueError("target rag cannot be combined with prompt or model")
        return self


class Threshold(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min: float | None = None
    max: float | None = None


def _every_trial_passes() -> dict[str, float | Threshold]:
    return {"pass_rate": 1.0}


class SuiteSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = ""
    registry: str | None = Field(default=None, description="prompt registry folder (relative to the suite file)")
    target: Target
    dataset: str | list[dict[str, Any]]
    assert_: list[AssertionSpec] = Field(default_factory=list, alias="assert")
    thresholds: dict[str, float | Threshold] = Field(default_factory=lambda: _every_trial_passes())
    repeats: int = Field(default=1, ge=1, le=100)
    concurrency: int = Field(default=8, ge=1, le=512)
    timeout_s: float = Field(default=60.0, gt=0)
    retries: int = Field(default=2, ge=0, le=10)
    judge_model: str | None = Field(default=None, description="default model for llm-rubric and LLM ragas metrics")
    judge_max_tokens: int = Field(default=256, ge=1, le=32768, strict=True,  # model_checks.JUDGE_MAX_TOKENS
                                  description="the llm-rubric judge's answer bound (an assertion's options.max_tokens "
                                              "overrides it)")
    embedding_model: str | None = Field(default=None, description="default model for similar")

    def threshold_bounds(self) -> dict[str, Threshold]:
        return {k: (v if isinstance(v, Threshold) else Threshold(min=v)) for k, v in self.thresholds.items()}


class Suite:
    """A parsed suite plus where it came from and its cases."""

    def __init__(self, spec: SuiteSpec, path: Path | None, cases: list[Case], source_hash: str) -> None:
        self.spec = spec
        self.path = path
        self.cases = cases
        self.source_hash = source_hash

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def registry_dir(self, override: str | Path | None = None) -> Path:
        if override is not None:
            return Path(override)
        if self.spec.registry is None:
            return Path("prompts")
        return (self.base_dir / self.spec.registry).resolve()

    def assertions_for(self, case: Case) -> list[AssertionSpec]:
        return list(self.spec.assert_) + list(case.assert_)


def load_suite(path: str | Path, *, allow_outside_dataset: bool = False) -> Suite:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SuiteError(f"cannot read suite {path}: {e.strerror}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SuiteError(f"{path}: not valid YAML: {e}") from e
    return suite_from_dict(data, path=path, source=text, allow_outside_dataset=allow_outside_dataset)


def suite_from_dict(data: Any, *, path: Path | None = None, source: str | None = None,
                    allow_outside_dataset: bool = False) -> Suite:
    where = str(path) if path else "suite"
    if not isinstance(data, dict):
        raise SuiteError(f"{where}: expected a mapping at the top level")
    try:
        spec = SuiteSpec.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise SuiteError(f"{where}: {loc}: {first['msg']}") from e
    cases = load_cases(spec.dataset, path.parent if path else Path.cwd(), allow_outside=allow_outside_dataset)
    raw = source if source is not None else yaml.safe_dump(data, sort_keys=True)
    return Suite(spec, path, cases, "sha256:" + hashlib.sha256(raw.encode()).hexdigest())
