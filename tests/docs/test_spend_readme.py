"""gateway/spend/README.md as a test.

Convention (shared by tests/docs/test_*_readme.py, extending the root README's ```bash test):
a fenced block whose info string is `LANG test id=NAME [file=PATH] [background]` is an example
that runs here, in README order, in a temporary copy of examples/ (tests/docs/readme.py):
bash blocks run as one terminal session (exported variables carry over) with this venv's `sluice`
first on PATH; python blocks run with this venv's python; a block with file=PATH is written there
first (YAML is then loaded by the real config model, so a wrong key fails); a `background` block is
`sluice serve ...`, kept running on a free port that replaces 127.0.0.1:4000 in every block. Each
block has a check below (CHECKS, same order), and a runnable block without the mark fails the test.
`<!-- fields: module:name -->` before a table: the table lists exactly that object's fields, with
the code's defaults; `docs:budget_error` and `docs:alert_payload` are checked against the real
error body and alert here.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from pathlib import Path

import pytest
import yaml

from tests.docs.readme import (
    ROOT,
    Result,
    Session,
    check_field_tables,
    field_tables,
    json_docs_in,
    undocumented_options,
    unmarked_examples,
    wait_until,
    walk,
)

README = ROOT / "gateway" / "spend" / "README.md"
CHAT_REQUESTS = 6  # rows of the `requests` (3, the one without a key writes none) and `budget` (4) blocks


def _db(s: Session) -> sqlite3.Connection:
    return sqlite3.connect(s.ws / "demo" / ".sluice" / "spend.db")


def _team_id(s: Session, name: str) -> str:
    with _db(s) as c:
        return str(c.execute("SELECT id FROM teams WHERE name = ?", (name,)).fetchone()[0])


def _documented(target: str) -> list[str]:
    return sorted(r["name"] for r in field_tables(README)[target])


def _config(r: Result, s: Session) -> None:
    from gateway.config import load_config

    cfg = load_config(s.ws / "demo" / "sluice.yaml")
    assert cfg.auth.enabled and cfg.spend.prices["mock-gpt"].cached_input_per_mtok == 0.075
    assert cfg.spend.unpriced_with_budget == "block"


def _env(r: Result, s: Session) -> None:
    exported = s.envfile.read_text()
    assert all(f"{v}=" in exported for v in ("SLUICE_MASTER_KEY", "SLUICE_KEY_SECRET", "SLUICE_CONFIG"))


def _serve(r: Result, s: Session) -> None:
    assert s.server is not None and s.server.poll() is None


def _keys(r: Result, s: Session) -> None:
    assert f"created {_team_id(s, 'ml-platform')} (ml-platform)" in r.out
    assert "notebook" in r.out and "mock*" in r.out and "$50/month" in r.out
    assert re.search(r'KEY="sk-sluice-[\w-]{43}"', s.envfile.read_text())


def _requests(r: Result, s: Session) -> None:
    head, _, rest = r.out.partition("\n\n")  # curl -i: headers, a blank line, the body
    headers = dict(line.lower().split(": ", 1) for line in head.splitlines()[1:])
    spend_headers = re.findall(r'h\["(x-sluice-[\w-]+)"\]', (ROOT / "gateway/spend/hook.py").read_text())
    assert spend_headers and all(h in headers for h in spend_headers)
    assert all(f"`{h}`" in README.read_text() for h in spend_headers)
    assert float(headers["x-sluice-cost-usd"]) > 0
    answer, not_allowed, no_key = json_docs_in(rest)
    assert answer["object"] == "chat.completion"
    assert not_allowed["error"]["code"] == "model_not_allowed" and no_key["error"]["code"] == "missing_api_key"


def _budget(r: Result, s: Session) -> None:
    assert r.out.splitlines()[:2] == ["200", "429"]
    spent, unpriced = json_docs_in(r.out)
    err = spent["error"]
    assert err["type"] == "insufficient_quota" and err["code"] == "budget_exceeded"
    assert sorted(err["budget"]) == _documented("docs:budget_error")
    assert err["budget"]["scope"] == "key" and re.fullmatch(r"\d{4}-\d\d-\d\d", err["budget"]["period"])
    assert unpriced["error"]["code"] == "model_unpriced"
    assert "could cost up to" in err["message"] and err["budget"]["request_max_usd"] > 0
    wait_until(lambda: "budget alert: key tiny reached 50% of its day budget" in s.log(), what="the alert log")


def _admin(r: Result, s: Session) -> None:
    created = json_docs_in(r.out)[0]
    assert created["key"].startswith("sk-sluice-") and created["team_id"] == _team_id(s, "ml-platform")
    assert created["allowed_models"] == ["mock"] and created["budget_period"] == "day"
    assert re.search(r'"expires_at": \d', r.out)  # keys show
    assert re.search(r"revoked key_\w+", r.out)
    assert r.out.count("ci-bot") >= 3  # show, and both keys in `list --all`
    assert "key.rotate" in r.out and "key.revoke" in r.out


def _ledger_flushed(s: Session) -> None:
    def done() -> bool:
        with _db(s) as c:
            n = c.execute("SELECT count(*) FROM spend_ledger").fetchone()[0]
        spools = list((s.ws / "demo" / ".sluice" / "spool").glob("spool-*.jsonl"))
        return n >= CHAT_REQUESTS and all(p.stat().st_size == 0 for p in spools)

    wait_until(done, what="the ledger rows")


def _report(r: Result, s: Session) -> None:
    from gateway.spend.reports import METRICS

    team = _team_id(s, "ml-platform")
    lines = r.out.splitlines()
    assert any(team in line and "mock" in line for line in lines if line.startswith("│"))  # the table
    (key_day,) = [line for line in lines if line.startswith("key,key_name,day,")]
    assert key_day.split(",") == ["key", "key_name", "day", *METRICS]
    (team_user,) = [line for line in lines if line.startswith("team,team_name,user,")]
    assert team_user.split(",") == ["team", "team_name", "user", *METRICS]
    assert any(line.startswith(f"{team},ml-platform,ada,") for line in lines)  # the name beside the id
    by_status, team_only = json_docs_in(r.out)
    assert by_status["by"] == ["prompt", "status"] and "price_version" in by_status
    assert {row["status"] for row in by_status["rows"]} == {200, 403, 429}  # a 401 writes no row
    assert sum(row["requests"] for row in by_status["rows"]) == CHAT_REQUESTS
    assert team_only["team"] == team and {row["model"] for row in team_only["rows"]} == {"mock", "house-model"}
    assert "<svg" in (s.ws / "spend-report.html").read_text()


def _python(r: Result, s: Session) -> None:
    gpt, house, missing = r.out.splitlines()
    assert gpt.startswith("gpt-4o-mini litellm $") and float(gpt.rsplit("$", 1)[1]) > 0
    assert house == "house-model config $0.002000" and missing == "no-such-model unpriced"


def _scale(r: Result, s: Session) -> None:
    from gateway.config import parse_config
    from gateway.errors import ConfigError
    from gateway.spend.service import check_workers

    data = yaml.safe_load(r.out)
    cfg = parse_config(data)
    assert cfg.auth.counters.backend == "redis" and cfg.spend.ledger.backend == "postgres"
    check_workers(cfg)
    data["auth"]["counters"]["backend"] = "memory"  # what the table says is refused
    with pytest.raises(ConfigError, match="workers"):
        check_workers(parse_config(data))


CHECKS = {"config": _config, "env": _env, "serve": _serve, "keys": _keys, "requests": _requests,
          "budget": _budget, "admin": _admin, "report": _report, "scale": _scale, "python": _python}


@pytest.mark.slow
def test_readme_examples_run(tmp_path: Path) -> None:
    session = Session(tmp_path)
    try:
        walk(session, README, CHECKS, before={"report": _ledger_flushed})
    finally:
        session.close()


def test_every_example_is_marked() -> None:
    assert unmarked_examples(README) == []


def test_field_tables_match_the_code() -> None:
    check_field_tables(README, [
        "gateway.spend.config:AuthConfig", "gateway.spend.config:CountersConfig", "gateway.spend.config:SpendConfig",
        "gateway.spend.config:LedgerConfig", "gateway.spend.config:ModelPrice", "gateway.spend.config:AlertsConfig",
        "gateway.spend.config:RetentionConfig",
        "gateway.api.admin:KeyCreate", "gateway.api.admin:TeamCreate", "gateway.api.admin:TeamUpdate",
        "gateway.spend.schema:ledger", "gateway.spend.reports:DIMENSIONS", "gateway.spend.reports:METRICS",
    ])


def test_deployment_price_has_the_fields_of_spend_prices() -> None:
    from gateway.config import Price
    from gateway.spend.config import ModelPrice

    assert Price.model_fields.keys() == ModelPrice.model_fields.keys()  # one table documents both


def test_alert_payload_is_documented(tmp_path: Path) -> None:
    from gateway.spend.alerts import BudgetAlerter
    from gateway.spend.budgets import Budget
    from gateway.spend.service import SpendService
    from tests.spend.helpers import make_config

    svc = SpendService(make_config(tmp_path))
    svc.migrate()
    alerter = BudgetAlerter(svc.engine, [0.8])
    asyncio.run(alerter(Budget("team", "team_1", "team ml", 10.0, "month"), "2026-01", 7.0, 8.5, time.time()))
    svc.engine.dispose()
    (alert,) = alerter.sent
    assert sorted(alert) == _documented("docs:alert_payload")


def test_refusal_codes_are_documented() -> None:
    text = README.read_text(encoding="utf-8")
    sources = ["gateway/spend/auth.py", "gateway/spend/hook.py", "gateway/spend/limits.py", "gateway/api/admin.py",
               "gateway/api/spend.py", "gateway/api/deps.py"]  # deps.py: the admin guard of every /sluice/v1 API
    codes = {c for f in sources if (ROOT / f).exists()
             for c in re.findall(r'code="(\w+)"', (ROOT / f).read_text(encoding="utf-8"))}
    assert codes and [c for c in sorted(codes | {"budget_exceeded"}) if f"`{c}`" not in text] == []


def test_cli_options_are_documented() -> None:
    from gateway.cli.spend import keys_app, spend_app, teams_app

    assert [o for app in (keys_app, teams_app, spend_app) for o in undocumented_options(README, app)] == []
