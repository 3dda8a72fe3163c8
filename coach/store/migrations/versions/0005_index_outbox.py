"""SQL is the only thing writers touch: the index follows it through an outbox.

- ``index_outbox``: records whose index entry may have changed, written with the change;
- ``leases``: one indexer at a time across app instances;
- ``records.vector``: the record's embedding, derived once with its theme (coach.records);
- a broken assumption's ``text`` is its canonical "before → after" (ingest wrote "before -> after",
  live extraction "");
- ``debriefs.state`` goes: the interview's state is rebuilt from its turns.

Every suggestible record is queued, so the first indexer run fills the per-programme collections
(the old single collection is dropped by the indexer).

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "index_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("record_id", sa.Integer, nullable=False),
        sa.Column("programme", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("records") as b:
        b.add_column(sa.Column("vector", sa.LargeBinary, nullable=True))
    op.execute("UPDATE records SET text = before || ' → ' || after "
               "WHERE kind = 'broken_assumption' AND before IS NOT NULL AND after IS NOT NULL")
    with op.batch_alter_table("debriefs") as b:
        b.drop_column("state")
    op.execute("INSERT INTO index_outbox (record_id, programme, created_at) "
               "SELECT records.id, pairs.programme, CURRENT_TIMESTAMP FROM records "
               "JOIN debriefs ON records.debrief_id = debriefs.id JOIN pairs ON debriefs.pair_id = pairs.id "
               "WHERE records.status = 'approved' AND debriefs.shared")


def downgrade() -> None:
    with op.batch_alter_table("debriefs") as b:
        b.add_column(sa.Column("state", sa.JSON, nullable=True))
    with op.batch_alter_table("records") as b:
        b.drop_column("vector")
    op.drop_table("leases")
    op.drop_table("index_outbox")
