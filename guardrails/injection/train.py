"""Build guardrails/injection/injection_model.json.gz from the protocol's training split only.

    python -m guardrails.injection.train            # rebuild the shipped artifact (~1-4 min here)
    python -m guardrails.injection.train --check    # rebuild in memory, compare with the artifact

Deterministic: fixed fold seed, lbfgs, sorted vocabularies, gzip with mtime 0. The decision
rule (see choose_rule) is chosen by 5-fold cross-validation on the training split only.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from guardrails.injection.data import Example, train_split
from guardrails.injection.features import CUE_NAMES, cue_vector, has_directive, normalize
from guardrails.injection.model import ARTIFACT


@dataclass(frozen=True)
class TrainParams:
    deepset_weight: float = 1.0
    C: float = 30.0
    cue_weight: float = 1.0
    fpr_cap: float = 0.02
    dev_fpr_cap: float = 0.05
    folds: int = 5
    seed: int = 0


def _vectorizer_params() -> list[dict[str, Any]]:
    return [
        {"ngram_range": (1, 2), "sublinear_tf": True, "lowercase": False},
        {"analyzer": "char_wb", "ngram_range": (2, 5), "sublinear_tf": True, "min_df": 2, "lowercase": False},
    ]


def _design(texts: list[str], fitted: list[Any] | None, p: TrainParams) -> tuple[Any, list[Any]]:
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer

    norm = [normalize(t) for t in texts]
    if fitted is None:
        fitted = [TfidfVectorizer(**vp).fit(norm) for vp in _vectorizer_params()]
    cues = np.array([cue_vector(t, n) for t, n in zip(texts, norm, strict=True)]) * p.cue_weight
    return sp.hstack([v.transform(norm) for v in fitted] + [sp.csr_matrix(cues)]).tocsr(), fitted


def _fit(ex: list[Example], p: TrainParams) -> tuple[Any, list[Any]]:
    from sklearn.linear_model import LogisticRegression

    X, vecs = _design([e.text for e in ex], None, p)
    y = np.array([e.label for e in ex])
    w = np.array([p.deepset_weight if e.source == "deepset" else 1.0 for e in ex])
    clf = LogisticRegression(C=p.C, max_iter=5000, class_weight="balanced").fit(X, y, sample_weight=w)
    return clf, vecs


DEV_TRIGGER_SET = Path(__file__).with_name("benign_trigger_dev.txt")


def read_lines(path: Path) -> list[str]:
    return [s.strip() for s in path.read_text(encoding="utf-8").splitlines() if s.strip() and not s.startswith("#")]


def oof_scores(ex: list[Example], dev: list[str], p: TrainParams) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold scores for the training rows, and the fold models' mean score for the dev texts."""
    from sklearn.model_selection import StratifiedKFold

    strata = np.array([f"{e.source}:{e.label}" for e in ex])
    oof = np.zeros(len(ex))
    dev_scores = np.zeros(len(dev))
    for a, b in StratifiedKFold(p.folds, shuffle=True, random_state=p.seed).split(np.zeros(len(ex)), strata):
        clf, vecs = _fit([ex[i] for i in a], p)
        Xb, _ = _design([ex[i].text for i in b], vecs, p)
        oof[b] = clf.predict_proba(Xb)[:, 1]
        Xd, _ = _design(dev, vecs, p)
        dev_scores += clf.predict_proba(Xd)[:, 1] / p.folds
    return oof, dev_scores


