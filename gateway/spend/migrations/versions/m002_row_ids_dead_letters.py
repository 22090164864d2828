"""Ledger rows keyed by a server-made row id; the client's request id is no longer unique; dead letters.

Before: `spend_ledger.request_id` (the client's `x-request-id`) was UNIQUE and the spool replay's
dedupe key, so requests sharing an id kept one row and a request could take another's id first.
Now each row has `row_id` (made by the server when the row is built), unique; `request_id` is a
plain indexed column. Rows already written get `row_id = request_id` (what deduplicated them then,
and what an older version's spool replayed after the upgrade is keyed by). Rows the database
refuses, and spool lines that are not rows, go to `spend_ledger_dead_letters`.

Downgrade keeps every row: repeats of a request id take their row id as request id, so the
uniqueness of m001 holds again without dropping spend.

Revision ID: m002
Revises: m001
"""

import sqlalchemy as sa
from alembic import op

revision = "m002"
down_revision = "m001"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# SQLite's copy of m001's unnamed UNIQUE(request_id) gets this name so batch mode can drop it.
_SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    op.add_column("spend_ledger", sa.Column("row_id", sa.String(64), nullable=True))
    op.execute("UPDATE spend_ledger SET row_id = request_id")
    if _sqlite():  # SQLite alters a table by copying it (Alembic batch mode)
        with op.batch_alter_table("spend_ledger", naming_convention=_SQLITE_NAMES) as b:
            b.alter_column("row_id", existing_type=sa.String(64), nullable=False)
            b.drop_constraint("uq_spend_ledger_request_id", type_="unique")
    else:
        op.alter_column("spend_ledger", "row_id", existing_type=sa.String(64), nullable=False)
        for uq in sa.inspect(op.get_bind()).get_unique_constraints("spend_ledger"):
            if uq["column_names"] == ["request_id"] and uq["name"]:
                op.drop_constraint(uq["name"], "spend_ledger", type_="unique")
    op.create_index("ux_spend_ledger_row_id", "spend_ledger", ["row_id"], unique=True)
    op.create_index("ix_spend_ledger_request_id", "spend_ledger", ["request_id"])

    op.create_table(
        "spend_ledger_dead_letters",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("row_id", sa.String(64), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("reason", sa.String(512), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_index("ux_spend_ledger_dead_letters_row_id", "spend_ledger_dead_letters", ["row_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_spend_ledger_dead_letters_row_id", table_name="spend_ledger_dead_letters")
    op.drop_table("spend_ledger_dead_letters")
    # keep every row: the first of each request id keeps it, the repeats take their row id
    op.execute("UPDATE spend_ledger SET request_id = row_id WHERE id NOT IN "
               "(SELECT MIN(id) FROM spend_ledger GROUP BY request_id)")
    op.drop_index("ix_spend_ledger_request_id", table_name="spend_ledger")
    op.drop_index("ux_spend_ledger_row_id", table_name="spend_ledger")
    if _sqlite():
        with op.batch_alter_table("spend_ledger", naming_convention=_SQLITE_NAMES) as b:
            b.drop_column("row_id")
            b.create_unique_constraint("uq_spend_ledger_request_id", ["request_id"])
    else:
        op.drop_column("spend_ledger", "row_id")
        op.create_unique_constraint("spend_ledger_request_id_key", "spend_ledger", ["request_id"])
