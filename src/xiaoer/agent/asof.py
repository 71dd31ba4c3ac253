"""The shop as it was at a moment in the past, read-only: what a dry run decides against.

An order is the commerce backend's current record with the after-sales changes applied since
undone: those changes (cancel, refund, return, exchange) are in the shop's ledger with their
time, and the order's own timestamps say where it stood before them (paid, shipped, delivered).
Nothing else about an order is rebuilt (an address or a note changed since stays changed; the
rules do not decide on them). Ledger records count only if applied before the moment; the
catalogue (prices, stock) is today's. Writing raises: a dry run never changes the shop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from xiaoer.commerce.base import CommerceBackend, ProductHit, ProductQuery
from xiaoer.domain.models import Change, Order, OrderStatus, Product, ServiceRecord, Shopper
from xiaoer.policy.rules import UNSHIPPED

type Source = Literal["current", "rebuilt"]
"""`current`: the backend's order as it is now (nothing recorded changed it since);
`rebuilt`: the current order with the after-sales changes recorded since undone."""

STATUS_CHANGES = frozenset({"cancel", "refund", "return", "exchange"})
"""Ledger kinds whose change moves the order to 已取消 or 售后中."""


class ReadOnly(RuntimeError):
    """A dry run tried to change the shop."""


def timeline_status(order: Order, at: datetime) -> OrderStatus:
    """Where the order stood at `at` by its own timestamps (no cancellation, no after-sales)."""
    for when, status in (
        (order.completed_at, OrderStatus.COMPLETED),
        (order.delivered_at, OrderStatus.DELIVERED),
        (order.shipped_at, OrderStatus.SHIPPED),
        (order.paid_at, OrderStatus.PENDING_SHIPMENT),
    ):
        if when is not None and when < at:
            return status
    return OrderStatus.PENDING_PAYMENT


def _status_after(order: Order, record: ServiceRecord) -> OrderStatus:
    """The status a status-changing ledger record left the order in."""
    if record.kind == "cancel":
        return OrderStatus.CANCELLED
    if record.kind == "refund" and timeline_status(order, record.created_at) in UNSHIPPED:
        return OrderStatus.CANCELLED  # a refund before shipping closes the order
    return OrderStatus.AFTER_SALE


def order_as_of(
    order: Order, records: Sequence[ServiceRecord], at: datetime
) -> tuple[Order, Source]:
    """`order` as it stood at `at`, given the ledger records of this order (oldest first)."""
    moves = [r for r in records if r.kind in STATUS_CHANGES and r.order_id == order.id]
    if not any(r.created_at >= at for r in moves):
        return order, "current"
    before = [r for r in moves if r.created_at < at]
    status = _status_after(order, before[-1]) if before else timeline_status(order, at)
    cancelled = order.cancelled_at if status == OrderStatus.CANCELLED else None
    return dataclasses.replace(order, status=status, cancelled_at=cancelled), "rebuilt"


class AsOf:
    """A `CommerceBackend` that reads `live` as it was at `at` and refuses every write."""

    def __init__(self, live: CommerceBackend, at: datetime) -> None:
        self.live = live
        self.at = at
        self.sources: dict[str, Source] = {}
        """How each order read was built, by order id."""

    async def _records(self, shopper_id: str) -> list[ServiceRecord]:
        return [r for r in await self.live.records_for(shopper_id) if r.created_at < self.at]

    async def _as_of(self, order: Order) -> Order:
        records = await self.live.records_for(order.shopper_id, order_id=order.id)
        then, source = order_as_of(order, records, self.at)
        self.sources[order.id] = source
        return then

    async def get_order(self, order_id: str) -> Order | None:
        order = await self.live.get_order(order_id)
        if order is None or order.created_at >= self.at:
            return None
        return await self._as_of(order)

    async def orders_for(
        self, shopper_id: str, *, limit: int = 10, status: str | None = None
    ) -> list[Order]:
        orders = await self.live.orders_for(shopper_id, limit=1000)
        then = [await self._as_of(o) for o in orders if o.created_at < self.at]
        return [o for o in then if status is None or o.status.value == status][:limit]

    async def get_product(self, product_id: str) -> Product | None:
        return await self.live.get_product(product_id)

    async def search_products(self, query: ProductQuery) -> list[ProductHit]:
        return await self.live.search_products(query)

    async def get_shopper(self, shopper_id: str) -> Shopper | None:
        return await self.live.get_shopper(shopper_id)

    async def apply(self, change: Change) -> ServiceRecord:
        raise ReadOnly(f"a dry run changes nothing (it was asked to apply {change.kind!r})")

    async def find_record(self, key: str) -> ServiceRecord | None:
        record = await self.live.find_record(key)
        return record if record is not None and record.created_at < self.at else None

    async def records_for(
        self, shopper_id: str, *, order_id: str | None = None, kind: str | None = None
    ) -> list[ServiceRecord]:
        return [
            r
            for r in await self._records(shopper_id)
            if (order_id is None or r.order_id == order_id) and (kind is None or r.kind == kind)
        ]
