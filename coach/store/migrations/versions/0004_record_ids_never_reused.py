"""Record ids are never reused on SQLite (AUTOINCREMENT).

A record's id is cited as evidence on topic cards and in the access log; plain SQLite rowids
hand the id of the newest deleted record to the next insert. PostgreSQL sequences never reuse
ids, so only SQLite's table is rebuilt (data kept). From here on SQLite counts from the highest
id present at the upgrade: an id deleted before it, above that, can still come round once.

Revision ID: 0004
Revises: 0003
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("records", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
        pass


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("records", recreate="always", table_kwargs={"sqlite_autoincrement": False}):
        pass
