"""Prompt-injection / jailbreak scanner: model-free structural rules (chat markup spoofing a turn,
authority/override claims, prompt-leak requests; guardrails/injection/structural.py), then the shipped
classifier (guardrails/injection/model.py). Findings carry spans: a structural rule's the matched
text's, the classifier's (`prompt_injection`) the whole scanned text's."""

from __future__ import annotations

import threading
from pathlib import Path

from guardrails.injection import structural
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


def is_injection(text: str, threshold: float | None = None, rule: str = "default") -> bool:
    """The scanner's decision as a callable (structural rules, then the shared model), for callers
    that want a bool, e.g. a RAG pipeline's chunk filter. `threshold` moves the classifier's only."""
    return bool(structural.scan(text)) or load_model().decide(text, threshold, rule)[0]


class InjectionScanner(Scanner):
    name = "injection"

    def __init__(self, *, threshold: float | None = None, model_path: Path | None = None,
                 operating_point: str = "default", name: str = "injection", structural: bool = True) -> None:
        self.name = name
        self.structural = structural  # False: the classifier alone (evaluation)
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
        if self.structural and (found := structural.scan(text)):
            return found
        hit, s = self.model.decide(text, self._threshold, self.operating_point)
        return [Finding("prompt_injection", 0, len(text), score=s)] if hit else []
