"""Budget alert marks are per limit: raising a budget mid-period re-arms its thresholds.

Before, a mark was (scope, id, period, threshold): once 80% of a $5 budget had alerted, 80% of the
same budget raised to $50 in the same period never did. The mark now includes the limit it was
reached against (`limit_usd`; marks written before this have 0, which matches no real budget).

Revision ID: m004
Revises: m003
"""

import sqlalchemy as sa
from alembic import op

revision = "m004"
down_revision = "m003"
branch_labels = None
depends_on = None

_KEY = ["scope", "scope_id", "period", "threshold"]


def _recreate(with_limit: bool) -> None:
    """Copy the marks into a table with the new primary key (SQLite cannot alter one in place)."""
    cols = [sa.Column("scope", sa.String(8), primary_key=True), sa.Column("scope_id", sa.String(64), primary_key=True),
            sa.Column("period", sa.String(16), primary_key=True), sa.Column("threshold", sa.Float, primary_key=True)]
    if with_limit:
        cols.append(sa.Column("limit_usd", sa.Float, primary_key=True, server_default="0"))
    cols.append(sa.Column("ts", sa.Float, nullable=False))
    op.create_table("budget_alert_marks_new", *cols)
    names = ", ".join(_KEY + ["ts"])
    if with_limit:
        op.execute(f"INSERT INTO budget_alert_marks_new ({names}, limit_usd) SELECT {names}, 0 FROM budget_alert_marks")
    else:  # one mark per (scope, id, period, threshold): the earliest
        op.execute(f"INSERT INTO budget_alert_marks_new ({names}) SELECT {', '.join(_KEY)}, MIN(ts) "
                   f"FROM budget_alert_marks GROUP BY {', '.join(_KEY)}")
    op.drop_table("budget_alert_marks")
    op.rename_table("budget_alert_marks_new", "budget_alert_marks")


def upgrade() -> None:
    _recreate(with_limit=True)


def downgrade() -> None:
    _recreate(with_limit=False)
