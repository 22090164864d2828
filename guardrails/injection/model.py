"""The shipped injection classifier: word + char TF-IDF and cue features into logistic regression,
with a second opinion from logistic regression over MiniLM sentence embeddings for short texts
that only a directive cue would otherwise let through.

The artifact is gzipped JSON (no pickle): per vectorizer its terms, idf and the model weights, plus
the cue weights, intercept and decision threshold. It is built by tools/injection_training/train.py
(training code, not shipped in the wheel) from the protocol's training split only. Inference builds
the same n-grams as scikit-learn's analyzers (guardrails/injection/ngrams.py, tested equal; not
importing scikit-learn saves ~130 MB per process) and scores with numpy over vocabulary indices,
which costs a fraction of sklearn's `transform` on a single short text. char_wb n-grams never cross
whitespace, so a document's char n-grams are the concatenation of its words' n-grams: each word's
vocabulary indices are computed once and cached (bounded), which removes most of the per-request
n-gram generation.
"""

from __future__ import annotations

import gzip
import json
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from guardrails.injection.features import (
    CUE_NAMES,
    asks_about,
    cue_vector,
    has_directive,
    mostly_english,
    normalize,
)
from guardrails.injection.ngrams import build_analyzer

ARTIFACT = Path(__file__).with_name("injection_model.json.gz")


@dataclass(slots=True)
class _Block:
    """One TF-IDF vectorizer's slice of the linear model."""

    analyzer: Any  # str -> list[str], scikit-learn's n-grams (ngrams.build_analyzer)
    index: dict[str, int]  # term -> column
    idf: np.ndarray
    coef: np.ndarray
    per_word: bool  # char_wb: n-grams are computed word by word (and cached)
    cache: dict[str, np.ndarray] = field(default_factory=dict)  # word -> its n-grams' columns

    def columns(self, norm: str) -> np.ndarray:
        """Vocabulary columns of the text's n-grams, with repeats (out-of-vocabulary ones dropped:
        they carry no weight)."""
        index = self.index
        if not self.per_word:
            get = index.get
            return np.fromiter((c for c in map(get, self.analyzer(norm)) if c is not None), dtype=np.int64)
        cache = self.cache
        parts = []
        for w in norm.split():  # what sklearn's char_wb does (after collapsing whitespace runs)
            cols = cache.get(w)
            if cols is None:
                cols = np.fromiter((index[g] for g in self.analyzer(w) if g in index), dtype=np.int64)
                if len(cache) >= _WORD_CACHE:
                    cache.clear()  # bounded; refills with the words that keep coming
                cache[w] = cols
            parts.append(cols)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def logit(self, norm: str) -> float:
        cols, tf = np.unique(self.columns(norm), return_counts=True)
        if not len(cols):
            return 0.0
        v = (1.0 + np.log(tf)) * self.idf[cols]  # sublinear tf * idf, as sklearn
        sq = float(v @ v)
        return float(v @ self.coef[cols]) / math.sqrt(sq) if sq > 0.0 else 0.0  # L2-normalised row


_WORD_CACHE = 50_000

Embedder = Callable[[Sequence[str]], np.ndarray]  # texts -> (n, 384) all-MiniLM-L6-v2 unit vectors

_host_embedder: Embedder | None = None


def use_host_embedder(embed: Embedder | None) -> None:
    """Hand the models the host's all-MiniLM-L6-v2 embedder (`list[str] -> (n, 384)` unit vectors)
    instead of loading a second copy of the model; the gateway passes its own. None: run standalone."""
    global _host_embedder
    _host_embedder = embed


def standalone_embedder() -> Embedder:
    """guardrails run on their own (`sluice guardrails scan/eval`, benches, tests), with no embedder
    handed in: the `minilm` loader, each text alone on one thread (how the model was trained)."""
    from minilm import MiniLMEmbedder

    model = MiniLMEmbedder(batch_size=1, threads=1)
    return lambda texts: model.embed(list(texts))


class Rule(NamedTuple):
    """An operating point (chosen by choose_rule in tools/injection_training/train.py); a tuple,
    threshold first (the scanner reads [0])."""

    threshold: float
    strong_threshold: float
    long_chars: int
    embed_threshold: float
    foreign_threshold: float


def _rule(d: dict[str, Any]) -> Rule:
    t = float(d["threshold"])
    return Rule(t, float(d.get("strong_threshold", t)), int(d.get("long_chars", 0)),
                float(d.get("embed_threshold", 0.0)), float(d.get("foreign_threshold", 0.0)))


