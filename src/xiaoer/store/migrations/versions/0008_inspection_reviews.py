"""inspection reviews (质检: the merchant's verdict on a finding)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inspection_reviews",
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("finding", sa.String(length=200), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reviewer", sa.String(length=100), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("shop_id", "finding"),
    )


def downgrade() -> None:
    op.drop_table("inspection_reviews")
