"""`sluice prompts list|show|diff|render|history|status|verify|promote|rollback`.

`promote --run` (run the suite now) needs the eval harness, which this leaf must not import:
gateway/cli/prompts.py builds the same app with a promote command that can run suites.
"""

from __future__ import annotations

import difflib
import getpass
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from prompts import gate
from prompts import rollout as rollouts
from prompts.attestations import Attestation, attestations_for
from prompts.config import PromptsConfig
from prompts.errors import PromotionRefused, PromptError
from prompts.registry import LabelMove, PromptRegistry, parse_ref
from prompts.verify import verify as verify_history

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

RegistryOpt = Annotated[
    Path, typer.Option("--registry", "-r", envvar="SLUICE_PROMPTS_DIR", help="prompt registry folder")
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", envvar="SLUICE_CONFIG",
                              help="gateway config whose `prompts:` section holds the label policy")
]


def _registry(ctx: typer.Context) -> PromptRegistry:
    return ctx.obj["registry"]  # type: ignore[no-any-return]


def _config(ctx: typer.Context) -> PromptsConfig:
    return ctx.obj["config"]  # type: ignore[no-any-return]


def load_prompts_config(path: Path | None) -> PromptsConfig:
    """The `prompts:` section of a gateway config file (defaults without one)."""
    if path is None:
        return PromptsConfig()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return PromptsConfig.model_validate(data.get("prompts") or {})
    except (OSError, yaml.YAMLError, AttributeError, ValidationError) as e:
        raise fail(f"cannot read the prompts section of {path}: {e}") from e


def labels_text(reg: PromptRegistry, name: str, version: int | None = None) -> str:
    """'production->v2 (forced), staging->v1' (only the labels on `version`, if given)."""
    out = []
    for label, move in sorted(reg.current_moves(name).items()):
        if version is None or move.to_version == version:
            out.append(f"{label}->v{move.to_version}" + (" (forced)" if move.forced else ""))
    return ", ".join(out)


def actor_text(move: LabelMove) -> str:
    return move.actor + (" (claimed)" if move.actor_claimed else "")


def actor_name(explicit: str | None) -> str:
    return explicit or os.environ.get("SLUICE_ACTOR") or getpass.getuser()


def fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print("[red]error:[/red] " + escape(message))
    return typer.Exit(code)


