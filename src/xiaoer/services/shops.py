"""Shops as the console shows them: names for the shop switcher, and the read-only settings
overview (the owner's page) with the API key's hint, never the key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.domain.errors import NotFound
from xiaoer.store.repositories import ApiKeyRepository, ConsoleAccountRepository, ShopRepository

__all__ = ["ShopOverview", "names", "overview"]


@dataclass(frozen=True, slots=True)
class ShopOverview:
    id: str
    name: str
    timezone: str
    working_hours: str
    api_key_hint: str | None
    api_key_issued_at: datetime | None
    accounts: list[tuple[str, str, int]]
    """(name, role, id) of the console accounts that may see this shop."""


async def names(session: AsyncSession, shop_ids: tuple[str, ...]) -> dict[str, str]:
    """Each shop id's display name (shops that no longer exist are left out)."""
    out: dict[str, str] = {}
    for shop_id in shop_ids:
        shop = await ShopRepository(session).get(shop_id)
        if shop is not None:
            out[shop_id] = shop.name
    return out


async def overview(session: AsyncSession, shop_id: str) -> ShopOverview:
    shop = await ShopRepository(session).get(shop_id)
    if shop is None:
        raise NotFound(f"shop {shop_id!r} not found")
    key = await ApiKeyRepository(session).current(shop_id)
    _, hint, issued = key or (None, None, None)
    accounts = [
        (a.name, a.role, a.id)
        for a in await ConsoleAccountRepository(session).all()
        if shop_id in a.shops
    ]
    return ShopOverview(
        shop.id, shop.name, shop.timezone, shop.working_hours, hint, issued, accounts
    )
