"""Records say where they come from and what happened to them: provenance (extracted, confirmed by
the participant, written by the participant, edited by a facilitator) with the text before a
facilitator's edit, a suspected injection's reason, a rejection's reason, and kind-specific detail
(an outcome's status and action).

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records") as b:
        b.add_column(sa.Column("provenance", sa.String(16), nullable=False, server_default="extracted"))
        b.add_column(sa.Column("original", sa.JSON, nullable=True))
        b.add_column(sa.Column("suspect", sa.String(200), nullable=True))
        b.add_column(sa.Column("reject_reason", sa.Text, nullable=True))
        b.add_column(sa.Column("detail", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("records") as b:
        for c in ("detail", "reject_reason", "suspect", "original", "provenance"):
            b.drop_column(c)
