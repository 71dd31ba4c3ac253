"""Merchant API keys: kept only as a hash with a hint, replaced only by an explicit rotation."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from conftest import NOW
from xiaoer.api.auth import api_key_status, hash_key, issue_api_key, shop_for_key
from xiaoer.domain.errors import NotFound, Unauthorized
from xiaoer.runtime import Runtime
from xiaoer.store.models import ShopRow


async def test_a_rotated_key_replaces_the_old_one_and_the_secret_is_never_stored(
    runtime: Runtime,
) -> None:
    assert not (await api_key_status(runtime.sessions, "mini")).exists
    first = await issue_api_key(runtime.sessions, "mini", NOW)
    status = await api_key_status(runtime.sessions, "mini")
    assert status.hint == f"xk_mini_…{first[-4:]}" and status.issued_at == NOW
    assert status.fingerprint == hash_key(first)[:12]
    assert await shop_for_key(runtime.sessions, first) == "mini"
    async with runtime.sessions() as s:
        row = await s.get(ShopRow, "mini")
        assert row is not None
        stored = [row.api_key_hash, row.api_key_hint]
    assert not any(first.removeprefix("xk_mini_")[:-4] in (v or "") for v in stored)
    second = await issue_api_key(runtime.sessions, "mini", NOW)
    with pytest.raises(Unauthorized):
        await shop_for_key(runtime.sessions, first)
    assert await shop_for_key(runtime.sessions, second) == "mini"
    with pytest.raises(NotFound):
        await api_key_status(runtime.sessions, "nope")


async def test_a_key_issued_before_hints_were_kept_still_shows_its_fingerprint(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as s:
        old = hash_key("xk_mini_old")
        await s.execute(update(ShopRow).where(ShopRow.id == "mini").values(api_key_hash=old))
        await s.commit()
    status = await api_key_status(runtime.sessions, "mini")
    assert status.exists and status.fingerprint == hash_key("xk_mini_old")[:12]
    assert status.hint == "" and status.issued_at is None