def _ts(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + "Z"


def bound_text(bound: object) -> str:
    """A threshold as people write it: '>= 0.9', '<= 3000', '0.5..1'."""
    if isinstance(bound, dict):
        lo, hi = bound.get("min"), bound.get("max")
        if lo is not None and hi is not None:
            return f"{lo:g}..{hi:g}"
        if lo is not None:
            return f">= {lo:g}"
        if hi is not None:
            return f"<= {hi:g}"
        return "none"
    return f">= {bound:g}" if isinstance(bound, int | float) else str(bound)


def print_refusal(e: PromotionRefused) -> None:
    err_console.print("[red]refused:[/red] " + escape(e.message))
    att: Attestation | None = e.details.get("attestation")
    if att is not None:
        for metric, value in sorted(att.scores.items()):
            bound = att.thresholds.get(metric)
            needs = f"  (needs {bound_text(bound)})" if bound is not None else ""
            err_console.print(f"  {metric} = {value:.4g}{needs}", markup=False)
        for failure in att.failures:
            err_console.print("  [red]FAIL[/red] " + escape(f"{failure.get('case')}: {'; '.join(failure.get('reasons', []))}"))


def do_promote(registry: PromptRegistry, name: str, version: int, label: str, *, actor: str | None,
               reason: str, force: bool, config: PromptsConfig | None = None,
               fingerprint: gate.Fingerprint | None = None) -> None:
    """Shared by the leaf CLI and the composed one (which may run the suite first)."""
    policy = (config or PromptsConfig()).policy_for(label)
    try:
        move = gate.promote(registry, name, version, label, actor=actor_name(actor), reason=reason, force=force,
                            policy=policy, fingerprint=fingerprint)
    except PromotionRefused as e:
        print_refusal(e)
        raise typer.Exit(1) from e
    except PromptError as e:
        raise fail(e.message) from e
    how = "FORCED (no passing attestation)" if move.forced else f"attestation {move.attestation_id}"
    console.print(f"{name}: {label} {move.from_version or '-'} -> {version}  [{how}]", markup=False)


def make_app(*, with_promote: bool = True, fingerprint: gate.Fingerprint | None = None) -> typer.Typer:
    """`fingerprint` lets the gate compare the suite's current dataset hash (the eval harness has it)."""
    app = typer.Typer(help="Versioned prompts: list, inspect, render, promote and roll back.",
                      no_args_is_help=True)

    @app.callback()
    def _main(ctx: typer.Context, registry: RegistryOpt = Path("prompts"), config: ConfigOpt = None) -> None:
        settings = load_prompts_config(config)
        try:
            reg = PromptRegistry(registry, key_env=settings.attest_key_env)
        except ValueError as e:  # a key too short to sign with
            raise fail(str(e)) from e
        ctx.obj = {"registry": reg, "config": settings, "fingerprint": fingerprint}

    @app.command("list")
    def list_(ctx: typer.Context) -> None:
        """Prompts with their versions and labels."""
        reg = _registry(ctx)
        table = Table("prompt", "versions", "labels", "latest hash")
        for name in reg.names():
            table.add_row(name, " ".join(f"v{v}" for v in reg.versions(name)), escape(labels_text(reg, name)) or "-",
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
        console.print(f"# {spec.ref}  {spec.content_hash()}  labels: {labels_text(reg, name, spec.version) or '-'}",
                      markup=False)
        console.print(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False), markup=False)

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
            kind = m.kind + (" (forced)" if m.forced and m.kind != "force" else "")
            events.append((m.time, [_ts(m.time), escape(kind), f"{m.label}: {m.from_version or '-'} -> v{m.to_version}",
                                    escape(actor_text(m)),
                                    escape(m.reason or (f"attestation {m.attestation_id}" if m.attestation_id else ""))]))
        for a in attestations_for(reg, name):  # every run, failed ones too
            scores = " ".join(f"{k}={v:.3g}" for k, v in sorted(a.scores.items()))
            verdict = "[green]pass[/green]" if a.passed else "[red]fail[/red]"
            events.append((a.time, [_ts(a.time), f"eval {verdict}", f"v{a.version} {a.content_hash[7:19]} ({a.mode})",
                                    escape(f"{a.suite} data {a.dataset_hash[7:15]}"
                                           + (f" git {a.git_commit[:8]}" if a.git_commit else "")),
                                    scores]))
        for _, row in sorted(events, key=lambda e: e[0]):
            table.add_row(*row)
        console.print(table)

    @app.command()
    def status(ctx: typer.Context) -> None:
        """Released versions whose file differs from the snapshot their labels serve (exit 1 if any)."""
        reg = _registry(ctx)
        try:
            drift = reg.status()
        except PromptError as e:
            raise fail(e.message) from e
        if not drift:
            console.print("every released version's file matches its snapshot")
            return
        table = Table("prompt", "version", "label", "file", "serving")
        for d in drift:
            table.add_row(d["prompt"], f"v{d['version']}", d["label"], d["state"], d["served_hash"][7:19])
        console.print(table)
        console.print("labels keep serving their snapshots; to release an edit, add a new version and promote it",
                      markup=False)
        raise typer.Exit(1)

    @app.command()
    def verify(ctx: typer.Context) -> None:
        """Check the whole history (journals, signatures, snapshots); exit 1 on anything forged or missing."""
        problems = verify_history(_registry(ctx))
        for p in problems:
            err_console.print("[red]FAIL[/red] " + escape(p))
        if problems:
            raise typer.Exit(1)
        console.print("history verifies: journals chained and signed, every snapshot intact")

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
            do_promote(_registry(ctx), name, version, to, actor=actor, reason=reason, force=force,
                       config=_config(ctx), fingerprint=ctx.obj["fingerprint"])

    @app.command()
    def rollback(
        ctx: typer.Context, name: str,
        label: Annotated[str, typer.Option("--label", help="label to move back")] = "production",
        reason: Annotated[str, typer.Option(help="why (required with --force)")] = "",
        force: Annotated[bool, typer.Option(help="roll back to content with no valid attestation (needs --reason)")] = False,
        actor: Annotated[str | None, typer.Option(help="who")] = None,
    ) -> None:
        """Move a label back to the snapshot it served before its last move; refused unless that content
        has a valid attestation, or forced with a reason."""
        try:
            move = gate.rollback(_registry(ctx), name, label, actor=actor_name(actor), reason=reason, force=force,
                                 policy=_config(ctx).policy_for(label), fingerprint=ctx.obj["fingerprint"])
        except PromotionRefused as e:
            print_refusal(e)
            raise typer.Exit(1) from e
        except PromptError as e:
            raise fail(e.message) from e
        mark = ", FORCED" if move.forced else ""
        console.print(f"{name}: {label} v{move.from_version} -> v{move.to_version} (rollback{mark})", markup=False)

    app.add_typer(_rollout_app(), name="rollout")
    return app


LabelOpt = Annotated[str, typer.Option("--label", help="label being rolled out")]
PercentOpt = Annotated[int, typer.Option("--percent", help="share of units on the candidate, 1..100")]
ActorOpt = Annotated[str | None, typer.Option(help="who (default $SLUICE_ACTOR or the OS user)")]


def _rollout_app() -> typer.Typer:
    """`sluice prompts rollout start|step|abort|promote|status`: a sticky share of a label's traffic."""
    ro_app = typer.Typer(help="Roll a candidate version out to a percent of a label's traffic (sticky per unit).",
                         no_args_is_help=True)

    def run(ctx: typer.Context, what: Callable[[], str]) -> None:
        try:
            console.print(what(), markup=False)
        except PromotionRefused as e:
            print_refusal(e)
            raise typer.Exit(1) from e
        except PromptError as e:
            raise fail(e.message) from e

    @ro_app.command("start")
    def start(ctx: typer.Context, name: str,
              candidate: Annotated[int, typer.Option("--candidate", help="version to roll out")],
              percent: PercentOpt, label: LabelOpt = "production", actor: ActorOpt = None) -> None:
        """Start a rollout; refused unless the candidate could be promoted to the label."""
        def go() -> str:
            ro = rollouts.start(_registry(ctx), name, candidate, label, percent=percent, actor=actor_name(actor),
                                policy=_config(ctx).policy_for(label), fingerprint=ctx.obj["fingerprint"])
            return f"{name}: rollout {ro.id} on {label}: v{ro.baseline} -> v{ro.candidate} at {ro.percent}%"
        run(ctx, go)

    @ro_app.command("step")
    def step(ctx: typer.Context, name: str, percent: PercentOpt, label: LabelOpt = "production",
             actor: ActorOpt = None) -> None:
        """Change the candidate's share (up or down)."""
        def go() -> str:
            ro = rollouts.step(_registry(ctx), name, label, percent=percent, actor=actor_name(actor))
            return f"{name}: rollout {ro.id} on {label} now at {ro.percent}%"
        run(ctx, go)

    @ro_app.command("abort")
    def abort(ctx: typer.Context, name: str, label: LabelOpt = "production", actor: ActorOpt = None) -> None:
        """End the rollout: everyone back on the baseline."""
        def go() -> str:
            ro = rollouts.abort(_registry(ctx), name, label, actor=actor_name(actor))
            return f"{name}: rollout {ro.id} on {label} aborted; all traffic on v{ro.baseline}"
        run(ctx, go)

    @ro_app.command("promote")
    def promote_(ctx: typer.Context, name: str, label: LabelOpt = "production", actor: ActorOpt = None) -> None:
        """Promote the candidate (through the gate) and end the rollout."""
        def go() -> str:
            move = rollouts.promote(_registry(ctx), name, label, actor=actor_name(actor),
                                    policy=_config(ctx).policy_for(label), fingerprint=ctx.obj["fingerprint"])
            return f"{name}: {label} {move.from_version} -> {move.to_version}  [attestation {move.attestation_id}]"
        run(ctx, go)

    @ro_app.command("status")
    def status_(ctx: typer.Context, name: str) -> None:
        """Rollouts of a prompt: baseline, candidate, percent, state and history."""
        reg = _registry(ctx)
        try:
            found = rollouts.rollouts(reg, name) if reg.versions(name) else []
        except PromptError as e:
            raise fail(e.message) from e
        if not found:
            console.print(f"{name}: no rollouts", markup=False)
            return
        for ro in found:
            console.print(f"{ro.id} {ro.label}: baseline v{ro.baseline}, candidate v{ro.candidate}, "
                          f"{ro.percent}%, {ro.state}", markup=False)
            for r in ro.history:
                extra = f" {r['percent']}%" if "percent" in r else ""
                why = f": {r['reason']}" if r.get("reason") else ""
                console.print(f"  {_ts(r['time'])} {r['type']}{extra} by {r.get('actor', '')}{why}", markup=False)

    return ro_app


app = make_app()
if __name__ == "__main__":
    app()
