"""The terminal summary (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evals.reports.baseline import Comparison
from evals.results import RunResult

STYLE = {"passed": "green", "failed": "red", "error": "yellow"}


def print_summary(result: RunResult, console: Console, comparison: Comparison | None = None,
                  max_failures: int = 10) -> None:
    lo, hi = result.pass_rate_ci
    console.print(f"[bold]{result.suite}[/bold] -> {result.target.get('ref')}  "
                  f"[{STYLE.get(result.status, '')}]{result.status.upper()}[/]  "
                  f"pass rate {result.scores['pass_rate']:.1%} (95% CI {lo:.1%}-{hi:.1%})  "
                  f"{result.duration_s:.1f}s  calls {result.stats.get('model_calls', 0)} "
                  f"cached {result.stats.get('cache_hits', 0)} replayed {result.stats.get('replayed', 0)}")
    if result.error:
        console.print(f"[yellow]could not run:[/yellow] {result.error}", markup=True)
    table = Table("metric", "value", "threshold", "ok")
    for c in result.thresholds:
        bound = " ".join(x for x in (f">= {c.min}" if c.min is not None else "", f"<= {c.max}" if c.max is not None else "") if x)
        table.add_row(c.metric, "-" if c.value is None else f"{c.value:.4g}", bound,
                      "[green]yes[/green]" if c.passed else "[red]no[/red]")
    console.print(table)
    for f in result.failing_cases(max_failures):
        console.print(f"  [red]FAIL[/red] {escape(str(f['case']))}#{f['repeat']}: " + escape("; ".join(f["reasons"])[:200]))
    if comparison is not None:
        console.print(f"vs {comparison.baseline_label}: {len(comparison.regressions)} regressions, "
                      f"{len(comparison.improvements)} improvements")
        for warning in comparison.warnings:
            console.print(f"  [yellow]warning:[/yellow] {escape(warning)}")
        for ch in comparison.regressions[:max_failures]:
            console.print(f"  [red]regressed[/red] {ch.kind} {ch.name}: {ch.before:.4g} -> {ch.after:.4g}")
