"""The committed examples: two prompts whose suites pass from cassettes (no model access), and a
deliberately regressed version the gate refuses. Run on a copy, so no state lands in examples/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli.prompts import app as prompts_app
from prompts import PromptRegistry, latest_attestation

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    shutil.copytree(EXAMPLES / "prompts", tmp_path / "prompts", ignore=shutil.ignore_patterns(".sluice"))
    shutil.copytree(EXAMPLES / "evals", tmp_path / "evals")
    monkeypatch.setenv("SLUICE_ACTOR", "ci-bot")
    return tmp_path


def cli(ws: Path, *args: str, config: Path | None = EXAMPLES / "sluice.yaml"):
    """The demo config's label policy accepts replays of the committed (unsigned) cassettes."""
    opts = ["--config", str(config)] if config else []
    return runner.invoke(prompts_app, ["--registry", str(ws / "prompts"), *opts, *args])


def test_by_default_a_replay_counts_only_for_a_cassette_a_signed_recording_wrote(workspace):
    refused = cli(workspace, "promote", "support-answer", "1", "--run", "--replay", config=None)
    assert refused.exit_code == 1, refused.output
    assert "not written by a signed recording run" in refused.output
    assert PromptRegistry(workspace / "prompts").labels("support-answer") == {}


def test_gate_promotes_good_versions_and_refuses_the_regressed_one(workspace):
    reg = PromptRegistry(workspace / "prompts")
    refused = cli(workspace, "promote", "support-answer", "1", "--to", "production")
    assert refused.exit_code == 1 and "no valid eval attestation" in refused.output

    ok = cli(workspace, "promote", "support-answer", "1", "--to", "production", "--run", "--replay")
    assert ok.exit_code == 0, ok.output
    assert reg.labels("support-answer") == {"production": 1}
    att = latest_attestation(reg, "support-answer", reg.get("support-answer", 1).content_hash())
    assert att.passed and att.mode == "replay" and att.scores["pass_rate"] == 0.5

    bad = cli(workspace, "promote", "support-answer", "2", "--to", "production", "--run", "--replay")
    assert bad.exit_code == 1, bad.output
    assert "refused" in bad.output and "FAIL refund-window" in bad.output  # names the failing cases
    assert reg.labels("support-answer") == {"production": 1}
    att2 = latest_attestation(reg, "support-answer", reg.get("support-answer", 2).content_hash())
    assert not att2.passed and att2.scores["pass_rate"] == 0.0

    ok2 = cli(workspace, "promote", "extract-order", "1", "--run", "--replay")
    assert ok2.exit_code == 0, ok2.output
    assert reg.labels("extract-order") == {"production": 1}


def test_force_and_rollback_are_recorded(workspace):
    assert cli(workspace, "promote", "support-answer", "1", "--run", "--replay").exit_code == 0
    no_reason = cli(workspace, "promote", "support-answer", "2", "--force")
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output
    forced = cli(workspace, "promote", "support-answer", "2", "--force", "--reason", "incident 42 hotfix")
    assert forced.exit_code == 0 and "FORCED" in forced.output
    back = cli(workspace, "rollback", "support-answer", "--reason", "answers lost the facts")
    assert back.exit_code == 0 and "v2 -> v1" in back.output
    moves = PromptRegistry(workspace / "prompts").label_moves("support-answer")
    assert [(m.kind, m.to_version, m.actor) for m in moves] == [
        ("promote", 1, "ci-bot"), ("force", 2, "ci-bot"), ("rollback", 1, "ci-bot")]
    assert moves[1].reason == "incident 42 hotfix"
    hist = runner.invoke(prompts_app, ["--registry", str(workspace / "prompts"), "history", "support-answer"],
                         env={"COLUMNS": "200"})
    assert hist.exit_code == 0 and "force" in hist.output and "rollback" in hist.output and "eval" in hist.output


def test_editing_a_prompt_invalidates_its_attestation(workspace):
    assert cli(workspace, "promote", "extract-order", "1", "--run", "--replay").exit_code == 0
    f = workspace / "prompts" / "extract-order" / "v1.yaml"
    f.write_text(f.read_text().replace("max_tokens: 12", "max_tokens: 13"))
    again = cli(workspace, "promote", "extract-order", "1", "--to", "staging")
    assert again.exit_code == 1 and "no valid eval attestation" in again.output
    rerun = cli(workspace, "promote", "extract-order", "1", "--to", "staging", "--run", "--replay")
    assert rerun.exit_code == 2 and "suite could not run" in rerun.output and "no cassette" in rerun.output


def test_prompts_cli_read_commands(workspace):
    listing = cli(workspace, "list")
    assert listing.exit_code == 0 and "support-answer" in listing.output and "extract-order" in listing.output
    shown = cli(workspace, "show", "support-answer@2")
    assert shown.exit_code == 0 and "support-answer@2" in shown.output and "sha256:" in shown.output
    rendered = cli(workspace, "render", "extract-order@1", "--var", "message=order X-00001 is late")
    assert rendered.exit_code == 0 and "order X-00001 is late" in rendered.output
    missing = cli(workspace, "render", "extract-order@1")
    assert missing.exit_code == 2 and "message" in missing.output
    diff = cli(workspace, "diff", "support-answer", "1", "2")
    assert diff.exit_code == 0 and "- Refunds are accepted within 30 days" in diff.output
    assert cli(workspace, "show", "ghost").exit_code == 2


def test_ci_workflow_replays_changed_suites_and_posts_markdown():
    import yaml

    wf = yaml.safe_load((EXAMPLES / "ci" / "github-actions-evals.yml").read_text())
    steps = wf["jobs"]["evals"]["steps"]
    scripts = "\n".join(s.get("run", "") for s in steps)
    assert "sluice eval run" in scripts and "--replay" in scripts and "--markdown" in scripts
    assert "gh pr comment" in scripts and wf["permissions"]["pull-requests"] == "write"
    assert set(wf[True]["pull_request"]["paths"]) == {"examples/prompts/**", "examples/evals/**"}  # YAML 1.1: on -> True


def test_prompts_cli_error_paths(workspace):
    assert cli(workspace, "diff", "support-answer", "1", "9").exit_code == 2
    bad_var = cli(workspace, "render", "extract-order@1", "--var", "message")
    assert bad_var.exit_code == 2 and "KEY=VALUE" in bad_var.output
    assert cli(workspace, "history", "ghost").exit_code == 2
    nothing = cli(workspace, "rollback", "support-answer")
    assert nothing.exit_code == 2 and "no label 'production'" in nothing.output
    no_suite = workspace / "prompts" / "extract-order" / "v2.yaml"
    no_suite.write_text((workspace / "prompts" / "extract-order" / "v1.yaml").read_text()
                        .replace("version: 1", "version: 2").replace("suite: ../../evals/extract-order.yaml", ""))
    res = cli(workspace, "promote", "extract-order", "2", "--run", "--replay")
    assert res.exit_code == 2 and "names no suite" in res.output
