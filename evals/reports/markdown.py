"""A Markdown summary fit for a pull-request comment."""

from __future__ import annotations

from evals.reports.baseline import Comparison
from evals.results import RunResult

ICON = {"passed": "✅", "failed": "❌", "error": "⚠️"}


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.4g}"


def _cell(text: str, n: int = 120) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= n else text[: n - 1] + "…"


def to_markdown(result: RunResult, comparison: Comparison | None = None, max_failures: int = 20) -> str:
    lo, hi = result.pass_rate_ci
    lines = [
        f"### {ICON.get(result.status, '')} eval `{result.suite}`: {result.status}",
        "",
        (f"Target `{result.target.get('ref')}` (`{str(result.target.get('content_hash'))[7:19]}`), "
         f"{len({t.case_id for t in result.trials})} cases × {result.repeats} repeat(s), mode `{result.mode}`, "
         f"{result.duration_s:.1f} s, {result.stats.get('model_calls', 0)} model calls, "
         f"{result.stats.get('cache_hits', 0)} cached, {result.stats.get('replayed', 0)} replayed."),
        "",
        f"Pass rate **{result.scores['pass_rate']:.1%}** (95% CI {lo:.1%}–{hi:.1%})",
    ]
    if result.repeats > 1:
        lines[-1] += f", pass@{result.repeats} {result.scores['pass_at_k']:.1%}, pass^{result.repeats} {result.scores['pass_hat_k']:.1%}"
    if result.error:
        lines += ["", f"> **Could not run:** {_cell(result.error, 400)}"]
    lines += ["", "| metric | value | threshold | |", "|---|---|---|---|"]
    for c in result.thresholds:
        bound = " ".join(x for x in (f"≥ {c.min}" if c.min is not None else "", f"≤ {c.max}" if c.max is not None else "") if x)
        lines.append(f"| {c.metric} | {_fmt(c.value)} | {bound} | {'✅' if c.passed else '❌'} |")
    for name, m in sorted(result.metrics.items()):
        if name not in {c.metric for c in result.thresholds}:
            lines.append(f"| {name} | {_fmt(m['mean'])} | – | |")
    failing = result.failing_cases()
    if failing:
        lines += ["", f"<details><summary>{len(failing)} failing trial(s)</summary>", "",
                  "| case | why |", "|---|---|"]
        for f in failing[:max_failures]:
            name = f["case"] if result.repeats == 1 else f"{f['case']}#{f['repeat']}"
            lines.append(f"| `{name}` | {_cell('; '.join(f['reasons']))} |")
        if len(failing) > max_failures:
            lines.append(f"| … | {len(failing) - max_failures} more in the JSON report |")
        lines += ["", "</details>"]
    if comparison is not None:
        lines += ["", (f"**Against {comparison.baseline_label}:** {len(comparison.regressions)} regression(s), "
                       f"{len(comparison.improvements)} improvement(s)")]
        lines += [f"> ⚠️ {w}" for w in comparison.warnings]
        for title, changes in (("Regressions", comparison.regressions), ("Improvements", comparison.improvements)):
            if changes:
                lines += ["", f"{title}:", ""]
                lines += [f"- {c.kind} `{c.name}`: {_fmt(c.before)} → {_fmt(c.after)}" for c in changes[:max_failures]]
        if comparison.new_cases:
            lines += ["", f"New cases: {', '.join(f'`{c}`' for c in comparison.new_cases[:max_failures])}"]
    return "\n".join(lines) + "\n"
