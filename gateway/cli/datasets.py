"""`sluice datasets list|show|export|prune`: the datasets traffic capture keeps (gateway/capture/).

The folder is the config's `capture.dir` (`--config`, or $SLUICE_CONFIG, or the default
.sluice/captured). A captured dataset is an evals JSONL file: `sluice eval run SUITE --dataset
captured:NAME` runs a suite's assertions over it."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(help="Datasets captured from production traffic (redacted, sampled).", no_args_is_help=True)
ConfigOpt = typer.Option(None, "--config", "-c", help="config file (default: $SLUICE_CONFIG or built-in defaults)")


def _config(config: Path | None) -> Any:
    from gateway.config import load_config, parse_config
    from gateway.errors import ConfigError

    path = config or (Path(os.environ["SLUICE_CONFIG"]) if os.environ.get("SLUICE_CONFIG") else None)
    try:
        return load_config(path) if path else parse_config({}, base_dir=Path.cwd())
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def capture_root(config: Path | None) -> Path:
    from gateway.composition import config_path

    cfg = _config(config)
    return Path(config_path(cfg, cfg.capture.dir) or cfg.capture.dir)


def _read(root: Path, name: str) -> list[dict[str, Any]]:
    from gateway.capture import store

    try:
        return store.read(root, name)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


@app.command("list")
def list_(config: Path | None = ConfigOpt) -> None:
    """Every captured dataset with its case count and newest capture."""
    from gateway.capture import store

    root = capture_root(config)
    found = list(store.names(root))
    if not found:
        typer.echo(f"no captured datasets in {root}")
        return
    for name, _path in found:
        cases = store.read(root, name)
        newest = max((c.get("metadata", {}).get("captured_at", "") for c in cases), default="")
        typer.echo(f"{name}\t{len(cases)} cases\tnewest {newest or '-'}")


@app.command("show")
def show(name: str, limit: int = typer.Option(10, min=1, help="cases to show, newest first"),
         config: Path | None = ConfigOpt) -> None:
    """The newest cases of a dataset: id, time, input and output (already redacted)."""
    cases = _read(capture_root(config), name)
    for c in reversed(cases[-limit:]):
        meta = c.get("metadata", {})
        typer.echo(f"{c.get('id')}  {meta.get('captured_at', '')}  {meta.get('prompt_ref') or meta.get('model')}")
        typer.echo(f"  input:  {(c.get('input') or '')[:200]}")
        if c.get("vars"):
            typer.echo(f"  vars:   {c['vars']}")
        typer.echo(f"  output: {(meta.get('output') or '')[:200]}")


@app.command("export")
def export(name: str, out: Path = typer.Option(..., "--out", "-o", help="the JSONL file to write"),
           case: list[str] = typer.Option([], "--case", help="only these case ids (repeatable)"),
           config: Path | None = ConfigOpt) -> None:
    """Write a dataset (or chosen cases) as an evals JSONL file, e.g. into a suite's folder."""
    import orjson

    cases = _read(capture_root(config), name)
    if case:
        wanted = set(case)
        cases = [c for c in cases if c.get("id") in wanted]
        missing = wanted - {str(c.get("id")) for c in cases}
        if missing:
            typer.echo(f"no such case ids in {name}: {sorted(missing)}", err=True)
            raise typer.Exit(2)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"".join(orjson.dumps(c) + b"\n" for c in cases))
    typer.echo(f"{len(cases)} cases written to {out}")


@app.command("prune")
def prune(config: Path | None = ConfigOpt) -> None:
    """Apply the retention (`capture.retention_days`) and the cap (`capture.max_cases`) now."""
    from gateway.capture import store

    cfg = _config(config)
    root = capture_root(config)
    n = store.prune(root, time.time(), cfg.capture.retention_days, cfg.capture.max_cases)
    typer.echo(f"{n} cases pruned from {root}")
