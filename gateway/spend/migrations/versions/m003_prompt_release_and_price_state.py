"""The ledger records the exact prompt release served and how completely a row is priced.

- `prompt_hash`: sha256 of the released prompt content the request was rendered from (so spend and
  evals join on the exact content, not a version number a file edit could change);
  `prompt_forced`: that release was promoted with --force, past its eval gate.
- `cache_write_tokens`: prompt tokens written to a provider's prompt cache (Anthropic), priced at
  their own rate.
- `partially_priced`: some token class of the row had no rate of its own and was charged at the
  plain input/output rate (a configured price for a model litellm's table does not know).

Revision ID: m003
Revises: m002
"""

import sqlalchemy as sa
from alembic import op

revision = "m003"
down_revision = "m002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("spend_ledger", sa.Column("prompt_hash", sa.String(64)))
    op.add_column("spend_ledger", sa.Column("prompt_forced", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("spend_ledger", sa.Column("cache_write_tokens", sa.Integer, nullable=False, server_default="0"))
    op.add_column("spend_ledger", sa.Column("partially_priced", sa.Boolean, nullable=False,
                                            server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("spend_ledger") as b:
        for name in ("partially_priced", "cache_write_tokens", "prompt_forced", "prompt_hash"):
            b.drop_column(name)
