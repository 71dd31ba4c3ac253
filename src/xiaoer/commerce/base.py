"""The `CommerceBackend` port: a shop's orders, parcels, products and shoppers, and the
after-sales ledger its changes are written to.

One instance serves one shop. Implementations: `BuiltinCommerce` (the xiaoer store, used by
the demo shops and imported bundles) and `FakeCommerce` (in memory, for unit tests). Later:
the τ-retail world, HTTP/OpenAPI connectors, plugins by entry point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from xiaoer.domain.models import Change, Order, Product, ServiceRecord, Shopper


@dataclass(frozen=True, slots=True)
class ProductQuery:
    """Structured product search. Every field is optional; all given ones must hold."""

    keyword: str = ""
    category: str = ""
    size: str = ""
    color: str = ""
    max_price_fen: int | None = None
    min_price_fen: int | None = None
    in_stock_only: bool = True
    limit: int = 5


@dataclass(frozen=True, slots=True)
class ProductHit:
    product: Product
    matching_sku_ids: tuple[str, ...]
    score: float


class CommerceBackend(Protocol):
    async def get_order(self, order_id: str) -> Order | None: ...

    async def orders_for(
        self, shopper_id: str, *, limit: int = 10, status: str | None = None
    ) -> list[Order]: ...

    async def get_product(self, product_id: str) -> Product | None: ...

    async def search_products(self, query: ProductQuery) -> list[ProductHit]: ...

    async def get_shopper(self, shopper_id: str) -> Shopper | None: ...

    # The write side. Only the action desk calls `apply`, after confirmation and a policy check.

    async def apply(self, change: Change) -> ServiceRecord:
        """Apply one change atomically; a key already applied returns its first record."""
        ...

    async def find_record(self, key: str) -> ServiceRecord | None: ...

    async def records_for(
        self, shopper_id: str, *, order_id: str | None = None, kind: str | None = None
    ) -> list[ServiceRecord]: ...
