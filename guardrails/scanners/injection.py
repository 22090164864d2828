"""Prompt-injection / jailbreak scanner backed by the shipped classifier (see guardrails/injection)."""

from __future__ import annotations

import threading
from pathlib import Path

from guardrails.injection.model import InjectionModel
from guardrails.scanners.base import Scanner
from guardrails.types import Finding, ScanContext

_MODELS: dict[Path | None, InjectionModel] = {}
_LOCK = threading.Lock()


def load_model(path: Path | None = None) -> InjectionModel:
    """Loaded once per process and shared (it is read-only)."""
    with _LOCK:
        if path not in _MODELS:
            _MODELS[path] = InjectionModel.load(path)
        return _MODELS[path]


class InjectionScanner(Scanner):
    name = "injection"

    def __init__(self, *, threshold: float | None = None, model_path: Path | None = None,
                 operating_point: str = "default", name: str = "injection") -> None:
        self.name = name
        self._threshold = threshold
        self._path = model_path
        self.operating_point = operating_point

    @property
    def model(self) -> InjectionModel:
        return load_model(self._path)

    @property
    def threshold(self) -> float:
        return self._threshold if self._threshold is not None else self.model.rules[self.operating_point][0]

    def warm(self) -> None:
        if self.operating_point not in self.model.rules:
            raise ValueError(f"the injection model has no operating point {self.operating_point!r}")
        if self.model.needs_embedder(self.operating_point):
            self.model.warm_embedder()

    def score(self, text: str) -> float:
        return self.model.score(text)

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        if not text.strip():
            return []
        hit, s = self.model.decide(text, self._threshold, self.operating_point)
        return [Finding("prompt_injection", score=s)] if hit else []
