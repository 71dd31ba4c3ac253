"""An in-memory commerce backend for unit tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from xiaoer.commerce.base import ProductHit, ProductQuery
from xiaoer.commerce.memory import MemoryLedger
from xiaoer.commerce.search import search
from xiaoer.domain.models import Change, Order, Product, ServiceRecord, Shopper


class FakeCommerce(MemoryLedger):
    def __init__(
        self,
        *,
        orders: Iterable[Order] = (),
        products: Iterable[Product] = (),
        shoppers: Iterable[Shopper] = (),
    ) -> None:
        self.orders = {o.id: o for o in orders}
        self.products = {p.id: p for p in products}
        self.shoppers = {s.id: s for s in shoppers}
        super().__init__()

    async def get_order(self, order_id: str) -> Order | None:
        return self.orders.get(order_id)

    async def orders_for(
        self, shopper_id: str, *, limit: int = 10, status: str | None = None
    ) -> list[Order]:
        mine = [
            o
            for o in self.orders.values()
            if o.shopper_id == shopper_id and (status is None or o.status == status)
        ]
        mine.sort(key=lambda o: (o.created_at, o.id), reverse=True)
        return mine[:limit]

    async def get_product(self, product_id: str) -> Product | None:
        return self.products.get(product_id)

    async def search_products(self, query: ProductQuery) -> list[ProductHit]:
        return search(self.products.values(), query)

    async def get_shopper(self, shopper_id: str) -> Shopper | None:
        return self.shoppers.get(shopper_id)

    async def apply(self, change: Change) -> ServiceRecord:
        if change.key in self.records:
            return self.records[change.key]
        if change.order_id:
            order = self.orders[change.order_id]
            updates: dict[str, object] = {}
            if change.order_status is not None:
                updates["status"] = change.order_status
            if change.address is not None:
                updates["address"] = change.address
            if change.order_extras:
                updates["extras"] = {**order.extras, **change.order_extras}
            self.orders[order.id] = dataclasses.replace(order, **updates)  # type: ignore[arg-type]
        return self._record(change, change.status, dict(change.detail))
