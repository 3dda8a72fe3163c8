"""Initial schema: pairs, debriefs, turns, records, model_calls.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pairs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("programme", sa.String(200), nullable=False, index=True),
        sa.Column("senior", sa.Text, nullable=False),
        sa.Column("junior", sa.Text, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("sessions", sa.Integer),
        sa.Column("extra", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "debriefs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("pair_id", sa.String(64), sa.ForeignKey("pairs.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("shared", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "turns",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("debrief_id", sa.String(64), sa.ForeignKey("debriefs.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("speaker", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("debrief_id", "idx"),
    )
    op.create_table(
        "records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("debrief_id", sa.String(64), sa.ForeignKey("debriefs.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("before", sa.Text),
        sa.Column("after", sa.Text),
        sa.Column("quote", sa.Text, nullable=False),
        sa.Column("turn_index", sa.Integer),
        sa.Column("theme", sa.String(32)),
        sa.Column("depth", sa.String(32)),
        sa.Column("scope", sa.String(32)),
        sa.Column("extractor", sa.String(64), nullable=False),
        sa.Column("model", sa.String(200)),
        sa.Column("prompt_id", sa.String(100)),
        sa.Column("prompt_hash", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reviewed_by", sa.String(200)),
        sa.Column("reviewed_at", TZ),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "model_calls",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TZ, nullable=False, index=True),
        sa.Column("backend", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("purpose", sa.String(100), nullable=False),
        sa.Column("prompt_id", sa.String(100)),
        sa.Column("prompt_hash", sa.String(64)),
        sa.Column("prompt_tokens", sa.Integer),
        sa.Column("completion_tokens", sa.Integer),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("error", sa.Text),
    )


def downgrade() -> None:
    for t in ("model_calls", "records", "turns", "debriefs", "pairs"):
        op.drop_table(t)
