"""The built-in commerce backend: a shop's data in xiaoer's own store (SQLite/PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from xiaoer.commerce.base import ProductHit, ProductQuery
from xiaoer.commerce.search import search
from xiaoer.domain.models import Change, Order, Product, ServiceRecord, Shopper
from xiaoer.store.repositories import (
    CatalogRepository,
    LedgerRepository,
    OrderRepository,
    ShopperRepository,
    record_from_row,
)


class BuiltinCommerce:
    """Reads through short sessions of its own, so a turn's tool calls see committed data:
    `reads` where given (`store.db.readers`: no transaction around a read), else `sessions`."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        shop_id: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        reads: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.sessions = sessions
        self.reads = reads or sessions
        self.shop_id = shop_id
        self.clock = clock

    async def get_order(self, order_id: str) -> Order | None:
        async with self.reads() as s:
            return await OrderRepository(s, self.shop_id).get(order_id)

    async def orders_for(
        self, shopper_id: str, *, limit: int = 10, status: str | None = None
    ) -> list[Order]:
        async with self.reads() as s:
            return await OrderRepository(s, self.shop_id).for_shopper(
                shopper_id, limit=limit, status=status
            )

    async def get_product(self, product_id: str) -> Product | None:
        async with self.reads() as s:
            return await CatalogRepository(s, self.shop_id).get(product_id)

    async def search_products(self, query: ProductQuery) -> list[ProductHit]:
        async with self.reads() as s:
            products = await CatalogRepository(s, self.shop_id).all()
        return search(products, query)

    async def get_shopper(self, shopper_id: str) -> Shopper | None:
        async with self.reads() as s:
            return await ShopperRepository(s, self.shop_id).get(shopper_id)

    async def apply(self, change: Change) -> ServiceRecord:
        """The record and the order changes commit together, or not at all."""
        async with self.sessions() as s:
            ledger = LedgerRepository(s, self.shop_id)
            existing = await ledger.find(change.key)
            if existing is not None:
                return existing
            try:
                row = await ledger.apply(change, self.clock())
                await s.commit()
                return record_from_row(row)
            except IntegrityError:  # the same key raced in: the first one won
                await s.rollback()
        found = await self.find_record(change.key)
        if found is None:
            raise RuntimeError(f"change {change.key} neither applied nor found")
        return found

    async def find_record(self, key: str) -> ServiceRecord | None:
        async with self.reads() as s:
            return await LedgerRepository(s, self.shop_id).find(key)

    async def records_for(
        self, shopper_id: str, *, order_id: str | None = None, kind: str | None = None
    ) -> list[ServiceRecord]:
        async with self.reads() as s:
            return await LedgerRepository(s, self.shop_id).for_shopper(
                shopper_id, order_id=order_id, kind=kind
            )
