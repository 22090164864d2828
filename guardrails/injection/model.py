"""The shipped injection classifier: word + char TF-IDF and cue features into logistic regression.

The artifact is gzipped JSON (no pickle): per vectorizer its terms, idf and the model weights, plus
the cue weights, intercept and decision threshold. It is built by guardrails/injection/train.py
from the protocol's training split only. Inference reuses sklearn's own analyzers (so n-grams are
exactly those the model was trained on) and scores with dict look-ups, which costs a fraction of
sklearn's `transform` on a single short text.
"""

from __future__ import annotations

import gzip
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guardrails.injection.features import CUE_NAMES, cue_vector, has_directive, normalize

ARTIFACT = Path(__file__).with_name("injection_model.json.gz")


@dataclass(slots=True)
class _Block:
    """One TF-IDF vectorizer's slice of the linear model."""

    analyzer: Any  # str -> list[str], sklearn's
    table: dict[str, tuple[float, float]]  # term -> (idf, coef): one look-up per n-gram


def _rule(d: dict[str, Any]) -> tuple[float, float, int]:
    t = float(d["threshold"])
    return t, float(d.get("strong_threshold", t)), int(d.get("long_chars", 0))


class InjectionModel:
    def __init__(self, spec: dict[str, Any]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.spec = spec
        self.rules: dict[str, tuple[float, float, int]] = {"default": _rule(spec)}
        if spec.get("conservative"):
            self.rules["conservative"] = _rule(spec["conservative"])
        self.threshold, self.strong_threshold, self.long_chars = self.rules["default"]
        self.intercept = float(spec["intercept"])
        self.cue_weights = [float(w) for w in spec["cue_weights"]]
        if list(spec["cue_names"]) != list(CUE_NAMES):
            raise ValueError("injection model artifact was built with other cue features; rebuild it")
        self.blocks: list[_Block] = []
        for b in spec["vectorizers"]:
            vec = TfidfVectorizer(**b["params"])
            self.blocks.append(
                _Block(
                    analyzer=vec.build_analyzer(),
                    table=dict(zip(b["terms"], zip(b["idf"], b["coef"], strict=True), strict=True)),
                )
            )

    @classmethod
    def load(cls, path: Path | None = None) -> InjectionModel:
        with gzip.open(path or ARTIFACT, "rt", encoding="utf-8") as f:
            return cls(json.load(f))

    def score(self, text: str) -> float:
        """Probability-like score in [0, 1] that `text` is an injection/jailbreak attempt."""
        return self._score(text, normalize(text))

    def logit(self, text: str) -> float:
        """The linear model's decision value (what sklearn's decision_function gives)."""
        return self._logit(text, normalize(text))

    def _score(self, text: str, norm: str) -> float:
        z = self._logit(text, norm)
        return 1.0 / (1.0 + math.exp(-z)) if z > -500 else 0.0

    def _logit(self, text: str, norm: str) -> float:
        z = self.intercept
        for block in self.blocks:
            counts = Counter(block.analyzer(norm))
            num = 0.0
            sq = 0.0
            table = block.table
            for term, tf in counts.items():
                entry = table.get(term)
                if entry is None:
                    continue
                idf, w = entry
                v = idf if tf == 1 else (1.0 + math.log(tf)) * idf  # sublinear tf * idf, as sklearn
                sq += v * v
                num += v * w
            if sq > 0.0:
                z += num / math.sqrt(sq)  # each vectorizer's row is L2-normalised
        for w, c in zip(self.cue_weights, cue_vector(text, norm), strict=True):
            z += w * c
        return z

    def decide(self, text: str, threshold: float | None = None, rule: str = "default") -> tuple[bool, float]:
        """(is_injection, score). Below strong_threshold, texts shorter than long_chars also need a
        directive cue (see features.has_directive)."""
        norm = normalize(text)
        s = self._score(text, norm)
        t, strong, long_chars = self.rules[rule]
        if threshold is not None:
            t = threshold
        if s < t:
            return False, s
        if s >= strong or len(text) >= long_chars:
            return True, s
        return has_directive(text, norm), s

    def is_injection(self, text: str) -> bool:
        return self.decide(text)[0]
