"""policy versions; the version each action was decided under

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

A shop imported before this migration gets its current policy as version 1, read with the
policy code of the release that upgrades (the policy the shop ran on at that moment).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_versions",
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("shop_id", "number"),
    )
    op.create_index("ix_policy_versions_hash", "policy_versions", ["shop_id", "content_hash"])
    with op.batch_alter_table("actions") as batch_op:
        batch_op.add_column(sa.Column("policy_version", sa.Integer(), nullable=True))
    _number_current_policies()


def _number_current_policies() -> None:
    from xiaoer.domain.errors import XiaoerError
    from xiaoer.policy.load import parse_policy
    from xiaoer.policy.versions import DEFAULTS_NOTE, policy_hash, policy_yaml

    bind = op.get_bind()
    shops = sa.table(
        "shops", sa.column("id"), sa.column("policy", sa.JSON), sa.column("imported_at")
    )
    versions = sa.table(
        "policy_versions",
        sa.column("shop_id"),
        sa.column("number"),
        sa.column("content_hash"),
        sa.column("text"),
        sa.column("source"),
        sa.column("created_at"),
    )
    for shop_id, data, imported_at in bind.execute(
        sa.select(shops.c.id, shops.c.policy, shops.c.imported_at)
    ):
        try:
            policy = parse_policy(data, source=f"shop {shop_id} policy")
        except XiaoerError:  # no longer valid: the shop cannot run either; nothing to number
            continue
        text = policy_yaml(policy) if data is not None else DEFAULTS_NOTE + policy_yaml(policy)
        bind.execute(
            versions.insert().values(
                shop_id=shop_id,
                number=1,
                content_hash=policy_hash(policy),
                text=text,
                source="numbered on upgrade / 升级时编号",
                created_at=imported_at,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("actions") as batch_op:
        batch_op.drop_column("policy_version")
    op.drop_index("ix_policy_versions_hash", table_name="policy_versions")
    op.drop_table("policy_versions")
