"""An in-memory commerce backend for unit tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, datetime

from xiaoer.commerce.base import ProductHit, ProductQuery
from xiaoer.commerce.search import search
from xiaoer.domain.models import Change, Order, Product, ServiceRecord, Shopper


class FakeCommerce:
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
        self.records: dict[str, ServiceRecord] = {}

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
        now = datetime.now(UTC)
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
        record = ServiceRecord(
            len(self.records) + 1, change.key, change.kind, change.shopper_id, change.order_id,
            change.amount_fen, change.status, dict(change.detail), now,
        )  # fmt: skip
        self.records[change.key] = record
        return record

    async def find_record(self, key: str) -> ServiceRecord | None:
        return self.records.get(key)

    async def records_for(
        self, shopper_id: str, *, order_id: str | None = None, kind: str | None = None
    ) -> list[ServiceRecord]:
        return [
            r
            for r in self.records.values()
            if r.shopper_id == shopper_id
            and (order_id is None or r.order_id == order_id)
            and (kind is None or r.kind == kind)
        ]
