"""`sluice prompts list|show|diff|render|history|promote|rollback`.

`promote --run` (run the suite now) needs the eval harness, which this leaf must not import:
gateway/cli/prompts.py builds the same app with a promote command that can run suites.
"""

from __future__ import annotations

import difflib
import getpass
import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from prompts import gate
from prompts.attestations import Attestation, attestations_for
from prompts.errors import PromotionRefused, PromptError
from prompts.registry import PromptRegistry, parse_ref

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

RegistryOpt = Annotated[
    Path, typer.Option("--registry", "-r", envvar="SLUICE_PROMPTS_DIR", help="prompt registry folder")
]


def _registry(ctx: typer.Context) -> PromptRegistry:
    return ctx.obj["registry"]  # type: ignore[no-any-return]


def actor_name(explicit: str | None) -> str:
    return explicit or os.environ.get("SLUICE_ACTOR") or getpass.getuser()


def fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _ts(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + "Z"


def print_refusal(e: PromotionRefused) -> None:
    err_console.print(f"[red]refused:[/red] {e.message}")
    att: Attestation | None = e.details.get("attestation")
    if att is not None:
        for metric, value in sorted(att.scores.items()):
            err_console.print(f"  {metric} = {value:.4g}  (threshold {att.thresholds.get(metric, '-')})")
        for failure in att.failures:
            err_console.print(f"  [red]FAIL[/red] {failure.get('case')}: {'; '.join(failure.get('reasons', []))}")


def do_promote(registry: PromptRegistry, name: str, version: int, label: str, *, actor: str | None,
               reason: str, force: bool) -> None:
    """Shared by the leaf CLI and the composed one (which may run the suite first)."""
    try:
        move = gate.promote(registry, name, version, label, actor=actor_name(actor), reason=reason, force=force)
    except PromotionRefused as e:
        print_refusal(e)
        raise typer.Exit(1) from e
    except PromptError as e:
        raise fail(e.message) from e
    how = "FORCED (no passing attestation)" if move.kind == "force" else f"attestation {move.attestation_id}"
    console.print(f"{name}: {label} {move.from_version or '-'} -> {version}  [{how}]")


def make_app(*, with_promote: bool = True) -> typer.Typer:
    app = typer.Typer(help="Versioned prompts: list, inspect, render, promote and roll back.",
                      no_args_is_help=True)

    @app.callback()
    def _main(ctx: typer.Context, registry: RegistryOpt = Path("prompts")) -> None:
        ctx.obj = {"registry": PromptRegistry(registry)}

    @app.command("list")
    def list_(ctx: typer.Context) -> None:
        """Prompts with their versions and labels."""
        reg = _registry(ctx)
        table = Table("prompt", "versions", "labels", "latest hash")
        for name in reg.names():
            labels = ", ".join(f"{k}->v{v}" for k, v in sorted(reg.labels(name).items()))
            table.add_row(name, " ".join(f"v{v}" for v in reg.versions(name)), labels or "-",
                          reg.latest(name).content_hash()[7:19])
        console.print(table)

    @app.command()
    def show(ctx: typer.Context, ref: Annotated[str, typer.Argument(help="NAME[@label|version]")]) -> None:
        """Print one prompt version, its content hash and the labels pointing at it."""
        reg = _registry(ctx)
        name, at = parse_ref(ref)
        try:
            spec = reg.resolve(name, at)
        except PromptError as e:
            raise fail(e.message) from e
        labels = [k for k, v in reg.labels(name).items() if v == spec.version]
        console.print(f"# {spec.ref}  {spec.content_hash()}  labels: {', '.join(labels) or '-'}")
        console.print(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False))

    @app.command()
    def diff(ctx: typer.Context, name: str, a: int, b: int) -> None:
        """Unified diff of two versions' files (and whether their content hashes differ)."""
        reg = _registry(ctx)
        try:
            pa, pb = reg.path_of(name, a), reg.path_of(name, b)
            ha, hb = reg.get(name, a).content_hash(), reg.get(name, b).content_hash()
        except PromptError as e:
            raise fail(e.message) from e
        lines = difflib.unified_diff(pa.read_text().splitlines(), pb.read_text().splitlines(),
                                     f"{name}@{a}", f"{name}@{b}", lineterm="")
        for line in lines:
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else None
            console.print(line, style=style, markup=False)
        console.print("content hash: " + ("unchanged (no output-affecting change)" if ha == hb else f"{ha[7:19]} -> {hb[7:19]}"))

    @app.command()
    def render(
        ctx: typer.Context,
        ref: Annotated[str, typer.Argument(help="NAME[@label|version]")],
        var: Annotated[list[str] | None, typer.Option("--var", "-v", help="KEY=VALUE (repeatable)")] = None,
        vars_file: Annotated[Path | None, typer.Option(help="JSON file with the variables")] = None,
    ) -> None:
        """Render a prompt to the chat.completions body the gateway would send."""
        reg = _registry(ctx)
        variables: dict[str, Any] = json.loads(vars_file.read_text()) if vars_file else {}
        for item in var or []:
            key, sep, value = item.partition("=")
            if not sep:
                raise fail(f"--var expects KEY=VALUE, got {item!r}")
            variables[key] = value
        name, at = parse_ref(ref)
        try:
            rendered = reg.render(name, at, variables)
        except PromptError as e:
            raise fail(e.message) from e
        console.print_json(json.dumps(rendered.request_body()))

    @app.command()
    def history(ctx: typer.Context, name: str) -> None:
        """Label moves and eval attestations, oldest first."""
        reg = _registry(ctx)
        try:
            reg.versions(name)
        except PromptError as e:
            raise fail(e.message) from e
        table = Table("time", "event", "detail", "who / suite", "why / scores")
        events: list[tuple[float, list[str]]] = []
        for m in reg.label_moves(name):
            events.append((m.time, [_ts(m.time), m.kind, f"{m.label}: {m.from_version or '-'} -> v{m.to_version}",
                                    m.actor, m.reason or (f"attestation {m.attestation_id}" if m.attestation_id else "")]))
        for a in attestations_for(reg, name):
            scores = " ".join(f"{k}={v:.3g}" for k, v in sorted(a.scores.items()))
            verdict = "[green]pass[/green]" if a.passed else "[red]fail[/red]"
            events.append((a.time, [_ts(a.time), f"eval {verdict}", f"v{a.version} {a.content_hash[7:19]} ({a.mode})",
                                    f"{a.suite} data {a.dataset_hash[7:15]}" + (f" git {a.git_commit[:8]}" if a.git_commit else ""),
                                    scores]))
        for _, row in sorted(events, key=lambda e: e[0]):
            table.add_row(*row)
        console.print(table)

    if with_promote:
        @app.command()
        def promote(
            ctx: typer.Context, name: str, version: int,
            to: Annotated[str, typer.Option("--to", help="label to move")] = "production",
            reason: Annotated[str, typer.Option(help="why (required with --force)")] = "",
            force: Annotated[bool, typer.Option(help="bypass the eval gate (needs --reason; recorded)")] = False,
            actor: Annotated[str | None, typer.Option(help="who (default $SLUICE_ACTOR or the OS user)")] = None,
        ) -> None:
            """Move a label to a version; refused unless its suite passed on this exact content."""
            do_promote(_registry(ctx), name, version, to, actor=actor, reason=reason, force=force)

    @app.command()
    def rollback(
        ctx: typer.Context, name: str,
        label: Annotated[str, typer.Option("--label", help="label to move back")] = "production",
        reason: Annotated[str, typer.Option(help="why")] = "",
        actor: Annotated[str | None, typer.Option(help="who")] = None,
    ) -> None:
        """Move a label back to the version it pointed at before its last promotion."""
        try:
            move = gate.rollback(_registry(ctx), name, label, actor=actor_name(actor), reason=reason)
        except PromptError as e:
            raise fail(e.message) from e
        console.print(f"{name}: {label} v{move.from_version} -> v{move.to_version} (rollback)")

    return app


app = make_app()
if __name__ == "__main__":
    app()
