"""`sluice keys ...`, `sluice teams ...`, `sluice spend ...`: Typer apps mounted by gateway/cli/root.py.

They work on the spend database named by the config (`--config`, or $SLUICE_CONFIG, or the
embedded default .sluice/spend.db). Key hashing needs the same server secret as the gateway
($SLUICE_KEY_SECRET, else $SLUICE_MASTER_KEY).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import typer

keys_app = typer.Typer(help="Virtual keys: create (shown once), list, show, revoke, rotate.", no_args_is_help=True)
teams_app = typer.Typer(help="Teams and their budgets.", no_args_is_help=True)
spend_app = typer.Typer(help="Spend reports and the ledger database.", no_args_is_help=True)

ConfigOpt = typer.Option(None, "--config", "-c", help="config file (default: $SLUICE_CONFIG or built-in defaults)")


def _service(config: Path | None) -> Any:
    from gateway.config import load_config, parse_config
    from gateway.errors import ConfigError
    from gateway.spend.service import SpendService

    path = config or (Path(os.environ["SLUICE_CONFIG"]) if os.environ.get("SLUICE_CONFIG") else None)
    try:
        cfg = load_config(path) if path else parse_config({}, base_dir=Path.cwd())
        svc = SpendService(cfg)
        svc.migrate()
        return svc
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _store(config: Path | None, *, hashing: bool = False) -> Any:
    """The key store; `hashing` only where keys are issued (it needs the server secret)."""
    from gateway.errors import ConfigError
    from gateway.spend.keystore import KeyStore

    svc = _service(config)
    try:
        return svc.store if hashing else KeyStore(svc.engine, None)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


PERIODS = ("day", "month")  # what the budget counters enforce (the admin API accepts the same)


def _check_period(period: str | None) -> None:
    if period is not None and period not in PERIODS:
        raise _fail(ValueError(f"--period must be day or month, not {period!r}"))


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M") if ts else "-"


def _print_keys(recs: list[Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table("id", "prefix", "name", "team", "user", "models", "rpm", "tpm", "budget", "expires", "revoked")
    for k in recs:
        budget = f"${k.budget_usd:g}/{k.budget_period}" if k.budget_usd is not None else "-"
        t.add_row(k.id, k.prefix + "…", k.name or "-", k.team_id or "-", k.user_id or "-",
                  ",".join(k.allowed_models) if k.allowed_models else "all", str(k.rpm or "-"), str(k.tpm or "-"),
                  budget, _when(k.expires_at), _when(k.revoked_at))
    Console(width=200).print(t)


@keys_app.command("create")
def keys_create(
    name: str = typer.Option(None, help="a label for the key"),
    team: str = typer.Option(None, help="team id or name"),
    user: str = typer.Option(None, help="user the key belongs to"),
    model: list[str] = typer.Option(None, "--model", "-m", help="allowed model (glob ok); repeat; default all"),
    rpm: int = typer.Option(None, min=1), tpm: int = typer.Option(None, min=1),
    budget: float = typer.Option(None, min=0, help="USD budget per period"),
    period: str = typer.Option("month", help="budget period: day or month"),
    expires_in_days: float = typer.Option(None, min=0),
    config: Path = ConfigOpt,
) -> None:
    """Create a key. The key is printed once and cannot be shown again."""
    from gateway.spend.keystore import StoreError

    if period not in ("day", "month"):
        raise _fail(ValueError("--period must be day or month"))
    store = _store(config, hashing=True)
    try:
        rec, plaintext = store.create_key(
            name=name, team_id=team, user_id=user, allowed_models=list(model) if model else None, rpm=rpm, tpm=tpm,
            budget_usd=budget, budget_period=period if budget is not None else None,
            expires_at=store.clock.time() + expires_in_days * 86400 if expires_in_days else None, actor="cli")
    except StoreError as exc:
        raise _fail(exc) from None
    typer.echo(f"created {rec.id}")
    typer.echo(plaintext)
    typer.echo("store this key now: it is not shown again", err=True)


@keys_app.command("list")
def keys_list(team: str = typer.Option(None), all_: bool = typer.Option(False, "--all", help="include revoked"),
              config: Path = ConfigOpt) -> None:
    store = _store(config)
    team_id = None
    if team:
        t = store.get_team(team)
        if t is None:
            raise _fail(ValueError(f"no team {team!r}"))
        team_id = t.id
    _print_keys(store.list_keys(team_id=team_id, include_revoked=all_))


@keys_app.command("show")
def keys_show(key_id: str, config: Path = ConfigOpt) -> None:
    import orjson

    rec = _store(config).get_key(key_id)
    if rec is None:
        raise _fail(ValueError(f"no key {key_id!r}; list them with `sluice keys list`"))
    typer.echo(orjson.dumps(rec.public(), option=orjson.OPT_INDENT_2).decode())


@keys_app.command("revoke")
def keys_revoke(key_id: str, config: Path = ConfigOpt) -> None:
    """Revoke a key (running gateways stop accepting it within auth.cache_ttl_s)."""
    from gateway.spend.keystore import StoreError

    try:
        _store(config).revoke_key(key_id, actor="cli")
    except StoreError as exc:
        raise _fail(exc) from None
    typer.echo(f"revoked {key_id}")


@keys_app.command("rotate")
def keys_rotate(key_id: str, config: Path = ConfigOpt) -> None:
    """Revoke a key and issue a new one with the same owner, limits and budget (printed once)."""
    from gateway.spend.keystore import StoreError

    try:
        rec, plaintext = _store(config, hashing=True).rotate_key(key_id, actor="cli")
    except StoreError as exc:
        raise _fail(exc) from None
    typer.echo(f"created {rec.id} (replaces {key_id}, now revoked)")
    typer.echo(plaintext)


@teams_app.command("create")
def teams_create(name: str, budget: float = typer.Option(None, min=0, help="USD budget per period"),
                 period: str = typer.Option("month", help="day or month"), config: Path = ConfigOpt) -> None:
    from gateway.spend.keystore import StoreError

    _check_period(period)
    try:
        t = _store(config).create_team(name, budget_usd=budget, budget_period=period if budget is not None else None,  # type: ignore[arg-type]
                                       actor="cli")
    except StoreError as exc:
        raise _fail(exc) from None
    typer.echo(f"created {t.id} ({t.name})")


@teams_app.command("list")
def teams_list(config: Path = ConfigOpt) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table("id", "name", "budget", "created")
    for team in _store(config).list_teams():
        budget = f"${team.budget_usd:g}/{team.budget_period}" if team.budget_usd is not None else "-"
        t.add_row(team.id, team.name, budget, _when(team.created_at))
    Console(width=200).print(t)


@teams_app.command("update")
def teams_update(team: str, budget: float = typer.Option(None, min=0), period: str = typer.Option(None),
                 config: Path = ConfigOpt) -> None:
    from gateway.spend.keystore import StoreError

    _check_period(period)
    changes: dict[str, Any] = {}
    if budget is not None:
        changes["budget_usd"] = budget
    if period is not None:
        changes["budget_period"] = period
    try:
        t = _store(config).update_team(team, actor="cli", **changes)
    except StoreError as exc:
        raise _fail(exc) from None
    typer.echo(f"updated {t.id}: budget {t.budget_usd}/{t.budget_period}")


@spend_app.command("report")
def spend_report(
    from_: str = typer.Option(None, "--from", help="YYYY-MM-DD (UTC), inclusive"),
    to: str = typer.Option(None, "--to", help="YYYY-MM-DD (UTC), inclusive"),
    by: str = typer.Option("team,model", help="comma-separated: team,key,user,model,prompt,pipeline,day,..."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv, json or html"),
    team: str = typer.Option(None, help="one team only (id or name)"),
    out: Path = typer.Option(None, "--out", "-o", help="write to a file instead of stdout"),
    config: Path = ConfigOpt,
) -> None:
    """Spend grouped by the dimensions you choose; html is the finance report with charts."""
    from gateway.api.spend import run_report
    from gateway.spend.reports import ReportError, ReportQuery, grouped, parse_day
    from gateway.spend.reports_render import to_table

    if fmt not in ("table", "csv", "json", "html"):
        raise _fail(ValueError("--format must be table, csv, json or html"))
    svc = _service(config)
    team_id = None
    if team:
        from gateway.spend.keystore import KeyStore

        t = KeyStore(svc.engine, None).get_team(team)
        if t is None:
            raise _fail(ValueError(f"no team {team!r}"))
        team_id = t.id
    try:
        q = ReportQuery(parse_day(from_), parse_day(to, end=True), [b.strip() for b in by.split(",") if b.strip()],
                        team_id)
    except ReportError as exc:
        raise _fail(exc) from None
    text = to_table(grouped(svc.engine, q), q.by) if fmt == "table" else run_report(svc, q, fmt)[0]
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)
    else:
        typer.echo(text, nl=not text.endswith("\n"))  # a terminal's prompt never lands after the JSON


@spend_app.command("migrate")
def spend_migrate(config: Path = ConfigOpt) -> None:
    """Create or upgrade the spend database schema (Alembic)."""
    svc = _service(config)
    typer.echo(f"spend database at revision head ({svc.engine.url.render_as_string(hide_password=True)})")


@spend_app.command("prune")
def spend_prune(
    days: int = typer.Option(None, "--days", min=32, help="keep this many whole UTC days of raw rows "
                             "(default: spend.retention.raw_days)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="count the rows that would go; delete nothing"),
    config: Path = ConfigOpt,
) -> None:
    """Delete raw ledger rows older than the retention in small batches; daily rollups are kept."""
    import time

    import sqlalchemy as sa

    from gateway.spend.retention import cutoff, prune
    from gateway.spend.schema import ledger

    svc = _service(config)
    keep = days if days is not None else svc.config.spend.retention.raw_days
    if keep is None:
        raise _fail(ValueError("no retention: set spend.retention.raw_days or pass --days"))
    before = cutoff(time.time(), keep)
    day = time.strftime("%Y-%m-%d", time.gmtime(before))
    if dry_run:
        with svc.engine.connect() as c:
            n = c.execute(sa.select(sa.func.count()).select_from(ledger).where(ledger.c.ts < before)).scalar_one()
        typer.echo(f"would delete {n} raw rows before {day} (rollups kept)")
        return
    res = prune(svc.engine, before, batch_rows=svc.config.spend.retention.batch_rows)
    typer.echo(f"deleted {res.deleted} raw rows before {day} in {res.batches} batches (rollups kept)")


@spend_app.command("audit")
def spend_audit(limit: int = typer.Option(50, min=1), config: Path = ConfigOpt) -> None:
    """The admin audit log (key and team changes), newest first."""
    from rich.console import Console
    from rich.table import Table

    t = Table("time", "actor", "action", "target", "details")
    for a in _store(config).audit_log(limit=limit):
        t.add_row(_when(a["ts"]), a["actor"], a["action"], a["target"] or "-", str(a["details"] or ""))
    Console(width=200).print(t)
