"""A pair's topic and senior role embedded once and kept with the pair (topic ideas score earlier
pairs by them; derived like a record's vector, filled in the background for existing pairs).

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pairs") as b:
        b.add_column(sa.Column("vectors", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pairs") as b:
        b.drop_column("vectors")
