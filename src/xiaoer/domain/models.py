"""Core commerce and conversation types, as frozen dataclasses.

Times are tz-aware datetimes. Money is integer fen (see `money.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any


class OrderStatus(StrEnum):
    """Order states as Chinese shops name them (the bundle format uses these values)."""

    PENDING_PAYMENT = "待付款"
    PENDING_SHIPMENT = "待发货"
    SHIPPED = "已发货"
    DELIVERED = "已签收"
    COMPLETED = "已完成"
    AFTER_SALE = "售后中"
    CANCELLED = "已取消"


@dataclass(frozen=True, slots=True)
class Shop:
    id: str
    name: str
    persona: str = ""
    timezone: str = "Asia/Shanghai"
    working_hours: str = ""
    description: str = ""


class SkuStatus(StrEnum):
    """Whether a SKU is sold (the bundle's codes; shoppers see `label`)."""

    ON_SALE = "on_sale"
    SOLD_OUT = "sold_out"
    DISCONTINUED = "discontinued"
    PRESALE = "presale"
    """Ordered now, shipped from its `restock_date`; `stock` is what can still be ordered."""

    @property
    def label(self) -> str:
        return _SKU_STATUS_LABELS[self]


_SKU_STATUS_LABELS = {
    SkuStatus.ON_SALE: "在售",
    SkuStatus.SOLD_OUT: "缺货",
    SkuStatus.DISCONTINUED: "已下架",
    SkuStatus.PRESALE: "预售",
}


@dataclass(frozen=True, slots=True)
class Sku:
    id: str
    product_id: str
    options: dict[str, str]
    price_fen: int
    stock: int
    status: SkuStatus = SkuStatus.ON_SALE
    restock_date: date | None = None
    """When a sold-out SKU is expected back, or a presale one ships (the merchant's word)."""

    @property
    def available(self) -> bool:
        """It can be ordered now: on sale or in presale, with stock left. A sold-out or
        discontinued SKU never is, whatever its stock figure says."""
        return self.stock > 0 and self.status in (SkuStatus.ON_SALE, SkuStatus.PRESALE)


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    title: str
    category: str
    brand: str
    description: str
    attributes: dict[str, Any]
    skus: tuple[Sku, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def price_range(self) -> tuple[int, int]:
        prices = [s.price_fen for s in self.skus] or [0]
        return min(prices), max(prices)


@dataclass(frozen=True, slots=True)
class Address:
    name: str
    phone: str
    province: str
    city: str
    district: str
    detail: str

    def one_line(self) -> str:
        city = "" if self.city == self.province else self.city  # 上海市, not 上海市上海市
        return f"{self.province}{city}{self.district}{self.detail}"


@dataclass(frozen=True, slots=True)
class PaymentMethod:
    """A way a shopper pays that the shop keeps on file (a card, a wallet, a gift card)."""

    id: str
    kind: str
    """The platform's own word for it (shown, never decided on)."""
    label: str = ""
    balance_fen: int | None = None
    """Stored value (a gift card, a shop balance): what it can still pay. None = no balance to
    run out of (a card or a wallet)."""

    @property
    def stored_value(self) -> bool:
        return self.balance_fen is not None


@dataclass(frozen=True, slots=True)
class Shopper:
    id: str
    name: str
    phone: str
    addresses: tuple[Address, ...] = ()
    level: str = ""
    payment_methods: tuple[PaymentMethod, ...] = ()
    extras: dict[str, Any] = field(default_factory=dict)
    """Whatever else the shop knows of the shopper (member level, tags, …), as the bundle gave
    it; policy conditions may read it."""

    @property
    def phone_tail(self) -> str:
        return self.phone[-4:]


@dataclass(frozen=True, slots=True)
class OrderLine:
    sku_id: str
    product_id: str
    title: str
    options: dict[str, str]
    unit_price_fen: int
    quantity: int


@dataclass(frozen=True, slots=True)
class LogisticsEvent:
    time: datetime
    status: str
    detail: str
    location: str = ""


@dataclass(frozen=True, slots=True)
class Shipment:
    carrier: str
    tracking_no: str
    events: tuple[LogisticsEvent, ...] = ()

    @property
    def latest(self) -> LogisticsEvent | None:
        return max(self.events, key=lambda e: e.time) if self.events else None


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    shopper_id: str
    status: OrderStatus
    created_at: datetime
    lines: tuple[OrderLine, ...]
    total_fen: int
    pay_fen: int
    address: Address
    shipping_fee_fen: int = 0
    discount_fen: int = 0
    payment_method: str = ""
    """How the order was paid: a name (支付宝), or a `PaymentMethod.id` of the shopper's."""
    paid_at: datetime | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    shipment: Shipment | None = None
    remark: str = ""
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FaqEntry:
    id: str
    question: str
    answer: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Change:
    """One effect on the shop, applied atomically by a commerce backend.

    `key` is the idempotency key: applying a change whose key was already applied returns the
    first record and changes nothing.
    """

    key: str
    kind: str
    """cancel, address_change, item_change, payment_change, profile_address, refund, return,
    exchange, retention, coupon, invoice, installation, price_protection, urge."""
    shopper_id: str
    order_id: str | None = None
    amount_fen: int = 0
    status: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    order_status: OrderStatus | None = None
    address: Address | None = None
    order_extras: dict[str, Any] = field(default_factory=dict)
    """Keys merged into the order's extras (e.g. `after_sale`)."""


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    """An applied change, as the shop's after-sales ledger keeps it."""

    id: int
    key: str
    kind: str
    shopper_id: str
    order_id: str | None
    amount_fen: int
    status: str
    detail: dict[str, Any]
    created_at: datetime
