"""The two n-gram analyzers of the injection model's TF-IDF vectorizers, as scikit-learn 1.x builds
them (`TfidfVectorizer(...).build_analyzer()` for `analyzer="word"` and `"char_wb"`).

Training uses scikit-learn itself; inference uses these so the gateway need not import it:
importing `sklearn.feature_extraction.text` costs ~130 MB of resident memory per process here,
for two string functions. tests/guardrails/test_injection_ngrams.py checks that they give
exactly scikit-learn's n-grams on every training and dev text; parameters that would change the
analysis and are not implemented here are refused rather than ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern
WHITE_SPACES = re.compile(r"\s\s+")  # scikit-learn's _white_spaces

# Parameters handled here (analyzer, ngram_range, lowercase, the default token_pattern) or that
# only affect weighting and vocabulary selection, not the n-grams of a text.
_KNOWN = {"sublinear_tf", "min_df", "max_df", "max_features", "norm", "use_idf", "smooth_idf", "dtype",
              "binary", "ngram_range", "analyzer", "lowercase", "token_pattern"}


def build_analyzer(params: dict[str, Any]) -> Callable[[str], list[str]]:
    unsupported = set(params) - _KNOWN
    if unsupported:
        raise ValueError(f"n-gram analyzer parameters not supported without scikit-learn: {sorted(unsupported)}")
    if params.get("token_pattern", TOKEN.pattern) != TOKEN.pattern:
        raise ValueError("a token_pattern other than scikit-learn's default is not supported")
    lo, hi = (int(x) for x in params.get("ngram_range", (1, 1)))
    lower = bool(params.get("lowercase", True))
    kind = params.get("analyzer", "word")
    if kind == "word":
        return lambda doc: _word_ngrams(TOKEN.findall(doc.lower() if lower else doc), lo, hi)
    if kind == "char_wb":
        return lambda doc: _char_wb_ngrams(doc.lower() if lower else doc, lo, hi)
    raise ValueError(f"n-gram analyzer {kind!r} is not supported without scikit-learn")


def _word_ngrams(tokens: list[str], lo: int, hi: int) -> list[str]:
    if hi == 1:
        return tokens
    out = list(tokens) if lo == 1 else []
    n_tokens = len(tokens)
    for n in range(max(lo, 2), min(hi + 1, n_tokens + 1)):
        out.extend(" ".join(tokens[i : i + n]) for i in range(n_tokens - n + 1))
    return out


def _char_wb_ngrams(text: str, lo: int, hi: int) -> list[str]:
    out: list[str] = []
    for word in WHITE_SPACES.sub(" ", text).split():
        w = " " + word + " "
        for n in range(lo, hi + 1):
            out.extend(w[i : i + n] for i in range(max(1, len(w) - n + 1)))
            if len(w) <= n:  # a short word yields itself once, not once per n
                break
    return out
