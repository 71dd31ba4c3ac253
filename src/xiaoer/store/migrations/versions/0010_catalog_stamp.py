"""the shop's catalogue stamp (a search's cached product list is kept while it holds)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        batch.add_column(
            sa.Column("catalog_stamp", sa.String(length=32), nullable=False, server_default="")
        )
    # the shops already here get a stamp of their own, so their lists are kept from now on;
    # the next write of their products replaces it with a random one
    op.execute("UPDATE shops SET catalog_stamp = 'migration-0010'")


def downgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        batch.drop_column("catalog_stamp")
