"""Daily rollups of the ledger (`spend_ledger_daily`), backfilled from the raw rows already there.

The writer keeps them from now on, in the transaction that inserts the raw rows (rollup.py). The
raw `day` index goes: reports read days from the rollups and the raw rows only by `ts`.

Revision ID: m006
Revises: m005
"""

import sqlalchemy as sa
from alembic import op

revision = "m006"
down_revision = "m005"
branch_labels = None
depends_on = None

_COUNTS = ("requests", "prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens",
           "reasoning_tokens", "unpriced_requests", "unpriced_tokens", "partially_priced_requests",
           "cache_hits", "used_requests", "priced_requests")


def upgrade() -> None:
    op.create_table(
        "spend_ledger_daily",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("dims_key", sa.String(32), primary_key=True),
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
        *(sa.Column(n, sa.BigInteger(), nullable=False) for n in _COUNTS),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("cost_saved_usd", sa.Float, nullable=False),
    )
    op.create_index("ix_spend_ledger_daily_team_day", "spend_ledger_daily", ["team_id", "day"])
    from gateway.spend.rollup import backfill

    backfill(op.get_bind())  # a day at a time, by the day index: dropped after
    op.drop_index("ix_spend_ledger_day", table_name="spend_ledger")


def downgrade() -> None:
    op.create_index("ix_spend_ledger_day", "spend_ledger", ["day"])
    op.drop_index("ix_spend_ledger_daily_team_day", table_name="spend_ledger_daily")
    op.drop_table("spend_ledger_daily")
