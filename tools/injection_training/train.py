"""Build guardrails/injection/injection_model.json.gz from the training data of issue 20's protocol
(guardrails/README.md, "Protocol (issue 20)"): the public protocol rows plus the authored rows in
tools/injection_training/data/train_*.jsonl.

    python -m tools.injection_training.train            # rebuild the shipped artifact (~1-4 min here)
    python -m tools.injection_training.train --check    # rebuild in memory, compare with the artifact

Run from the repository root: training code (scikit-learn, the dev extra) stays out of the wheel.

Deterministic: fixed fold seed, lbfgs, sorted vocabularies, single-threaded ONNX embeddings,
gzip with mtime 0. Two models, both fitted on the training rows: TF-IDF + cues into logistic
regression, and logistic regression over MiniLM sentence embeddings (the second opinion a short
text needs, see choose_rule). The vocabulary setting, the decision rule and the embedding model's
C are chosen by 5-fold cross-validation on the training rows and by the dev set
(benign_trigger_dev.txt + data/dev.jsonl) only; the test splits are never read here.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import io
import json
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from guardrails.datasets import dataset_path
from guardrails.injection import structural
from guardrails.injection.data import Example, train_split
from guardrails.injection.features import (
    CUE_NAMES,
    asks_about,
    cue_vector,
    has_directive,
    mostly_english,
    normalize,
)
from guardrails.injection.model import ARTIFACT


@dataclass(frozen=True)
class TrainParams:
    deepset_weight: float = 1.0
    C: float = 30.0
    cue_weight: float = 1.0
    fpr_cap: float = 0.02
    dev_fpr_cap: float = 0.02  # on the dev set's benign prompts (issue 20 protocol)
    gandalf_recall_floor: float = 0.98  # the Gandalf target, held out of fold on its train lines
    folds: int = 5
    seed: int = 0
    embed_Cs: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0)  # the embedding model's C, chosen by CV
    asks_about_veto: bool = True  # a short text that features.asks_about is never flagged (nested CV: README)
    vocab: str = "w1c2"  # VOCABS key; train.main picks it by CV (choose_vocab)
    structural: bool = True  # the rule is chosen for the scanner: structural rules flag on their own
    authored: bool = True  # the authored training rows (data/train_*.jsonl) are part of the training data
    # The default point runs no MiniLM second opinion (embed_threshold 0): loading the embedder costs
    # the serving process ~100-300 MiB and a short directive prompt milliseconds, past issue 21's RSS
    # and issue 20's latency budgets. Written down before the retrain it applies to (README).
    embed_second_opinion: bool = False  # True for the conservative point only


# TF-IDF vocabulary settings (word min_df, char_wb min_df): min_df drops n-grams seen in fewer rows,
# which shrinks the vocabulary (memory) at some cost in recall; chosen by CV (choose_vocab).
VOCABS: dict[str, tuple[int, int]] = {"w1c2": (1, 2), "w2c3": (2, 3), "w3c5": (3, 5)}


def _vectorizer_params(vocab: str = "w1c2") -> list[dict[str, Any]]:
    word_df, char_df = VOCABS[vocab]
    word: dict[str, Any] = {"ngram_range": (1, 2), "sublinear_tf": True, "lowercase": False}
    if word_df > 1:
        word["min_df"] = word_df
    return [word, {"analyzer": "char_wb", "ngram_range": (2, 5), "sublinear_tf": True, "min_df": char_df,
                   "lowercase": False}]


DATA_DIR = Path(__file__).with_name("data")
DEV_AUTHORED = DATA_DIR / "dev.jsonl"


def authored_files() -> list[Path]:
    return sorted(DATA_DIR.glob("train_*.jsonl"))


def read_authored(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def training_rows(p: TrainParams | None = None, data_dir: Path | None = None) -> list[Example]:
    """The protocol's public training rows, then the authored ones (source "authored")."""
    ex = train_split(data_dir)
    if p is None or p.authored:
        ex += [Example(r["text"], int(r["label"]), "authored") for f in authored_files() for r in read_authored(f)]
    return ex


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def training_files(p: TrainParams | None = None, data_dir: Path | None = None) -> list[dict[str, Any]]:
    """What the artifact records about its training data: each file's name, sha256 and the rows
    taken from it (the public files by the protocol's selection)."""
    d = data_dir or dataset_path("injection")
    ex = train_split(data_dir)
    count = {s: sum(e.source == s for e in ex) for s in ("jackhhao", "gandalf", "deepset")}
    out: list[dict[str, Any]] = [{"name": "datasets/injection/jackhhao_train.csv", "sha256": _sha256(d / "jackhhao_train.csv"),
            "rows": count["jackhhao"], "selection": "all"},
           {"name": "datasets/injection/gandalf_attacks.jsonl", "sha256": _sha256(d / "gandalf_attacks.jsonl"),
            "rows": count["gandalf"], "selection": "lines 1-777"},
           {"name": "datasets/injection/deepset_attacks.jsonl", "sha256": _sha256(d / "deepset_attacks.jsonl"),
            "rows": None, "selection": "sha256(text) % 10 < 7"},
           {"name": "datasets/injection/deepset_benign.jsonl", "sha256": _sha256(d / "deepset_benign.jsonl"),
            "rows": None, "selection": "sha256(text) % 10 < 7"}]
    out[2]["rows"] = sum(e.source == "deepset" and e.label == 1 for e in ex)
    out[3]["rows"] = sum(e.source == "deepset" and e.label == 0 for e in ex)
    if p is None or p.authored:
        out += [{"name": f"tools/injection_training/data/{f.name}", "sha256": _sha256(f),
                 "rows": len(read_authored(f)), "selection": "all"} for f in authored_files()]
    return out


