"""The built-in commerce backend: a shop's data in xiaoer's own store (SQLite/PostgreSQL)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from xiaoer.commerce.base import ProductHit, ProductQuery
from xiaoer.commerce.search import Entry, entry, hit, ranked
from xiaoer.domain.models import Change, Order, Product, ServiceRecord, Shopper
from xiaoer.store.repositories import (
    CatalogRepository,
    LedgerRepository,
    OrderRepository,
    ShopperRepository,
    record_from_row,
)

FIRST_BATCH = 20
"""How many of a search's best-ranked products have their SKUs read first."""
PRODUCTS_KEPT = 50_000
"""How many products a `Catalogs` keeps across its shops' lists (the lists of the shops least
recently searched go first; the list just read is always kept)."""


class Catalogs:
    """The product lists (without SKUs: stock is read fresh) a process's searches rank, by
    shop, each with the catalogue stamp read before it (`ShopRow.catalog_stamp`, changed by
    every write of the shop's products): a search reads the stamp, one short statement, and
    the whole list again only when the stamp moved. A list read while an import committed
    is kept under the older stamp, so the next search reads it again."""

    def __init__(self, kept: int = PRODUCTS_KEPT) -> None:
        self.kept = kept
        self._lists: OrderedDict[str, tuple[str, list[Entry]]] = OrderedDict()
        self._held = 0

    async def entries(self, catalog: CatalogRepository) -> list[Entry]:
        stamp = await catalog.stamp()
        held = self._lists.get(catalog.shop_id)
        if held is not None and held[0] == stamp and stamp:
            self._lists.move_to_end(catalog.shop_id)
            return held[1]
        entries = [entry(p) for p in await catalog.bare()]
        if held is not None:
            self._held -= len(held[1])
        self._lists[catalog.shop_id] = (stamp, entries)
        self._lists.move_to_end(catalog.shop_id)
        self._held += len(entries)
        while self._held > self.kept and len(self._lists) > 1:
            _, (_, dropped) = self._lists.popitem(last=False)
            self._held -= len(dropped)
        return entries


class BuiltinCommerce:
    """Reads through short sessions of its own, so a turn's tool calls see committed data:
    `reads` where given (`store.db.readers`: no transaction around a read), else `sessions`."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        shop_id: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        reads: async_sessionmaker[AsyncSession] | None = None,
        catalogs: Catalogs | None = None,
    ) -> None:
        self.sessions = sessions
        self.reads = reads or sessions
        self.catalogs = catalogs or Catalogs()
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
        """The products are ranked first; the SKUs are read for the best-ranked ones, a batch at a
        time (`FIRST_BATCH`, then four times the one before), until enough of them have a SKU
        that matches: a search reads the SKUs of a few products, not of the whole catalogue,
        and the products from `catalogs` while the shop's catalogue did not change.
        The hits are `commerce.search.search`'s, in its order."""
        limit = max(1, query.limit)
        hits: list[ProductHit] = []
        async with self.reads() as s:
            catalog = CatalogRepository(s, self.shop_id)
            candidates = ranked(await self.catalogs.entries(catalog), query)
            start, size = 0, max(FIRST_BATCH, 2 * limit)
            while start < len(candidates) and len(hits) < limit:
                batch = candidates[start : start + size]
                skus = await catalog.skus_of([p.id for p, _ in batch])
                for product, score in batch:
                    full = replace(product, skus=skus.get(product.id, ()))
                    if (found := hit(full, score, query)) is not None:
                        hits.append(found)
                start, size = start + size, size * 4
        return hits[:limit]

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
