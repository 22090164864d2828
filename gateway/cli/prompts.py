"""`sluice prompts ...` with `promote --run`: the one command that joins prompts and evals.

The registry (prompts/) is a leaf and cannot run suites; here the promote command may first run
the prompt's suite on that exact version (live, or --replay from cassettes), record the run as a
signed attestation, and only then ask the gate, which compares the suite's current dataset hash
through the eval harness (`suite_fingerprint`). Mount `app` as `sluice prompts` and
`evals.cli.app` as `sluice eval`.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from gateway.integrations.prompts import suite_fingerprint
from prompts import PromptError
from prompts.cli import actor_name, console, do_promote, fail, make_app

app = make_app(with_promote=False, fingerprint=suite_fingerprint)


@app.command()
def promote(
    ctx: typer.Context,
    name: str,
    version: int,
    to: Annotated[str, typer.Option("--to", help="label to move")] = "production",
    reason: Annotated[str, typer.Option(help="why (required with --force)")] = "",
    force: Annotated[bool, typer.Option(help="bypass the eval gate (needs --reason; recorded)")] = False,
    actor: Annotated[str | None, typer.Option(help="who (default $SLUICE_ACTOR or the OS user); recorded as claimed")] = None,
    run: Annotated[bool, typer.Option("--run", help="run the prompt's suite on this version first")] = False,
    replay: Annotated[bool, typer.Option("--replay", help="with --run: answer from the suite's cassettes")] = False,
    record: Annotated[bool, typer.Option("--record", help="with --run: live, and write the cassette a later replay may use")] = False,
    base_url: Annotated[str | None, typer.Option(envvar="SLUICE_BASE_URL", help="with --run: endpoint")] = None,
    api_key: Annotated[str, typer.Option(envvar="SLUICE_API_KEY")] = "sk-eval",
) -> None:
    """Move a label to a version; refused unless its suite passed on this exact content."""
    registry = ctx.obj["registry"]
    if run:
        from evals.attest import attest  # the eval harness (openai SDK) loads only for --run
        from evals.errors import SuiteError
        from evals.reports import print_summary
        from evals.session import RunOptions, run_suite_file

        if record and replay:
            raise fail("--record and --replay exclude each other")
        try:
            spec = registry.get(name, version)
        except PromptError as e:
            raise fail(e.message) from e
        if not spec.suite:
            raise fail(f"{spec.ref} names no suite (add `suite:` to its file); cannot --run")
        suite_path = registry.path_of(name, version).parent / spec.suite
        opts = RunOptions(base_url=base_url, api_key=api_key,
                          mode="replay" if replay else "record" if record else "live",
                          registry_dir=registry.dir, prompt_ref=str(version))
        try:
            result = asyncio.run(run_suite_file(suite_path, opts))
            print_summary(result, console)
            att = attest(result, registry.dir, actor=actor_name(actor))
        except SuiteError as e:
            raise fail(f"suite could not run: {e}") from e
        console.print(f"attestation {att.id} recorded: {'pass' if att.passed else 'fail'}", markup=False)
    do_promote(registry, name, version, to, actor=actor, reason=reason, force=force, config=ctx.obj["config"],
               fingerprint=suite_fingerprint)
