import orjson
import pytest
import typer
from typer.testing import CliRunner

from gateway.cli.spend import keys_app, spend_app, teams_app
from gateway.spend.ledger import insert_rows
from gateway.spend.service import SpendService
from tests.spend.helpers import make_config
from tests.spend.test_ledger import row

root = typer.Typer()
root.add_typer(keys_app, name="keys")
root.add_typer(teams_app, name="teams")
root.add_typer(spend_app, name="spend")


@pytest.fixture
def cfg_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SLUICE_KEY_SECRET", "cli-secret")
    p = tmp_path / "sluice.yaml"
    p.write_text("spend:\n  ledger:\n    path: spend.db\n    spool_dir: spool\n")
    return p


def run(*args):
    r = CliRunner().invoke(root, [str(a) for a in args])
    return r


def test_keys_and_teams_from_the_cli(cfg_file):
    r = run("teams", "create", "ml", "--budget", "20", "--period", "day", "-c", cfg_file)
    assert r.exit_code == 0, r.output
    r = run("keys", "create", "--team", "ml", "--name", "ci", "-m", "gpt-*", "--rpm", "10", "-c", cfg_file)
    assert r.exit_code == 0, r.output
    lines = r.stdout.strip().splitlines()
    key_id, plaintext = lines[0].split()[1], lines[1]
    assert plaintext.startswith("sk-sluice-")
    listed = run("keys", "list", "-c", cfg_file).stdout
    assert key_id in listed and plaintext not in listed
    shown = orjson.loads(run("keys", "show", key_id, "-c", cfg_file).stdout)
    assert shown["allowed_models"] == ["gpt-*"] and shown["rpm"] == 10
    r = run("keys", "rotate", key_id, "-c", cfg_file)
    assert r.exit_code == 0 and "now revoked" in r.stdout
    assert run("keys", "revoke", "key_nope", "-c", cfg_file).exit_code == 1
    r = run("teams", "list", "-c", cfg_file)
    assert "ml" in r.stdout and "$20/day" in r.stdout
    r = run("spend", "audit", "-c", cfg_file)
    assert "key.rotate" in r.stdout and "team.create" in r.stdout


def test_key_create_without_a_secret_says_which_env_var(cfg_file, monkeypatch):
    monkeypatch.delenv("SLUICE_KEY_SECRET")
    monkeypatch.delenv("SLUICE_MASTER_KEY", raising=False)
    r = run("keys", "create", "-c", cfg_file)
    assert r.exit_code == 2 and "SLUICE_KEY_SECRET" in r.output


def test_report_formats_agree(cfg_file, tmp_path):
    svc = SpendService(make_config(tmp_path, spend={"ledger": {"path": str(tmp_path / "spend.db")}}))
    svc.migrate()
    day = 1_763_942_400.0
    insert_rows(svc.engine, [row("a", ts=day + 10, cost=0.25, team_id="t1", day="2025-11-24"),
                             row("b", ts=day + 20, cost=0.5, team_id="t2", day="2025-11-24"),
                             row("c", ts=day + 86400 + 5, cost=1.0, team_id="t1", day="2025-11-25"),
                             row("old", ts=day - 86400, cost=9.0, team_id="t1", day="2025-11-23")])
    r = run("spend", "report", "--from", "2025-11-24", "--to", "2025-11-25", "--by", "team", "-f", "csv", "-c", cfg_file)
    assert r.exit_code == 0, r.output
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("team,team_name,requests,")
    assert lines[1].startswith("t1,,2,") and ",1.25,625.0,priced," in lines[1]  # no team row: no name
    out_json = run("spend", "report", "--from", "2025-11-24", "--by", "day", "-f", "json", "-c", cfg_file).stdout
    assert out_json.endswith("}\n")  # ends its line, like csv and table
    data = orjson.loads(out_json)
    assert {r["day"]: r["cost_usd"] for r in data["rows"]} == {"2025-11-24": 0.75, "2025-11-25": 1.0}
    table = run("spend", "report", "--by", "team,day", "-c", cfg_file).stdout
    assert "9.000000" in table and "t2" in table
    out = tmp_path / "r.html"
    assert run("spend", "report", "-f", "html", "-o", out, "-c", cfg_file).exit_code == 0
    assert "<svg" in out.read_text()
    r = run("spend", "report", "--by", "color", "-c", cfg_file)
    assert r.exit_code == 1 and "choose from" in r.output
    r = run("spend", "report", "--from", "yesterday", "-c", cfg_file)
    assert r.exit_code == 1 and "YYYY-MM-DD" in r.output


def test_a_team_budget_period_other_than_day_or_month_is_refused(cfg_file):
    """`week` used to be stored and then enforced monthly (anything but `day` counts as a month)."""
    r = run("teams", "create", "ml", "--budget", "20", "--period", "week", "-c", cfg_file)
    assert r.exit_code == 1 and "--period must be day or month" in r.output
    assert run("teams", "create", "ml", "--budget", "20", "-c", cfg_file).exit_code == 0
    r = run("teams", "update", "ml", "--period", "fortnight", "-c", cfg_file)
    assert r.exit_code == 1 and "--period must be day or month" in r.output
    assert "/month" in run("teams", "list", "-c", cfg_file).stdout


def test_report_out_creates_its_folder(cfg_file, tmp_path):
    out = tmp_path / "reports" / "2026-12" / "spend.csv"
    r = run("spend", "report", "--format", "csv", "--out", out, "-c", cfg_file)
    assert r.exit_code == 0, r.output
    assert out.read_text(encoding="utf-8").splitlines()[0].startswith("team")