def _design(texts: list[str], fitted: list[Any] | None, p: TrainParams) -> tuple[Any, list[Any]]:
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer

    norm = [normalize(t) for t in texts]
    if fitted is None:  # fit_transform: one analysis pass (the same matrix as fit, then transform)
        fitted = [TfidfVectorizer(**vp) for vp in _vectorizer_params(p.vocab)]
        mats = [v.fit_transform(norm) for v in fitted]
    else:
        mats = [v.transform(norm) for v in fitted]
    cues = np.array([cue_vector(t, n) for t, n in zip(texts, norm, strict=True)]) * p.cue_weight
    return sp.hstack([*mats, sp.csr_matrix(cues)]).tocsr(), fitted


def _fit(ex: list[Example], p: TrainParams) -> tuple[Any, list[Any]]:
    from sklearn.linear_model import LogisticRegression

    X, vecs = _design([e.text for e in ex], None, p)
    y = np.array([e.label for e in ex])
    w = np.array([p.deepset_weight if e.source == "deepset" else 1.0 for e in ex])
    clf = LogisticRegression(C=p.C, max_iter=5000, class_weight="balanced").fit(X, y, sample_weight=w)
    return clf, vecs


def tfidf_scores(model: tuple[Any, list[Any]], texts: list[str], p: TrainParams) -> np.ndarray:
    """P(injection) from a fitted (classifier, vectorizers) pair as _fit returns it."""
    clf, vecs = model
    X, _ = _design(texts, vecs, p)
    return clf.predict_proba(X)[:, 1]


DEV_TRIGGER_SET = Path(__file__).with_name("benign_trigger_dev.txt")


def read_lines(path: Path) -> list[str]:
    return [s.strip() for s in path.read_text(encoding="utf-8").splitlines() if s.strip() and not s.startswith("#")]


@dataclass(frozen=True)
class Dev:
    """The dev set: the 40 benign trigger-word prompts and the authored dev rows (with categories)."""

    texts: list[str]
    labels: np.ndarray
    categories: list[str]


def dev_set() -> Dev:
    trig = read_lines(DEV_TRIGGER_SET)
    rows = read_authored(DEV_AUTHORED) if DEV_AUTHORED.exists() else []
    return Dev(trig + [r["text"] for r in rows], np.array([0] * len(trig) + [int(r["label"]) for r in rows]),
               ["trigger_words"] * len(trig) + [r["category"] for r in rows])


