"""Datasets: cases inline in the suite, or in a JSONL or CSV file next to it."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evals.errors import SuiteError


class AssertionSpec(BaseModel):
    """One check on a model output. `type` may be prefixed with `not-` to invert a boolean check."""

    model_config = ConfigDict(extra="forbid")

    type: str
    value: Any = None
    threshold: float | None = Field(default=None, description="min score (max for latency/cost)")
    name: str | None = Field(default=None, description="metric name in reports (default: the type)")
    metric: str | None = Field(default=None, description="ragas metric name for type: ragas")
    model: str | None = Field(default=None, description="judge / embedding model for model-backed checks")
    weight: float = Field(default=1.0, ge=0)
    options: dict[str, Any] = Field(default_factory=dict)

    @property
    def metric_name(self) -> str:
        return self.name or (self.metric if self.type == "ragas" and self.metric else self.type)


class Case(BaseModel):
    id: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    input: str | None = None
    expected: Any = None
    assert_: list[AssertionSpec] = Field(default_factory=list, alias="assert")
    metadata: dict[str, Any] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def template_vars(self) -> dict[str, Any]:
        """What assertion values and input templates may refer to: the vars plus input/expected."""
        out = dict(self.vars)
        out.setdefault("input", self.input)
        out.setdefault("expected", self.expected)
        return out


def dataset_path(source: str, base_dir: Path, *, allow_outside: bool = False) -> Path:
    """The dataset file, which must lie inside the suite's folder unless `allow_outside`."""
    base = base_dir.resolve()
    path = (base / source).resolve()
    if not allow_outside and not path.is_relative_to(base):
        raise SuiteError(f"dataset {source!r} lies outside the suite's folder; move it next to the suite, "
                         "or pass --allow-dataset-outside (RunOptions.allow_outside_dataset) if that is intended")
    return path


def load_cases(source: str | list[dict[str, Any]], base_dir: Path, *, allow_outside: bool = False) -> list[Case]:
    if isinstance(source, list):
        rows, where = source, "inline dataset"
    else:
        path = dataset_path(source, base_dir, allow_outside=allow_outside)
        where = f"dataset {source}"
        if not path.exists():
            raise SuiteError(f"{where} does not exist (relative to the suite's folder)")
        if path.suffix == ".jsonl":
            rows = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
        elif path.suffix == ".csv":
            rows = _csv_rows(path)
        else:
            raise SuiteError(f"{where}: use .jsonl or .csv (or list cases inline)")
    cases = []
    for i, row in enumerate(rows):
        try:
            case = Case.model_validate(row)
        except ValidationError as e:
            first = e.errors()[0]
            raise SuiteError(f"{where}, case {i + 1}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from e
        if case.id is None:
            case.id = f"case-{i + 1}"
        cases.append(case)
    ids = [c.id for c in cases]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise SuiteError(f"{where}: duplicate case ids {sorted(str(d) for d in dup)}")
    if not cases:
        raise SuiteError(f"{where}: no cases")
    return cases


def _csv_rows(path: Path) -> list[dict[str, Any]]:
    """CSV columns become vars, except `id`, `input` and `expected`."""
    rows = []
    with path.open(newline="", encoding="utf-8") as f:
        for rec in csv.DictReader(f):
            row: dict[str, Any] = {"vars": {}}
            for key, value in rec.items():
                if key in ("id", "input", "expected"):
                    row[key] = value
                else:
                    row["vars"][key] = value
            rows.append(row)
    return rows


def dataset_hash(cases: list[Case]) -> str:
    payload = [c.model_dump(mode="json", by_alias=True) for c in cases]
    return "sha256:" + hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()
