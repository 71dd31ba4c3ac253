"""The built-in commerce backend: a shop's data in xiaoer's own store (SQLite/PostgreSQL)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from xiaoer.commerce.base import ProductHit, ProductQuery
from xiaoer.commerce.search import search
from xiaoer.domain.models import Order, Product, Shopper
from xiaoer.store.repositories import CatalogRepository, OrderRepository, ShopperRepository


class BuiltinCommerce:
    """Reads through short sessions of its own, so a turn's tool calls see committed data."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], shop_id: str) -> None:
        self.sessions = sessions
        self.shop_id = shop_id

    async def get_order(self, order_id: str) -> Order | None:
        async with self.sessions() as s:
            return await OrderRepository(s, self.shop_id).get(order_id)

    async def orders_for(
        self, shopper_id: str, *, limit: int = 10, status: str | None = None
    ) -> list[Order]:
        async with self.sessions() as s:
            return await OrderRepository(s, self.shop_id).for_shopper(
                shopper_id, limit=limit, status=status
            )

    async def get_product(self, product_id: str) -> Product | None:
        async with self.sessions() as s:
            return await CatalogRepository(s, self.shop_id).get(product_id)

    async def search_products(self, query: ProductQuery) -> list[ProductHit]:
        async with self.sessions() as s:
            products = await CatalogRepository(s, self.shop_id).all()
        return search(products, query)

    async def get_shopper(self, shopper_id: str) -> Shopper | None:
        async with self.sessions() as s:
            return await ShopperRepository(s, self.shop_id).get(shopper_id)