def embed(texts: list[str]) -> np.ndarray:
    from guardrails.injection.model import standalone_embedder

    return standalone_embedder()(texts).astype(np.float64)  # as at inference (one text per call, one thread)


def _fit_embed(E: np.ndarray, y: np.ndarray, C: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=5000, class_weight="balanced").fit(E, y)


@dataclass
class OOF:
    """Out-of-fold scores of the training rows and the fold models' mean scores of the dev texts."""

    tfidf: np.ndarray
    dev_tfidf: np.ndarray
    embed: dict[float, np.ndarray]  # per C
    dev_embed: dict[float, np.ndarray]


def folds(ex: list[Example], k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs of k stratified folds (per source and label), shuffled with `seed`."""
    from sklearn.model_selection import StratifiedKFold

    strata = np.array([f"{e.source}:{e.label}" for e in ex])
    return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(ex)), strata))


def oof_scores(ex: list[Example], dev: list[str], E: np.ndarray, D: np.ndarray, p: TrainParams) -> OOF:
    y = np.array([e.label for e in ex])
    o = OOF(np.zeros(len(ex)), np.zeros(len(dev)), {c: np.zeros(len(ex)) for c in p.embed_Cs},
            {c: np.zeros(len(dev)) for c in p.embed_Cs})
    for a, b in folds(ex, p.folds, p.seed):
        model = _fit([ex[i] for i in a], p)
        o.tfidf[b] = tfidf_scores(model, [ex[i].text for i in b], p)
        o.dev_tfidf += tfidf_scores(model, dev, p) / p.folds
        for c in p.embed_Cs:
            m = _fit_embed(E[a], y[a], c)
            o.embed[c][b] = m.predict_proba(E[b])[:, 1]
            o.dev_embed[c] += m.predict_proba(D)[:, 1] / p.folds
    return o


def _f1(y: np.ndarray, pred: np.ndarray) -> float:
    tp = int((pred & (y == 1)).sum())
    return 2 * tp / max(1, int(pred.sum()) + int((y == 1).sum()))


class NoFeasibleRule(ValueError):
    """No candidate rule meets the caps and floors on these out-of-fold scores."""


@dataclass(frozen=True)
class RuleInputs:
    """What the decision rule reads from a text besides the two models' scores."""

    directive: np.ndarray  # features.has_directive
    length: np.ndarray  # characters
    english: np.ndarray  # features.mostly_english
    framed: np.ndarray  # features.asks_about, where the asks_about veto is on (else all False)
    structural: np.ndarray  # guardrails.injection.structural finds something (where asked for, else all False)

    @classmethod
    def of(cls, texts: list[str], veto: bool = False, rules: bool = False) -> RuleInputs:
        return cls(np.array([has_directive(t, normalize(t)) for t in texts], dtype=bool),
                   np.array([len(t) for t in texts]), np.array([mostly_english(t) for t in texts], dtype=bool),
                   np.array([veto and asks_about(t) for t in texts], dtype=bool),
                   np.array([rules and bool(structural.scan(t)) for t in texts], dtype=bool))

    def __getitem__(self, idx: np.ndarray) -> RuleInputs:
        return RuleInputs(self.directive[idx], self.length[idx], self.english[idx], self.framed[idx],
                          self.structural[idx])


@functools.lru_cache(maxsize=8)
def _inputs(texts: tuple[str, ...], veto: bool, rules: bool) -> RuleInputs:
    """RuleInputs.of, computed once per set of texts (the rule search asks for it per C and point)."""
    return RuleInputs.of(list(texts), veto, rules)


def apply_rule(rule: dict[str, Any], s: np.ndarray, e: np.ndarray, r: RuleInputs) -> np.ndarray:
    """The decision of the injection scanner, vectorised over texts (s: TF-IDF model's scores, e:
    embedding model's scores): model.InjectionModel.decide, or a structural rule (where r has them)."""
    second = np.where(r.english, e >= rule["embed_threshold"], s >= rule["foreign_threshold"])
    short_ok = ~r.framed & ((s >= rule["strong_threshold"]) | (r.directive & second))
    return r.structural | ((s >= rule["threshold"]) & ((r.length >= rule["long_chars"]) | short_ok))


def choose_rule(ex: list[Example], s: np.ndarray, e: np.ndarray, dev: Dev, ds: np.ndarray,
                de: np.ndarray, p: TrainParams) -> tuple[dict[str, float], dict[str, float]]:
    """Pick (threshold, strong_threshold, long_chars, embed_threshold, foreign_threshold) from
    out-of-fold scores (s: TF-IDF model, e: embedding model) and the fold models' dev scores.

    Decision (apply_rule): a structural rule fires (p.structural), or s >= threshold and (s >=
    strong_threshold, or the text is at least long_chars long, or it has a directive cue and a
    second opinion: e >= embed_threshold for mostly-English text, s >= foreign_threshold for other
    text, which the English-only embedder cannot judge). Maximise out-of-fold F1 on the deepset
    training rows plus F1 on the dev set, subject to out-of-fold benign FPR <= fpr_cap on the
    training rows (public and authored), Gandalf recall >= gandalf_recall_floor, and FPR <=
    dev_fpr_cap on the dev set's benign prompts. No model trains on the dev set; the test splits
    are other files. Ties go to the most conservative rule.
    """
    y = np.array([x.label for x in ex])
    deep = np.array([x.source == "deepset" for x in ex])
    yd = y[deep]
    gandalf = np.array([x.source == "gandalf" for x in ex])
    benign = y == 0
    dev_benign = dev.labels == 0
    ri = _inputs(tuple(x.text for x in ex), p.asks_about_veto, p.structural)
    rd = _inputs(tuple(dev.texts), p.asks_about_veto, p.structural)
    directive, length, english, open_ = ri.directive & ~ri.framed, ri.length, ri.english, ~ri.framed
    d_dir, d_len, d_en, d_open = rd.directive & ~rd.framed, rd.length, rd.english, ~rd.framed
    rows = []
    for t in np.round(np.arange(0.2, 0.95, 0.025), 3):
        for hi in (0.7, 0.8, 0.85, 0.9, 0.925, 0.95, 0.975, 0.99, 1.01):
            if hi < t:
                continue
            for long_chars in (150, 200, 300, 500, 1000, 10**9):
                base = ri.structural | ((s >= t) & ((open_ & (s >= hi)) | (length >= long_chars)))
                d_base = rd.structural | ((ds >= t) & ((d_open & (ds >= hi)) | (d_len >= long_chars)))
                for te in (0.0, 0.5, 0.6, 0.7, 0.8, 0.9) if p.embed_second_opinion else (0.0,):
                    for tf in (0.0, 0.5, 0.7, 1.01):
                        second = np.where(english, e >= te, s >= tf)
                        pred = base | ((s >= t) & directive & second)
                        fpr = float((pred & benign).sum() / max(1, benign.sum()))
                        d_second = np.where(d_en, de >= te, ds >= tf)
                        dpred = d_base | ((ds >= t) & d_dir & d_second)
                        dfpr = float(dpred[dev_benign].mean()) if dev_benign.any() else 0.0
                        if fpr <= p.fpr_cap and dfpr <= p.dev_fpr_cap and pred[gandalf].mean() >= p.gandalf_recall_floor:
                            f1, dev_f1 = _f1(yd, pred[deep]), _f1(dev.labels, dpred)
                            rows.append((round(f1 + dev_f1, 4), float(hi), long_chars, float(te), float(tf),
                                         float(t), fpr, dfpr, f1, dev_f1))
    if not rows:
        raise NoFeasibleRule(f"no rule meets benign FPR <= {p.fpr_cap}, dev FPR <= {p.dev_fpr_cap} and "
                             f"Gandalf recall >= {p.gandalf_recall_floor}")
    _, hi, long_chars, te, tf, t, fpr, dfpr, f1, dev_f1 = max(rows, key=lambda r: r[:6])
    rule = {"threshold": t, "strong_threshold": hi, "long_chars": int(long_chars), "embed_threshold": te,
            "foreign_threshold": tf}
    return rule, {"cv_deepset_f1": round(f1, 4), "dev_f1": round(dev_f1, 4), "cv_benign_fpr": round(fpr, 4),
                  "dev_benign_fpr": round(dfpr, 4)}


def choose(ex: list[Example], o: OOF, dev: Dev, p: TrainParams) -> tuple[float, dict[str, Any], dict[str, Any]]:
    """The embedding model's C and the default and conservative rules, by out-of-fold deepset F1.
    default: training FPR <= fpr_cap, dev trigger-word FPR <= dev_fpr_cap, Gandalf recall >=
    gandalf_recall_floor; conservative: half the training-FPR cap and no dev false positive at all,
    at a cost in recall. If no C admits a rule with the Gandalf floor (it happens on some 80%
    subsets in nested CV, never on the full training split), the default drops the floor and its
    cv record says so."""
    best: tuple[float, float, dict[str, Any], dict[str, Any]] | None = None
    for floor in (p.gandalf_recall_floor, 0.0):
        for c in p.embed_Cs:
            try:
                rule, cv = choose_rule(ex, o.tfidf, o.embed[c], dev, o.dev_tfidf, o.dev_embed[c],
                                       replace(p, gandalf_recall_floor=floor))
            except NoFeasibleRule:
                continue
            score = round(cv["cv_deepset_f1"] + cv["dev_f1"], 4)
            if best is None or score > best[0]:  # ties: the smaller C
                best = (score, c, rule, cv if floor == p.gandalf_recall_floor else
                        {**cv, "gandalf_floor_dropped": True})
        if best is not None:
            break
    if best is None:
        raise NoFeasibleRule("no rule meets the default caps even without the Gandalf floor")
    _, c, rule, cv = best
    # (no Gandalf floor: under these caps no rule keeps out-of-fold Gandalf recall >= 0.94)
    cons = replace(p, fpr_cap=p.fpr_cap / 2, dev_fpr_cap=0.0, gandalf_recall_floor=0.0, embed_second_opinion=True)
    c_rule, c_cv = choose_rule(ex, o.tfidf, o.embed[c], dev, o.dev_tfidf, o.dev_embed[c], cons)
    return c, {**rule, "cv": cv}, {**c_rule, "cv": c_cv}


RULE_KEYS = ("threshold", "strong_threshold", "long_chars", "embed_threshold", "foreign_threshold")


def _g(x: float) -> float:
    return float(f"{x:.7g}")


def vocab_sizes(ex: list[Example], vocab: str) -> int:
    from sklearn.feature_extraction.text import TfidfVectorizer

    norm = [normalize(x.text) for x in ex]
    return sum(len(TfidfVectorizer(**vp).fit(norm).vocabulary_) for vp in _vectorizer_params(vocab))


def choose_vocab(ex: list[Example], dev: Dev, E: np.ndarray, D: np.ndarray, p: TrainParams,
                 log: Any = None, vocabs: tuple[str, ...] | None = None) -> tuple[str, dict[str, Any], dict[str, OOF]]:
    """The smallest vocabulary (VOCABS) whose CV objective (the default rule's out-of-fold deepset
    F1 + dev F1) is within 0.005 of the best setting's; with each setting's out-of-fold scores."""
    grid: dict[str, Any] = {}
    oofs: dict[str, OOF] = {}
    for v in vocabs or tuple(VOCABS):
        q = replace(p, vocab=v)
        oofs[v] = oof_scores(ex, dev.texts, E, D, q)
        try:
            _, rule, _ = choose(ex, oofs[v], dev, q)
            score = round(rule["cv"]["cv_deepset_f1"] + rule["cv"]["dev_f1"], 4)
        except NoFeasibleRule:
            score = float("-inf")
        grid[v] = {"objective": score, "terms": vocab_sizes(ex, v)}
        if log:
            log(f"vocab {v}: {grid[v]}")
    best = max(g["objective"] for g in grid.values())
    ok = [v for v in grid if grid[v]["objective"] >= best - 0.005]
    return min(ok, key=lambda v: (grid[v]["terms"], v)), grid, oofs


def build(params: TrainParams | None = None, *, chosen: dict[str, Any] | None = None,
          data_dir: Path | None = None, log: Any = None, vocabs: tuple[str, ...] | None = None) -> dict[str, Any]:
    """`chosen` ({"embed_C", "default", "conservative"} as in the artifact, the vocabulary in
    params) skips the cross-validation (tests use the shipped choice to check reproducibility faster)."""
    p = params or TrainParams()
    ex = training_rows(p, data_dir)
    E = embed([x.text for x in ex])
    vocab_cv = None
    if chosen is None:
        dev = dev_set()
        D = embed(dev.texts)
        vocab, vocab_cv, oofs = choose_vocab(ex, dev, E, D, p, log, vocabs)
        p = replace(p, vocab=vocab)
        embed_c, default, conservative = choose(ex, oofs[vocab], dev, p)
    else:
        embed_c, default, conservative = chosen["embed_C"], chosen["default"], chosen["conservative"]
        vocab_cv = chosen.get("vocab_cv")
    clf, vecs = _fit(ex, p)
    emb = _fit_embed(E, np.array([x.label for x in ex]), embed_c)
    coef = clf.coef_[0]
    blocks, off = [], 0
    for vp, v in zip(_vectorizer_params(p.vocab), vecs, strict=True):
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
        "format": 2,
        "params": {**asdict(p), "embed_Cs": list(p.embed_Cs)},
        "train_rows": len(ex),
        "train_files": training_files(p, data_dir),
        "dev_files": [{"name": f"tools/injection_training/{f.relative_to(DEV_TRIGGER_SET.parent).as_posix()}",
                       "sha256": _sha256(f)} for f in (DEV_TRIGGER_SET, DEV_AUTHORED) if f.exists()],
        "vocab_cv": vocab_cv,
        **default,
        "conservative": conservative,
        "intercept": _g(clf.intercept_[0]),
        "cue_names": list(CUE_NAMES),
        "cue_weights": [_g(x * p.cue_weight) for x in coef[off:]],
        "vectorizers": blocks,
        "embed": {"C": embed_c, "intercept": _g(emb.intercept_[0]), "coef": [_g(x) for x in emb.coef_[0]]},
    }


