"""Migration 0006: shops imported before policy versions get their current policy as version 1."""

from __future__ import annotations

import json
from pathlib import Path

from alembic import command
from sqlalchemy import text

from xiaoer.policy import ShopPolicy, load_policy
from xiaoer.policy.versions import policy_hash
from xiaoer.store.db import _alembic_config, make_engine, migrate

SHOP = (
    "INSERT INTO shops (id, name, persona, timezone, working_hours, description, policy_md,"
    " policy, imported_at) VALUES (:id, :id, '', 'Asia/Shanghai', '', '', '', :policy,"
    " '2026-11-01 02:00:00')"
)


async def test_upgrade_numbers_the_policy_each_shop_runs_on(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(_alembic_config(c), "0006-1"))
            strict = load_policy("refund: {auto_limit: 100}\n").model_dump(mode="json")
            await conn.execute(text(SHOP), {"id": "strict", "policy": json.dumps(strict)})
            await conn.execute(text(SHOP), {"id": "plain", "policy": None})
            await conn.execute(
                text(SHOP), {"id": "broken", "policy": json.dumps({"refund": {"nope": 1}})}
            )
        await migrate(engine)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT shop_id, number, content_hash, text, created_at"
                        " FROM policy_versions ORDER BY shop_id"
                    )
                )
            ).all()
            columns = (await conn.execute(text("PRAGMA table_info(actions)"))).all()
    finally:
        await engine.dispose()
    assert [(r.shop_id, r.number) for r in rows] == [("plain", 1), ("strict", 1)]
    plain, numbered = rows
    assert numbered.content_hash == policy_hash(load_policy("refund: {auto_limit: 100}\n"))
    assert load_policy(numbered.text).refund.auto_limit == 10000
    assert plain.content_hash == policy_hash(ShopPolicy())
    assert plain.text.startswith("# 没有 policy.yaml")
    assert str(numbered.created_at).startswith("2026-11-01 02:00")
    assert "policy_version" in {c.name for c in columns}
