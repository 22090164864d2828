"""The `sluice` command. Sub-commands of the other packages are mounted here (the CLI layer is
where packages meet). Heavy imports happen inside commands so `sluice --help` stays instant.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import typer

app = typer.Typer(name="sluice", help="sluicegate: an OpenAI-compatible LLM gateway with an evaluation harness.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
config_app = typer.Typer(help="Validate configuration files.", no_args_is_help=True)
app.add_typer(config_app, name="config")

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
               "RAGAS_DO_NOT_TRACK": "true"}


def _offline_env() -> None:
    for k, v in OFFLINE_ENV.items():
        os.environ.setdefault(k, v)


def _load(path: Path):  # type: ignore[no-untyped-def]
    from gateway.config import load_config
    from gateway.errors import ConfigError

    try:
        return load_config(path)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


@config_app.command("check")
def config_check(file: Path = typer.Argument(..., help="the YAML config to validate")) -> None:
    """Validate a config file: unknown keys, types, provider names, env vars named for keys."""
    cfg = _load(file)
    from gateway.providers.base import provider_kinds

    problems = []
    kinds = set(provider_kinds())
    for g in cfg.models:
        for d in g.deployments:
            if d.provider not in kinds:
                problems.append(f"model group {g.name!r}: unknown provider {d.provider!r} (known: {', '.join(sorted(kinds))})")
            if d.api_key_env and d.api_key_env not in os.environ:
                typer.echo(f"warning: {g.name}: environment variable {d.api_key_env} is not set", err=True)
    if problems:
        typer.echo(f"{file}: invalid config\n  " + "\n  ".join(problems), err=True)
        raise typer.Exit(2)
    typer.echo(f"{file}: OK ({len(cfg.models)} model groups)")


@app.command("models")
def models(config: Path = typer.Option(..., "--config", "-c", help="config file")) -> None:
    """Show what the config routes where."""
    from rich.console import Console
    from rich.table import Table

    cfg = _load(config)
    table = Table("model", "mode", "strategy", "deployment", "provider", "upstream model", "api_base", "fallbacks")
    for g in cfg.models:
        for i, d in enumerate(g.deployments):
            table.add_row(g.name if i == 0 else "", g.mode if i == 0 else "", g.strategy if i == 0 else "",
                          d.id or "", d.provider, d.model, d.api_base or "-", ", ".join(g.fallbacks) if i == 0 else "")
    Console(width=None if sys.stdout.isatty() else 200).print(table)


@app.command("serve")
def serve(
    config: Path = typer.Option(..., "--config", "-c", help="config file"),
    host: str = typer.Option(None, help="bind address (default: server.host from the config)"),
    port: int = typer.Option(None, help="port (default: server.port from the config)"),
    workers: int = typer.Option(None, help="worker processes (default: server.workers)"),
    log_level: str = typer.Option("info", help="debug, info, warning, error"),
) -> None:
    """Run the gateway."""
    _offline_env()
    cfg = _load(config)
    import uvicorn

    os.environ["SLUICE_CONFIG"] = str(config.resolve())
    n = workers or cfg.server.workers
    cfg.server.workers = n
    from gateway.errors import ConfigError
    from gateway.spend.service import check_workers

    try:
        check_workers(cfg)  # limits must hold across workers, or the gateway refuses to start
    except ConfigError as exc:
        typer.echo(f"{config}: {exc}", err=True)
        raise typer.Exit(2) from None
    if sys.stderr.isatty():
        from importlib.metadata import version

        from gateway.cli import banner

        typer.echo(banner.render(cfg, host or cfg.server.host, port or cfg.server.port, version("sluicegate")), err=True)
    from gateway.http_server import WORKER_HEALTHCHECK_S, protocol_for

    uvicorn.run("gateway.app:app_from_env", factory=True, host=host or cfg.server.host, port=port or cfg.server.port,
                workers=n if n > 1 else None, loop="uvloop", lifespan="on",
                http=protocol_for(cfg.server),  # httptools with header and body read deadlines
                timeout_graceful_shutdown=math.ceil(cfg.server.drain_timeout_s),  # 0: none (None: wait forever)
                timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,  # workers > 1: see gateway/http_server.py
                log_level=log_level, access_log=False, server_header=False,
                log_config=None)  # uvicorn's own records go through our JSON, secret-scrubbing handler


@app.command("mock-upstream")
def mock_upstream(
    port: int = typer.Option(8900, help="port to listen on"),
    host: str = typer.Option("127.0.0.1", help="bind address"),
    latency_ms: float = typer.Option(0.0, help="delay before the first byte"),
    tokens_per_s: float = typer.Option(0.0, help="stream pacing (0: as fast as possible)"),
) -> None:
    """Run the built-in mock upstream (OpenAI and Anthropic formats, fault injection)."""
    from gateway.mock_upstream import run

    run(host, port, latency_ms=latency_ms, tokens_per_s=tokens_per_s)


# --- sub-commands of the other packages -----------------------------------------------------
# Mounted lazily: only the one being run is imported, so `sluice --help` stays instant.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "prompts": ("gateway.cli.prompts:app", "Versioned prompts: list, show, diff, render, history, promote, rollback."),
    "eval": ("evals.cli:app", "Run evaluation suites (record/replay, reports, baselines, gates)."),
    "guardrails": ("guardrails.cli:app", "Scan text with guardrail policies; measure scanner quality."),
    "keys": ("gateway.cli.spend:keys_app", "Virtual keys: create (shown once), list, show, revoke, rotate."),
    "teams": ("gateway.cli.spend:teams_app", "Teams and their budgets."),
    "spend": ("gateway.cli.spend:spend_app", "Spend reports (table, csv, json, html) and the ledger database."),
    "rag": ("gateway.cli.rag:app", "RAG: ingest documents into a collection; query a pipeline."),
    "datasets": ("gateway.cli.datasets:app", "Datasets captured from production traffic: list, show, export, prune."),
}


def mount_subcommands(argv: list[str] | None = None) -> None:
    """Mount the sub-app named in argv for real and the others as help-only placeholders.
    With argv=None every sub-app is mounted for real (tests)."""
    import importlib

    wanted = argv[1] if argv and len(argv) > 1 else None
    for name, (target, help_text) in SUBCOMMANDS.items():
        if argv is None or name == wanted:
            module, _, attr = target.partition(":")
            sub = getattr(importlib.import_module(module), attr)
        else:
            sub = typer.Typer(help=help_text)

            @sub.callback(invoke_without_command=True)
            def _placeholder() -> None:
                """(run `sluice NAME --help` for its commands)"""
        app.add_typer(sub, name=name, help=help_text)


def main() -> None:
    mount_subcommands(sys.argv)
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
