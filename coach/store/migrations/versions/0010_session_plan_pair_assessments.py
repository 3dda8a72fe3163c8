"""A pair's planned rhythm of sessions (every N days from its first session's date), and the
kept result of each pair's synthesis with a fingerprint of what it read.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pairs") as b:
        b.add_column(sa.Column("session_every_days", sa.Integer))
    op.create_table(
        "pair_assessments",
        sa.Column("pair_id", sa.String(64), sa.ForeignKey("pairs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("unmatched", sa.Integer),
        sa.Column("taught", sa.Integer),
        sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pair_assessments")
    with op.batch_alter_table("pairs") as b:
        b.drop_column("session_every_days")
