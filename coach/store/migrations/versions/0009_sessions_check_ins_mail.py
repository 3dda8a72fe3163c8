"""A pair's sessions, the participants' check-ins after each, the mail outbox with each sending
attempt, and a participant's choice to receive no reminders.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

STAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pair_sessions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pair_id", sa.String(64), sa.ForeignKey("pairs.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("held_on", sa.Date, nullable=False),
        sa.Column("minutes", sa.Integer, nullable=False),
        sa.Column("covered", sa.Text),
        sa.Column("logged_by", sa.Integer),
        sa.Column("logged_as", sa.String(16), nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
    )
    op.create_table(
        "check_ins",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.Integer, sa.ForeignKey("pair_sessions.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("pair_id", sa.String(64), sa.ForeignKey("pairs.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("participant_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), index=True),
        sa.Column("asks_fit", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("usefulness", sa.Integer),
        sa.Column("fit", sa.String(16)),
        sa.Column("role_answer", sa.String(16)),
        sa.Column("comment", sa.Text),
        sa.Column("answered_at", STAMP),
        sa.Column("created_at", STAMP, nullable=False),
        sa.UniqueConstraint("session_id", "role"),
    )
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("programme", sa.String(200), index=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True),
        sa.Column("to_addr", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="queued"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", STAMP, nullable=False, index=True),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_at", STAMP),
        sa.Column("created_at", STAMP, nullable=False),
    )
    op.create_table(
        "mail_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.Integer, sa.ForeignKey("mail_outbox.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("at", STAMP, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("error", sa.Text),
    )
    with op.batch_alter_table("users") as b:
        b.add_column(sa.Column("reminders", sa.Boolean, nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("users") as b:
        b.drop_column("reminders")
    for t in ("mail_attempts", "mail_outbox", "check_ins", "pair_sessions"):
        op.drop_table(t)
