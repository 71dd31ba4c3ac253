"""Pydantic shapes of the shop-bundle files (docs/shop-bundle.md). Validation only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
Text = Annotated[str, StringConstraints(min_length=1)]
Fen = Annotated[int, Field(ge=0)]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("time needs an offset, e.g. 2026-11-20T14:03:00+08:00")
    return value


Time = Annotated[datetime, AfterValidator(_aware)]
EXTRAS_CHARS = 2000
"""The most a shopper's `extras` may take, as compact JSON: a profile, not a data dump."""


def _small(value: dict[str, Any]) -> dict[str, Any]:
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    if size > EXTRAS_CHARS:
        raise ValueError(f"is {size} characters as JSON; the limit is {EXTRAS_CHARS}")
    return value


Extras = Annotated[dict[str, Any], AfterValidator(_small)]
Status = Literal["待付款", "待发货", "已发货", "已签收", "已完成", "售后中", "已取消"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class ShopFile(_Strict):
    id: Id
    name: Text
    persona: Text
    timezone: str = "Asia/Shanghai"
    working_hours: str = ""
    description: str = ""


class SkuIn(_Strict):
    id: Id
    options: dict[str, str]
    price_fen: Annotated[int, Field(ge=0, strict=True)]
    stock: Annotated[int, Field(ge=0, strict=True)]
    status: Literal["on_sale", "sold_out", "discontinued", "presale"] = "on_sale"
    restock_date: date | None = None


class ProductIn(_Strict):
    id: Id
    title: Text
    category: Text
    brand: str = ""
    description: str = ""
    tags: list[str] = []
    attributes: dict[str, Any] = {}
    skus: Annotated[list[SkuIn], Field(min_length=1)]


class AddressIn(_Strict):
    name: Text
    phone: Text
    province: Text
    city: Text
    district: Text
    detail: Text


class ShopperIn(_Strict):
    id: Id
    name: Text
    phone: Annotated[str, StringConstraints(pattern=r"^1\d{10}$")]
    level: str = ""
    addresses: Annotated[list[AddressIn], Field(min_length=1)]
    extras: Extras = {}


class LineIn(_Strict):
    sku_id: Id
    product_id: Id
    title: Text
    options: dict[str, str] = {}
    unit_price_fen: Annotated[int, Field(ge=0, strict=True)]
    quantity: Annotated[int, Field(ge=1, strict=True)]


class EventIn(_Strict):
    time: Time
    status: Text
    detail: Text
    location: str = ""


class ShipmentIn(_Strict):
    carrier: Text
    tracking_no: Text
    events: list[EventIn] = []


class OrderIn(_Strict):
    id: Id
    shopper_id: Id
    status: Status
    created_at: Time
    paid_at: Time | None = None
    shipped_at: Time | None = None
    delivered_at: Time | None = None
    completed_at: Time | None = None
    cancelled_at: Time | None = None
    lines: Annotated[list[LineIn], Field(min_length=1)]
    total_fen: Annotated[int, Field(strict=True)]
    shipping_fee_fen: Fen = 0
    discount_fen: Fen = 0
    pay_fen: Annotated[int, Field(strict=True)]
    payment_method: str = ""
    address: AddressIn
    shipment: ShipmentIn | None = None
    remark: str = ""
    extras: dict[str, Any] = {}


class FaqIn(_Strict):
    id: Id
    question: Text
    answer: Text
    tags: list[str] = []


class ChatMessageIn(_Strict):
    role: Literal["shopper", "agent"]
    text: Text
    time: Time


class ChatIn(_Strict):
    id: Id
    shopper_id: Id | None = None
    order_id: Id | None = None
    agent: Text
    started_at: Time
    rating: Annotated[int, Field(ge=1, le=5)] | None = None
    tags: list[str] = []
    messages: Annotated[list[ChatMessageIn], Field(min_length=2)]


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )
