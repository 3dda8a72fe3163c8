"""The month-after follow-up: a follow-up conversation is a debrief of its own (source
"followup") that follows a confirmed debrief, with the actions it asks about; and per-programme
options (a second follow-up, the report's highlighted quotes).

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("debriefs") as b:
        b.add_column(sa.Column("follows_id", sa.String(64), nullable=True))
        b.add_column(sa.Column("round", sa.Integer, nullable=True))
        b.add_column(sa.Column("plan", sa.JSON, nullable=True))
        b.create_foreign_key("fk_debriefs_follows_id", "debriefs", ["follows_id"], ["id"], ondelete="CASCADE")
        b.create_index("ix_debriefs_follows_id", ["follows_id"])
    op.create_table(
        "programme_options",
        sa.Column("programme", sa.String(200), primary_key=True),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("programme_options")
    with op.batch_alter_table("debriefs") as b:
        b.drop_index("ix_debriefs_follows_id")
        b.drop_constraint("fk_debriefs_follows_id", type_="foreignkey")
        for c in ("plan", "round", "follows_id"):
            b.drop_column(c)
