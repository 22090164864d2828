"""Daily rollups of the ledger (`spend_ledger_daily`: every report dimension; `spend_ledger_daily_team`:
team, model, deployment, provider, status, price version), backfilled from the raw rows already there.

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


_FULL = [("team_id", 64), ("key_id", 64), ("user_id", 128), ("requested_model", 256), ("served_deployment", 512),
         ("served_provider", 64), ("prompt_ref", 256), ("prompt_hash", 64), ("rag_pipeline", 256),
         ("status_code", None), ("price_version", 96)]
_TEAM = [("team_id", 64), ("requested_model", 256), ("served_deployment", 512), ("served_provider", 64),
         ("status_code", None), ("price_version", 96)]


def _create(name: str, dims: list[tuple[str, int | None]]) -> None:
    op.create_table(
        name,
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("dims_key", sa.String(32), primary_key=True),
        *(sa.Column(n, sa.String(size)) if size else sa.Column(n, sa.Integer, nullable=False) for n, size in dims),
        *(sa.Column(n, sa.BigInteger(), nullable=False) for n in _COUNTS),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("cost_saved_usd", sa.Float, nullable=False),
    )
    op.create_index(f"ix_{name}_team_day", name, ["team_id", "day"])


def upgrade() -> None:
    _create("spend_ledger_daily", _FULL)
    _create("spend_ledger_daily_team", _TEAM)
    from gateway.spend.rollup import backfill

    backfill(op.get_bind())  # a day at a time, by the day index: dropped after
    op.drop_index("ix_spend_ledger_day", table_name="spend_ledger")


def downgrade() -> None:
    op.create_index("ix_spend_ledger_day", "spend_ledger", ["day"])
    for name in ("spend_ledger_daily_team", "spend_ledger_daily"):
        op.drop_index(f"ix_{name}_team_day", table_name=name)
        op.drop_table(name)
