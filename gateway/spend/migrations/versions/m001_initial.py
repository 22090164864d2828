"""Initial spend schema: ledger, teams, virtual keys, audit log, budget alert marks.

Revision ID: m001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "m001"
down_revision = None
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "spend_ledger",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(64), nullable=False, unique=True),
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
        sa.Column("rag_pipeline", sa.String(256)),
        sa.Column("tags", sa.Text),
        sa.Column("stream", sa.Boolean, nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cached_tokens", sa.Integer, nullable=False),
        sa.Column("reasoning_tokens", sa.Integer, nullable=False),
        sa.Column("usage_source", sa.String(16)),
        sa.Column("cost_usd", sa.Float),
        sa.Column("unpriced", sa.Boolean, nullable=False),
        sa.Column("price_version", sa.String(96)),
        sa.Column("latency_ms", sa.Float),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("error_code", sa.String(64)),
        sa.Column("cache_status", sa.String(16)),
        sa.Column("cost_saved_usd", sa.Float),
        sa.Column("guardrail", sa.String(16)),
        sa.Column("client_disconnected", sa.Boolean, nullable=False),
    )
    # The indexes reports filter and group by (time range, per team/key/model).
    op.create_index("ix_spend_ledger_ts", "spend_ledger", ["ts"])
    op.create_index("ix_spend_ledger_day", "spend_ledger", ["day"])
    op.create_index("ix_spend_ledger_team_ts", "spend_ledger", ["team_id", "ts"])
    op.create_index("ix_spend_ledger_key_ts", "spend_ledger", ["key_id", "ts"])
    op.create_index("ix_spend_ledger_model_ts", "spend_ledger", ["requested_model", "ts"])

    op.create_table(
        "teams",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("budget_usd", sa.Float),
        sa.Column("budget_period", sa.String(8)),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "virtual_keys",
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
    )
    op.create_index("ix_virtual_keys_team", "virtual_keys", ["team_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(128)),
        sa.Column("details", sa.Text),
    )
    op.create_index("ix_audit_log_ts", "audit_log", ["ts"])
    op.create_table(
        "budget_alert_marks",
        sa.Column("scope", sa.String(8), primary_key=True),
        sa.Column("scope_id", sa.String(64), primary_key=True),
        sa.Column("period", sa.String(16), primary_key=True),
        sa.Column("threshold", sa.Float, primary_key=True),
        sa.Column("ts", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("budget_alert_marks")
    op.drop_table("audit_log")
    op.drop_table("virtual_keys")
    op.drop_table("teams")
    op.drop_table("spend_ledger")
