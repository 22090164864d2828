"""Nested cross-validation of the whole training procedure of tools/injection_training/train.py.

    python -m tools.injection_training.nested_cv                 # outer fold seed 0 (~3-5 min here)
    python -m tools.injection_training.nested_cv --seed 7
    python -m tools.injection_training.nested_cv --embed-cache /tmp/inj_emb.npz   # reuse the embeddings

train.py's cross-validated figures select the rule on the same folds they report, so they are
optimistic. Here each outer fold's training part (80% of the protocol's training rows) goes
through exactly what `train.build` does with the full split -- out-of-fold scores from its own
inner folds (`oof_scores`), the rule and the embedding model's C chosen from them (`choose`),
both models refitted on it -- and the refitted models with the chosen rule score the outer fold,
which took no part in any of that. Every training row is so scored once by a procedure that never
saw it. Dev FPR (benign_trigger_dev.txt) is the mean over the outer models: the rule search reads
the dev prompts, so that figure is not independent of the selection (no model trains on them).
Held-out test splits are never read. Deterministic: fixed fold seeds, lbfgs, single-threaded
embeddings.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from guardrails.evaluation import wilson
from guardrails.injection.data import Example
from tools.injection_training.train import (
    RULE_KEYS,
    Dev,
    RuleInputs,
    TrainParams,
    _fit,
    _fit_embed,
    apply_rule,
    choose,
    dev_set,
    embed,
    folds,
    oof_scores,
    tfidf_scores,
    training_rows,
)

POINTS = ("default", "conservative")


@dataclass
class Outcome:
    """Nested predictions of one operating point: each training row's, and the dev prompts' per outer model."""

    pred: np.ndarray
    dev_preds: list[np.ndarray] = field(default_factory=list)


@dataclass
class NestedResult:
    seed: int
    outcomes: dict[str, Outcome]
    choices: list[dict[str, Any]]  # per outer fold: the embedding C and the rules chosen on its training part


def outer_inner_folds(ex: list[Example], p: TrainParams, seed: int) -> list[tuple[np.ndarray, np.ndarray,
                                                                                   list[tuple[np.ndarray, np.ndarray]]]]:
    """(outer train, outer test, inner folds as indices into the whole list) per outer fold: the inner
    folds are the ones oof_scores draws on the outer training part."""
    out = []
    for a, b in folds(ex, p.folds, seed):
        inner = [(a[ia], a[ib]) for ia, ib in folds([ex[i] for i in a], p.folds, p.seed)]
        out.append((a, b, inner))
    return out


def run(ex: list[Example], dev: Dev, E: np.ndarray, D: np.ndarray, p: TrainParams, seed: int,
        log: Any = None) -> NestedResult:
    y = np.array([x.label for x in ex])
    inputs = RuleInputs.of([x.text for x in ex], p.asks_about_veto, p.structural)
    dev_inputs = RuleInputs.of(dev.texts, p.asks_about_veto, p.structural)
    res = NestedResult(seed, {k: Outcome(np.zeros(len(ex), dtype=bool)) for k in POINTS}, [])
    for k, (a, b) in enumerate(folds(ex, p.folds, seed)):
        part = [ex[i] for i in a]
        embed_c, default, conservative = choose(part, oof_scores(part, dev.texts, E[a], D, p), dev, p)
        model, emb = _fit(part, p), _fit_embed(E[a], y[a], embed_c)
        s, e = tfidf_scores(model, [ex[i].text for i in b], p), emb.predict_proba(E[b])[:, 1]
        ds, de = tfidf_scores(model, dev.texts, p), emb.predict_proba(D)[:, 1]
        sub = inputs[b]
        for name, rule in (("default", default), ("conservative", conservative)):
            res.outcomes[name].pred[b] = apply_rule(rule, s, e, sub)
            res.outcomes[name].dev_preds.append(apply_rule(rule, ds, de, dev_inputs))
        res.choices.append({"embed_C": embed_c, "default": default, "conservative": conservative})
        if log:
            log(f"outer fold {k}: embed C {embed_c}, default {[default[r] for r in RULE_KEYS]} "
                f"(inner CV {default['cv']}), conservative {[conservative[r] for r in RULE_KEYS]}")
    return res


def metrics(ex: list[Example], o: Outcome, dev_labels: np.ndarray | None = None) -> dict[str, Any]:
    y = np.array([x.label for x in ex])
    src = np.array([x.source for x in ex])
    r: dict[str, Any] = {}
    for name in ("deepset", "jackhhao"):
        k = src == name
        pos, pred = y[k] == 1, o.pred[k]
        tp = int((pred & pos).sum())
        r[f"{name}_f1"] = 2 * tp / max(1, int(pred.sum()) + int(pos.sum()))
        r[f"{name}_tp"], r[f"{name}_pos"] = tp, int(pos.sum())
        r[f"{name}_fpr"] = float(pred[~pos].mean())
    g = src == "gandalf"
    r["gandalf_recall"], r["gandalf_tp"], r["gandalf_n"] = float(o.pred[g].mean()), int(o.pred[g].sum()), int(g.sum())
    r["benign_fpr"], r["benign_fp"], r["benign_n"] = float(o.pred[y == 0].mean()), int(o.pred[y == 0].sum()), int((y == 0).sum())
    benign = np.ones(len(o.dev_preds[0]), dtype=bool) if dev_labels is None else dev_labels == 0
    r["dev_fpr"] = float(np.mean([d[benign].mean() for d in o.dev_preds]))
    r["dev_recall"] = float(np.mean([d[~benign].mean() for d in o.dev_preds])) if (~benign).any() else 0.0
    return r


def table(results: list[tuple[NestedResult, list[Example]]], dev_labels: np.ndarray | None = None) -> str:
    head = ("| point | fold seed | deepset F1 | deepset recall [95% CI] | deepset FPR | jackhhao F1 | Gandalf recall |"
            " benign FPR | dev FPR |\n|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for point in POINTS:
        for res, ex in results:
            m = metrics(ex, res.outcomes[point], dev_labels)
            lo, hi = wilson(m["deepset_tp"], m["deepset_pos"])
            lines.append(
                f"| {point} | {res.seed} | {m['deepset_f1']:.3f} | {m['deepset_tp']}/{m['deepset_pos']} [{lo:.3f}, {hi:.3f}] |"
                f" {m['deepset_fpr']:.3f} | {m['jackhhao_f1']:.3f} | {m['gandalf_recall']:.3f} ({m['gandalf_tp']}/{m['gandalf_n']}) |"
                f" {m['benign_fpr']:.3f} ({m['benign_fp']}/{m['benign_n']}) | {m['dev_fpr']:.3f} |")
    return "\n".join(lines)


def embeddings(ex: list[Example], dev: list[str], cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """MiniLM embeddings of the training rows and dev prompts, optionally cached in an .npz keyed by
    a digest of the texts (they do not depend on anything this module tunes)."""
    digest = hashlib.sha256("\x00".join([x.text for x in ex] + ["\x01"] + dev).encode()).hexdigest()
    if cache and cache.exists():
        z = np.load(cache)
        if str(z["digest"]) == digest:
            return z["E"], z["D"]
    E, D = embed([x.text for x in ex]), embed(dev)
    if cache:
        np.savez(cache, E=E, D=D, digest=np.array(digest))
    return E, D


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, nargs="+", default=[0], help="outer fold seeds (one table row each)")
    ap.add_argument("--embed-cache", type=Path, default=None, help=".npz to reuse the MiniLM embeddings from")
    ap.add_argument("--embed-Cs", type=float, nargs="+", default=None, help="override TrainParams.embed_Cs")
    ap.add_argument("--dev-fpr-cap", type=float, default=None, help="override TrainParams.dev_fpr_cap")
    ap.add_argument("--asks-about-veto", choices=("on", "off"), default=None,
                    help="override TrainParams.asks_about_veto")
    args = ap.parse_args(argv)
    p = TrainParams()
    if args.embed_Cs is not None:
        p = replace(p, embed_Cs=tuple(args.embed_Cs))
    if args.dev_fpr_cap is not None:
        p = replace(p, dev_fpr_cap=args.dev_fpr_cap)
    if args.asks_about_veto is not None:
        p = replace(p, asks_about_veto=args.asks_about_veto == "on")
    ex, dev = training_rows(p), dev_set()
    E, D = embeddings(ex, dev.texts, args.embed_cache)
    results = []
    for seed in args.seed:
        print(f"outer fold seed {seed}, inner fold seed {p.seed}, embedding Cs {p.embed_Cs}, dev FPR cap "
              f"{p.dev_fpr_cap}, asks_about veto {p.asks_about_veto}", flush=True)
        results.append((run(ex, dev, E, D, p, seed, log=lambda s: print("  " + s, flush=True)), ex))
    print(table(results, dev.labels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
