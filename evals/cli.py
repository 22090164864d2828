"""`sluice eval run SUITE ...`: run an eval suite; exit 0 pass, 1 thresholds failed, 2 could not run."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from evals.results import RunResult
    from evals.suite import Suite

app = typer.Typer(help="Evaluation suites: run them locally or in CI, get reports and an exit code.",
                  no_args_is_help=True)
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


@app.callback()
def _main() -> None:
    """Evaluation harness."""


def write_reports(result: RunResult, *, json_path: Path | None, junit: Path | None, markdown: Path | None,
                  html: Path | None, baseline: Path | None) -> None:
    import orjson

    from evals.reports import compare, print_summary, to_html, to_junit, to_markdown
    from evals.reports.baseline import load_baseline

    comparison = None
    data = result.to_dict()
    if baseline is not None:
        comparison = compare(data, load_baseline(baseline), label=str(baseline))
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    if junit:
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_text(to_junit(result))
    if markdown:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(to_markdown(result, comparison))
    if html:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(to_html(result, comparison))
    print_summary(result, console, comparison)


@app.command()
def run(
    suite: Annotated[Path, typer.Argument(help="suite YAML file")],
    base_url: Annotated[str | None, typer.Option(envvar="SLUICE_BASE_URL", help="OpenAI-compatible base URL, e.g. http://localhost:4000/v1")] = None,
    api_key: Annotated[str, typer.Option(envvar="SLUICE_API_KEY", help="key sent to the endpoint")] = "sk-eval",
    record: Annotated[bool, typer.Option("--record", help="store every model exchange in the cassette")] = False,
    replay: Annotated[bool, typer.Option("--replay", help="answer from the cassette only; no model access")] = False,
    cassette: Annotated[Path | None, typer.Option(help="cassette file (default cassettes/<suite>/<hash>.json next to the suite)")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the JSON report")] = None,
    junit: Annotated[Path | None, typer.Option(help="write JUnit XML")] = None,
    markdown: Annotated[Path | None, typer.Option(help="write a Markdown summary")] = None,
    html: Annotated[Path | None, typer.Option(help="write an HTML report")] = None,
    baseline: Annotated[Path | None, typer.Option(help="JSON report of an earlier run to compare against")] = None,
    registry: Annotated[Path | None, typer.Option(envvar="SLUICE_PROMPTS_DIR", help="prompt registry folder")] = None,
    prompt_version: Annotated[str | None, typer.Option(help="evaluate this version or label of the suite's prompt")] = None,
    cache: Annotated[bool, typer.Option(help="reuse cached replies (live mode)")] = True,
    cache_file: Annotated[Path, typer.Option(help="result cache file")] = Path(".sluice/eval-cache.sqlite"),
    attest_run: Annotated[bool, typer.Option("--attest", help="record the result as an attestation for the prompt gate")] = False,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    allow_dataset_outside: Annotated[bool, typer.Option(
        "--allow-dataset-outside", help="let the suite's dataset file lie outside the suite's folder")] = False,
    dataset: Annotated[str | None, typer.Option(
        help="run over these cases instead of the suite's: a .jsonl/.csv file, or captured:NAME (a dataset "
             "traffic capture keeps in $SLUICE_CAPTURE_DIR, default .sluice/captured)")] = None,
) -> None:
    """Run SUITE and exit 0 (thresholds met), 1 (thresholds failed) or 2 (the suite could not run)."""
    from evals.attest import attest  # heavy imports (openai SDK) only when a suite runs
    from evals.errors import SuiteError
    from evals.session import RunOptions, run_suite_file

    if record and replay:
        err_console.print("error: --record and --replay exclude each other")
        raise typer.Exit(2)
    opts = RunOptions(base_url=base_url, api_key=api_key, mode="record" if record else "replay" if replay else "live",
                      cassette=cassette, cache_path=cache_file if cache else None, registry_dir=registry,
                      prompt_ref=prompt_version, progress=progress and console.is_terminal,
                      allow_outside_dataset=allow_dataset_outside)
    if dataset is not None and attest_run:
        err_console.print("error: --attest records evidence for the suite's own dataset; drop --dataset or --attest")
        raise typer.Exit(2)
    try:
        target: Path | Suite = suite if dataset is None else with_dataset(suite, dataset, allow_dataset_outside)
        result = asyncio.run(run_suite_file(target, opts))
        write_reports(result, json_path=json_out, junit=junit, markdown=markdown, html=html, baseline=baseline)
        if attest_run:
            att = attest(result, registry or result_registry(suite, registry))
            console.print(f"attestation {att.id}: {att.prompt}@{att.version} {'passed' if att.passed else 'failed'}",
                          markup=False)
    except SuiteError as e:
        err_console.print("[yellow]error:[/yellow] " + escape(str(e)))
        raise typer.Exit(2) from e
    raise typer.Exit(result.exit_code)


def with_dataset(suite_path: Path, dataset: str, allow_outside: bool) -> Suite:
    """The suite with its cases replaced by `dataset` (a file, or captured:NAME)."""
    import os

    from evals.dataset import load_cases
    from evals.errors import SuiteError
    from evals.suite import load_suite

    suite = load_suite(suite_path, allow_outside_dataset=allow_outside)
    if dataset.startswith("captured:"):
        name = dataset.removeprefix("captured:")
        if not name or "/" in name or name.startswith("."):
            raise SuiteError(f"captured:NAME takes a dataset name (see `sluice datasets list`), got {dataset!r}")
        path = Path(os.environ.get("SLUICE_CAPTURE_DIR", ".sluice/captured")) / f"{name}.jsonl"
        if not path.exists():
            raise SuiteError(f"no captured dataset {name!r} at {path} (see `sluice datasets list`)")
    else:
        path = Path(dataset)
    suite.cases = load_cases(str(path.resolve()), Path.cwd(), allow_outside=True)
    return suite


def result_registry(suite_path: Path, override: Path | None) -> Path:
    from evals.suite import load_suite

    return load_suite(suite_path, allow_outside_dataset=True).registry_dir(override)
if __name__ == "__main__":
    app()
