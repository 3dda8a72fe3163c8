"""Sign-in attempts in SQL, and facilitators awaiting approval.

- ``sign_in_attempts``: the sign-in throttle's window, shared by every app instance and kept
  across restarts (it was in each process's memory);
- ``users.review_pending``: a facilitator an admin created for a programme that already had one
  reads none of its debriefs until a facilitator of that programme approves the account.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, index=True),
        sa.Column("address", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("counts_for_name", sa.Boolean, nullable=False),
    )
    with op.batch_alter_table("users") as b:
        b.add_column(sa.Column("review_pending", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("users") as b:
        b.drop_column("review_pending")
    op.drop_table("sign_in_attempts")
