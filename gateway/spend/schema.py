"""Tables for the ledger, keys, teams, audit log and alert marks (SQLAlchemy Core).

The database is created and evolved only by the Alembic migrations in migrations/versions/;
a test checks these definitions and the migrations agree. Times are epoch seconds (float) plus
a UTC `day` column so reports group by day the same way on SQLite and PostgreSQL.

The column sizes are the bounds of what a row may hold: `text_bounds(table)` reads them (and
`info["max_chars"]` on unbounded Text columns), and gateway/spend/rows.py truncates every value to
them before a row reaches the spool, so one table says both what the database takes and what the
gateway writes.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

ledger = sa.Table(
    "spend_ledger",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    # the server's id of the row (uuid4 hex, made when the row is built): the spool replay's dedupe key
    sa.Column("row_id", sa.String(64), nullable=False),
    # the request's id as the client sent it (x-request-id) or the server made it: not unique, never a key
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("day", sa.String(10), nullable=False),
    sa.Column("route", sa.String(32), nullable=False),
    sa.Column("key_id", sa.String(64)),
    sa.Column("team_id", sa.String(64)),
    sa.Column("user_id", sa.String(128)),
    sa.Column("requested_model", sa.String(256)),
    sa.Column("model_group", sa.String(256)),
    sa.Column("served_deployment", sa.String(512)),
    sa.Column("served_provider", sa.String(64)),
    sa.Column("served_model", sa.String(256)),
    sa.Column("prompt_ref", sa.String(256)),
    sa.Column("prompt_hash", sa.String(64)),  # sha256 of the released content served (m003)
    sa.Column("prompt_forced", sa.Boolean, nullable=False, default=False, server_default=sa.false()),
    sa.Column("rag_pipeline", sa.String(256)),
    sa.Column("tags", sa.Text, info={"max_chars": 2048}),
    sa.Column("stream", sa.Boolean, nullable=False, default=False),
    sa.Column("prompt_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("completion_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("cached_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("reasoning_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("cache_write_tokens", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("usage_source", sa.String(16)),
    sa.Column("cost_usd", sa.Float),
    sa.Column("unpriced", sa.Boolean, nullable=False, default=False),
    # a token class without a rate of its own was charged at the plain input/output rate (m003)
    sa.Column("partially_priced", sa.Boolean, nullable=False, default=False, server_default=sa.false()),
    sa.Column("price_version", sa.String(96)),
    sa.Column("latency_ms", sa.Float),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("error_code", sa.String(64)),
    sa.Column("cache_status", sa.String(16)),
    sa.Column("cost_saved_usd", sa.Float),
    sa.Column("guardrail", sa.String(16)),
    sa.Column("client_disconnected", sa.Boolean, nullable=False, default=False),
    sa.Index("ux_spend_ledger_row_id", "row_id", unique=True),
    sa.Index("ix_spend_ledger_request_id", "request_id"),
    sa.Index("ix_spend_ledger_ts", "ts"),
    sa.Index("ix_spend_ledger_team_ts", "team_id", "ts"),
    sa.Index("ix_spend_ledger_key_ts", "key_id", "ts"),
    sa.Index("ix_spend_ledger_model_ts", "requested_model", "ts"),
)

# Daily rollups of the ledger (m006), kept by the writer in the transaction that inserts the raw rows
# (gateway/spend/rollup.py): one row per UTC day and group of dimensions, with the sums the reports
# need. Reports read them for whole days and the raw rows only for the partial days at a range's
# edges; retention prunes raw rows and keeps these. `dims_key` hashes the dimension values (NULL and
# "" differ), so the upsert's conflict target is a plain unique key on both databases.
# spend_ledger_daily has every report dimension; spend_ledger_daily_team only team, model,
# deployment, provider, status and price version (no key, user, prompt or pipeline): ~20x fewer
# rows, what the reports that group by those alone (totals, day x team, models) read.
_ROLLUP_SUMS = ("requests", "prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens",
                "reasoning_tokens", "unpriced_requests",
                "unpriced_tokens",  # prompt + completion tokens of unpriced requests
                "partially_priced_requests", "cache_hits",
                "used_requests",  # requests that used tokens
                "priced_requests")  # ... and had a price


def _rollup_table(name: str, dims: list[sa.Column[object]]) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("dims_key", sa.String(32), primary_key=True),
        *dims,
        *(sa.Column(n, sa.BigInteger(), nullable=False) for n in _ROLLUP_SUMS),
        sa.Column("cost_usd", sa.Float, nullable=False),  # NULL costs (unpriced) add nothing
        sa.Column("cost_saved_usd", sa.Float, nullable=False),
        sa.Index(f"ix_{name}_team_day", "team_id", "day"),
    )


ledger_daily = _rollup_table("spend_ledger_daily", [
    sa.Column("team_id", sa.String(64)),
    sa.Column("key_id", sa.String(64)),
    sa.Column("user_id", sa.String(128)),
    sa.Column("requested_model", sa.String(256)),
    sa.Column("served_deployment", sa.String(512)),
    sa.Column("served_provider", sa.String(64)),
    sa.Column("prompt_ref", sa.String(256)),
    sa.Column("prompt_hash", sa.String(64)),
    sa.Column("rag_pipeline", sa.String(256)),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("price_version", sa.String(96)),
])
ledger_daily_team = _rollup_table("spend_ledger_daily_team", [
    sa.Column("team_id", sa.String(64)),
    sa.Column("requested_model", sa.String(256)),
    sa.Column("served_deployment", sa.String(512)),
    sa.Column("served_provider", sa.String(64)),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("price_version", sa.String(96)),
])

# Rows the database refused however often they were retried (a constraint or a value it cannot
# store), and spool lines that are not rows (corrupt, or torn by a crash mid-write): set aside here
# so they never block the rows after them. `payload` is the row as JSON (or the line as read).
ledger_dead_letters = sa.Table(
    "spend_ledger_dead_letters",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("row_id", sa.String(64), nullable=False),  # the row's id; sha256 of the line if it has none
    sa.Column("ts", sa.Float, nullable=False),  # when it was set aside
    sa.Column("reason", sa.String(512), nullable=False),
    sa.Column("payload", sa.Text, nullable=False, info={"max_chars": 1 << 20}),
    sa.Index("ux_spend_ledger_dead_letters_row_id", "row_id", unique=True),
)


def text_bounds(table: sa.Table) -> dict[str, int]:
    """The most characters each text column of `table` may hold: its String length, else info["max_chars"]."""
    out: dict[str, int] = {}
    for c in table.columns:
        if isinstance(c.type, sa.String):
            n = c.type.length or c.info.get("max_chars")
            if n:
                out[str(c.name)] = int(n)
    return out


teams = sa.Table(
    "teams",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("budget_usd", sa.Float),
    sa.Column("budget_period", sa.String(8)),
    sa.Column("created_at", sa.Float, nullable=False),
)

keys = sa.Table(
    "virtual_keys",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(24), nullable=False),
    sa.Column("name", sa.String(128)),
    sa.Column("team_id", sa.String(64), sa.ForeignKey("teams.id")),
    sa.Column("user_id", sa.String(128)),
    sa.Column("allowed_models", sa.Text),
    sa.Column("rpm", sa.Integer),
    sa.Column("tpm", sa.Integer),
    sa.Column("budget_usd", sa.Float),
    sa.Column("budget_period", sa.String(8)),
    sa.Column("expires_at", sa.Float),
    sa.Column("revoked_at", sa.Float),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("rotated_from", sa.String(64)),
    sa.Index("ix_virtual_keys_team", "team_id"),
)

audit = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(128)),
    sa.Column("details", sa.Text),
    sa.Index("ix_audit_log_ts", "ts"),
)

alert_marks = sa.Table(
    "budget_alert_marks",
    metadata,
    sa.Column("scope", sa.String(8), nullable=False, primary_key=True),
    sa.Column("scope_id", sa.String(64), nullable=False, primary_key=True),
    sa.Column("period", sa.String(16), nullable=False, primary_key=True),
    sa.Column("threshold", sa.Float, nullable=False, primary_key=True),
    # the budget's limit when the mark was reached: a raised budget is a new set of thresholds (m004)
    sa.Column("limit_usd", sa.Float, nullable=False, primary_key=True, server_default="0"),
    sa.Column("ts", sa.Float, nullable=False),
)

# Responses the Responses API stored (`store`, the default): what `GET /v1/responses/{id}` returns and
# what `previous_response_id` continues. Each is its owner's alone (the virtual key's id, "" with
# auth off) and expires (`responses.ttl_s`). Not spend, but the gateway's one database.
stored_responses = sa.Table(
    "stored_responses",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
    sa.Column("model", sa.String(256), nullable=False),
    sa.Column("response", sa.Text, nullable=False),  # the response object, JSON
    sa.Column("turns", sa.Text, nullable=False),  # the conversation so far as chat messages, JSON
)
