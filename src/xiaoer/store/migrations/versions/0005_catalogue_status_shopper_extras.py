"""SKU status and restock date; shopper extras; the merchant API key's hint and issue time

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("skus") as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="on_sale")
        )
        batch_op.add_column(sa.Column("restock_date", sa.Date(), nullable=True))
    with op.batch_alter_table("shoppers") as batch_op:
        batch_op.add_column(sa.Column("extras", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("shops") as batch_op:
        batch_op.add_column(sa.Column("api_key_hint", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("api_key_issued_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shops") as batch_op:
        batch_op.drop_column("api_key_issued_at")
        batch_op.drop_column("api_key_hint")
    with op.batch_alter_table("shoppers") as batch_op:
        batch_op.drop_column("extras")
    with op.batch_alter_table("skus") as batch_op:
        batch_op.drop_column("restock_date")
        batch_op.drop_column("status")
