"""Live interviews: pair names and dates, baseline beliefs, interview state, turn metadata.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pairs") as b:
        b.add_column(sa.Column("senior_name", sa.String(200)))
        b.add_column(sa.Column("junior_name", sa.String(200)))
        b.add_column(sa.Column("start_date", sa.Date))
        b.add_column(sa.Column("end_date", sa.Date))
    with op.batch_alter_table("debriefs") as b:
        b.add_column(sa.Column("state", sa.JSON))
        b.add_column(sa.Column("confirmed_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("turns") as b:
        b.add_column(sa.Column("meta", sa.JSON))
    op.create_table(
        "baseline_beliefs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pair_id", sa.String(64), sa.ForeignKey("pairs.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("pair_id", "idx"),
    )


def downgrade() -> None:
    op.drop_table("baseline_beliefs")
    with op.batch_alter_table("turns") as b:
        b.drop_column("meta")
    with op.batch_alter_table("debriefs") as b:
        b.drop_column("confirmed_at")
        b.drop_column("state")
    with op.batch_alter_table("pairs") as b:
        for c in ("end_date", "start_date", "junior_name", "senior_name"):
            b.drop_column(c)
