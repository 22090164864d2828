"""`sluice guardrails scan` and `sluice guardrails eval` (mounted by gateway/cli/root.py).

Imports stay light at module level; scanners load inside the commands. Run on its own (no host
hands it an embedder), the injection model builds its MiniLM from the `minilm` package when an
operating point needs it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Scan text with guardrail policies and measure scanner quality.", no_args_is_help=True)


def _load_config(path: Path | None):  # -> GuardrailsConfig
    from guardrails.config import GuardrailsConfig

    if path is None:
        return GuardrailsConfig()
    import yaml

    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    section = raw.get("guardrails", raw) if isinstance(raw, dict) else {}
    return GuardrailsConfig.model_validate(section)


@app.command()
def scan(
    file: Annotated[Path | None, typer.Argument(help="text file; '-' or nothing reads stdin")] = None,
    policy: Annotated[str, typer.Option(help="policy name")] = "default",
    direction: Annotated[str, typer.Option(help="input | output")] = "input",
    config: Annotated[Path | None, typer.Option(help="sluicegate YAML config (its guardrails section)")] = None,
    show_text: Annotated[bool, typer.Option(help="print the (redacted) text too")] = False,
) -> None:
    """Scan text with a policy; print the verdict as JSON. Exit 0 pass/flag/redact, 1 blocked."""
    from guardrails.engine import Guardrails
    from guardrails.redaction import Vault
    from guardrails.types import ScanContext

    if direction not in ("input", "output"):
        raise typer.BadParameter("direction must be input or output")
    text = sys.stdin.read() if file is None or str(file) == "-" else file.read_text(encoding="utf-8")
    cfg = _load_config(config)
    if policy not in cfg.policies:
        raise typer.BadParameter(f"unknown policy {policy!r}; known: {sorted(cfg.policies)}")
    guard = Guardrails(cfg).guard((policy,))
    assert guard is not None
    verdict = guard.check(text, ScanContext(direction=direction), Vault())  # type: ignore[arg-type]
    b = verdict.blocked
    blocked: dict[str, object] | None = None
    if b is not None:  # the span and the excerpt (a secret's or PII value masked), as in the 400 body
        blocked = {"scanner": b.scanner, "rule": b.rule}
        if b.finding is not None and b.finding.has_span:
            blocked |= {"start": b.finding.start, "end": b.finding.end}
        if b.excerpt is not None:
            blocked["excerpt"] = b.excerpt
    out: dict[str, object] = {
        "action": verdict.action,
        "blocked": blocked,
        "outcomes": [
            {"scanner": o.scanner, "action": o.action, "rule": o.rule, "count": o.count, "latency_ms": round(o.latency_ms, 3),
             "findings": [{"rule": f.rule, "start": f.start, "end": f.end} for f in o.findings]}
            for o in verdict.outcomes
        ],
    }
    if show_text:
        out["text"] = verdict.text
    typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
    raise typer.Exit(1 if verdict.blocked else 0)


DATASETS = ("injection", "pii", "jsonl")


@app.command("eval")
def eval_(
    dataset: Annotated[str, typer.Argument(help="'injection' (protocol test splits), 'pii' (presidio synth JSON) or a .jsonl/.json path")],
    scanner: Annotated[str | None, typer.Option(help="scanner name for a .jsonl file (default injection)")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="datasets folder (default $SLUICE_DATASETS, else the repository's datasets/)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Print precision, recall, F1 and false-positive rate (Wilson 95% CIs) and latency p50/p99 per KB."""
    from guardrails import evaluation
    from guardrails.datasets import datasets_dir
    from guardrails.engine import Guardrails

    cfg = _load_config(None)
    g = Guardrails(cfg)
    base = data_dir or datasets_dir()
    if not base.is_dir():
        raise typer.BadParameter(f"no datasets folder at {base}: pass --data-dir or set SLUICE_DATASETS")
    result: dict[str, object]
    if dataset == "injection":
        result = dict(evaluation.eval_injection(g.scanner("injection"), base / "injection"))
    elif dataset == "pii" or dataset.endswith(".json"):
        path = base / "pii" / "presidio_synth_v2.json" if dataset == "pii" else Path(dataset)
        result = dict(evaluation.eval_pii(g.scanner("pii"), path))
    elif dataset.endswith(".jsonl"):
        result = {Path(dataset).name: evaluation.eval_labelled_jsonl(g.scanner(scanner or "injection"), Path(dataset))}
    else:
        raise typer.BadParameter(f"unknown dataset {dataset!r}: use injection, pii, or a .json/.jsonl path")
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    _print_table(result)


def _print_table(result: dict[str, object]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table("set", "P [95% CI]", "R [95% CI]", "F1", "FPR [95% CI]", "tp/fp/fn/tn", "p50/p99 ms/KB")
    raw_lat = result.get("_latency")
    lat: dict[str, object] = raw_lat if isinstance(raw_lat, dict) else {}
    for name, row in result.items():
        if name == "_latency" or not isinstance(row, dict):
            continue
        rows = [(f"{name} ({k})", v) for k, v in row.items() if isinstance(v, dict) and v] if "strict" in row else [(name, row)]
        for label, r in rows:
            t.add_row(
                label,
                f"{r['precision']:.3f} {r['precision_ci']}", f"{r['recall']:.3f} {r['recall_ci']}", f"{r['f1']:.3f}",
                f"{r['fpr']:.3f} {r['fpr_ci']}", f"{r['tp']}/{r['fp']}/{r['fn']}/{r['tn']}",
                f"{r.get('p50_ms_per_kb', lat.get('p50_ms_per_kb', '-'))}/"
                f"{r.get('p99_ms_per_kb', lat.get('p99_ms_per_kb', '-'))}",
            )
    Console().print(t)


if __name__ == "__main__":
    app()