class InjectionModel:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.rules: dict[str, Rule] = {"default": _rule(spec)}
        if spec.get("conservative"):
            self.rules["conservative"] = _rule(spec["conservative"])
        self.threshold = self.rules["default"].threshold
        # TrainParams.asks_about_veto (tools/injection_training/train.py): short texts that ask
        # about something are never flagged
        self.asks_about_veto = bool(spec.get("params", {}).get("asks_about_veto", False))
        emb = spec.get("embed")
        self.embed_coef = np.asarray(emb["coef"], dtype=np.float64) if emb else None
        self.embed_intercept = float(emb["intercept"]) if emb else 0.0
        self._embedder: Embedder | None = None
        self._embedder_lock = threading.Lock()
        self.intercept = float(spec["intercept"])
        self.cue_weights = [float(w) for w in spec["cue_weights"]]
        if list(spec["cue_names"]) != list(CUE_NAMES):
            raise ValueError("injection model artifact was built with other cue features; rebuild it")
        self.blocks: list[_Block] = []
        for b in spec["vectorizers"]:
            if len(b["idf"]) != len(b["terms"]) or len(b["coef"]) != len(b["terms"]):
                raise ValueError("injection model artifact is inconsistent; rebuild it")
            self.blocks.append(
                _Block(
                    analyzer=build_analyzer(b["params"]),
                    index={t: i for i, t in enumerate(b["terms"])},
                    idf=np.asarray(b["idf"], dtype=np.float64),
                    coef=np.asarray(b["coef"], dtype=np.float64),
                    per_word=b["params"].get("analyzer") == "char_wb",
                )
            )

    @classmethod
    def load(cls, path: Path | None = None) -> InjectionModel:
        """Load the artifact. The sentence embedder is loaded only for an operating point that uses
        it (`warm_embedder`, or on first use): at the default point it never runs, and it costs
        ~200 MB of memory."""
        with gzip.open(path or ARTIFACT, "rt", encoding="utf-8") as f:
            return cls(json.load(f))

    def needs_embedder(self, rule: str = "default") -> bool:
        return self.embed_coef is not None and self.rules[rule].embed_threshold > 0.0

    def warm_embedder(self) -> None:
        """Load the embedder and run it once (onnxruntime's first run allocates), so the first
        request that needs a second opinion does not pay for either."""
        if (embedder := self.embedder()) is not None:
            embedder(["warm-up"])

    def embedder(self) -> Embedder | None:
        """The host's embedder when one was handed in (use_host_embedder), else a standalone one,
        loaded once (it runs on the caller's thread); None when the artifact has no embedding model."""
        if self.embed_coef is None:
            return None
        if _host_embedder is not None:
            return _host_embedder
        if self._embedder is None:
            with self._embedder_lock:
                if self._embedder is None:
                    self._embedder = standalone_embedder()
        return self._embedder

    def embed_score(self, text: str) -> float:
        """The embedding model's probability that `text` is an injection (1.0 when the artifact has
        no embedding model, so the rule reduces to the TF-IDF model's)."""
        if self.embed_coef is None:
            return 1.0
        embedder = self.embedder()
        assert embedder is not None  # embed_coef is set
        z = float(embedder([text])[0].astype(np.float64) @ self.embed_coef) + self.embed_intercept
        return 1.0 / (1.0 + math.exp(-z)) if z > -500 else 0.0

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
            z += block.logit(norm)
        for w, c in zip(self.cue_weights, cue_vector(text, norm), strict=True):
            z += w * c
        return z

    def decide(self, text: str, threshold: float | None = None, rule: str = "default") -> tuple[bool, float]:
        """(is_injection, score). Texts shorter than long_chars that ask about something
        (features.asks_about, when the artifact's asks_about_veto is on) are not flagged; the other
        short ones below strong_threshold also need a directive cue (see features.has_directive)
        and a second opinion: an embedding-model score >= embed_threshold for mostly-English text,
        a score >= foreign_threshold for other text. Only the English case runs the sentence
        embedder (a few ms for a short text). The training code's apply_rule is this, vectorised."""
        norm = normalize(text)
        s = self._score(text, norm)
        r = self.rules[rule]
        t = r.threshold if threshold is None else threshold
        if s < t:
            return False, s
        if len(text) >= r.long_chars:
            return True, s
        if self.asks_about_veto and asks_about(text):
            return False, s
        if s >= r.strong_threshold:
            return True, s
        if not has_directive(text, norm):
            return False, s
        if not mostly_english(text):
            return s >= r.foreign_threshold, s
        return r.embed_threshold <= 0.0 or self.embed_score(text) >= r.embed_threshold, s

    def is_injection(self, text: str) -> bool:
        return self.decide(text)[0]