def dev_report(spec: dict[str, Any], rule: str = "default") -> dict[str, tuple[int, int]]:
    """Per dev category: (flagged, rows) by the built model and the structural rules, as the scanner
    decides (the dev set is not trained on; it did take part in choosing the rule)."""
    from guardrails.injection.model import InjectionModel

    model, dev = InjectionModel(spec), dev_set()
    out: dict[str, tuple[int, int]] = {}
    for text, cat in zip(dev.texts, dev.categories, strict=True):
        hit = bool(structural.scan(text)) or model.decide(text, None, rule)[0]
        k, n = out.get(cat, (0, 0))
        out[cat] = (k + hit, n + 1)
    return out


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
    ap.add_argument("--vocabs", nargs="+", choices=list(VOCABS), default=None,
                    help="vocabulary settings to cross-validate (default: all of train.VOCABS)")
    args = ap.parse_args(argv)
    spec = build(TrainParams(deepset_weight=args.deepset_weight), log=lambda m: print(m, flush=True),
                 vocabs=tuple(args.vocabs) if args.vocabs else None)
    print("vocab", spec["params"]["vocab"], spec["vocab_cv"])
    print("rule", {k: spec[k] for k in RULE_KEYS}, "cv", spec["cv"], "embed C", spec["embed"]["C"],
          "conservative", spec["conservative"])
    for point in ("default", "conservative"):
        print(point, "dev (flagged, rows) per category:", dev_report(spec, point))
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