def choose_rule(ex: list[Example], oof: np.ndarray, dev: list[str], dev_scores: np.ndarray,
                p: TrainParams) -> tuple[dict[str, float], dict[str, float]]:
    """Pick (threshold, strong_threshold, long_chars) from out-of-fold scores.

    Decision: score >= threshold and (a directive cue, or score >= strong_threshold, or the text is
    at least long_chars long). Maximise out-of-fold F1 on the deepset training rows subject to
    out-of-fold benign FPR <= fpr_cap on the training split and FPR <= dev_fpr_cap on the
    development set of benign trigger-word prompts (guardrails/injection/benign_trigger_dev.txt;
    the classifier never trains on it, the rule is tuned on it; the test set is another file).
    Ties go to the most conservative rule for short texts.
    """
    from sklearn.metrics import f1_score

    y = np.array([e.label for e in ex])
    deep = np.array([e.source == "deepset" for e in ex])
    directive = np.array([has_directive(e.text, normalize(e.text)) for e in ex])
    length = np.array([len(e.text) for e in ex])
    d_dir = np.array([has_directive(t, normalize(t)) for t in dev])
    d_len = np.array([len(t) for t in dev])
    rows = []
    for t in np.round(np.arange(0.2, 0.95, 0.025), 3):
        for hi in (0.7, 0.8, 0.85, 0.9, 0.925, 0.95, 0.975, 0.99, 1.01):
            if hi < t:
                continue
            for long_chars in (150, 200, 300, 500, 1000, 10**9):
                pred = (oof >= t) & (directive | (oof >= hi) | (length >= long_chars))
                fpr = float((pred & (y == 0)).sum() / max(1, (y == 0).sum()))
                dpred = (dev_scores >= t) & (d_dir | (dev_scores >= hi) | (d_len >= long_chars))
                dfpr = float(dpred.mean()) if len(dev) else 0.0
                if fpr <= p.fpr_cap and dfpr <= p.dev_fpr_cap:
                    rows.append((round(float(f1_score(y[deep], pred[deep])), 4), float(hi), long_chars, float(t), fpr, dfpr))
    f1, hi, long_chars, t, fpr, dfpr = max(rows, key=lambda r: (r[0], r[1], r[2], r[3]))
    rule = {"threshold": t, "strong_threshold": hi, "long_chars": int(long_chars)}
    return rule, {"cv_deepset_f1": f1, "cv_benign_fpr": round(fpr, 4), "dev_trigger_fpr": round(dfpr, 4)}


def _g(x: float) -> float:
    return float(f"{x:.7g}")


def build(params: TrainParams | None = None, *, rule: dict[str, float] | None = None,
          data_dir: Path | None = None) -> dict[str, Any]:
    """`rule` skips the cross-validation (tests use the shipped rules to check reproducibility fast;
    the caller then fills in "cv" and "conservative")."""
    p = params or TrainParams()
    ex = train_split(data_dir)
    cv: dict[str, float] = {}
    conservative: dict[str, Any] = {}
    if rule is None:
        dev = read_lines(DEV_TRIGGER_SET)
        oof, dev_scores = oof_scores(ex, dev, p)
        # default: best deepset F1 under the training-FPR cap; conservative: also spare the dev
        # set of benign trigger-word prompts (FPR <= dev_fpr_cap), at a cost in recall
        rule, cv = choose_rule(ex, oof, dev, dev_scores, replace(p, dev_fpr_cap=1.0))
        c_rule, c_cv = choose_rule(ex, oof, dev, dev_scores, p)
        conservative = {**c_rule, "cv": c_cv}
    clf, vecs = _fit(ex, p)
    coef = clf.coef_[0]
    blocks, off = [], 0
    for vp, v in zip(_vectorizer_params(), vecs, strict=True):
        terms = sorted(v.vocabulary_, key=v.vocabulary_.__getitem__)
        n = len(terms)
        blocks.append({
            "params": {**vp, "ngram_range": list(vp["ngram_range"])},
            "terms": terms,
            "idf": [_g(x) for x in v.idf_],
            "coef": [_g(x) for x in coef[off : off + n]],
        })
        off += n
    return {
        "format": 1,
        "params": asdict(p),
        "train_rows": len(ex),
        **rule,
        "cv": cv,
        "conservative": conservative,
        "intercept": _g(clf.intercept_[0]),
        "cue_names": list(CUE_NAMES),
        "cue_weights": [_g(x * p.cue_weight) for x in coef[off:]],
        "vectorizers": blocks,
    }


def dump(spec: dict[str, Any]) -> bytes:
    raw = json.dumps(spec, ensure_ascii=False, separators=(",", ":")).encode()
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as f:
        f.write(raw)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ARTIFACT)
    ap.add_argument("--check", action="store_true", help="rebuild and compare with --out; exit 1 on a difference")
    ap.add_argument("--deepset-weight", type=float, default=TrainParams.deepset_weight)
    args = ap.parse_args(argv)
    spec = build(TrainParams(deepset_weight=args.deepset_weight))
    print("rule", {k: spec[k] for k in ("threshold", "strong_threshold", "long_chars")}, "cv", spec["cv"],
          "conservative", spec["conservative"])
    blob = dump(spec)
    if args.check:
        same = args.out.exists() and args.out.read_bytes() == blob
        print("artifact reproduces" if same else "artifact differs from a fresh build")
        return 0 if same else 1
    args.out.write_bytes(blob)
    print(f"wrote {args.out} ({len(blob) / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
