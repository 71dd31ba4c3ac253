"""Rows to domain objects and back. The bundle's JSON shapes are the stored JSON shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from xiaoer.domain.models import (
    Address,
    FaqEntry,
    LogisticsEvent,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    Shipment,
    Shop,
    Shopper,
    Sku,
    SkuStatus,
)
from xiaoer.store.models import FaqRow, OrderRow, ProductRow, ShopperRow, ShopRow, SkuRow


def shop_from_row(row: ShopRow) -> Shop:
    return Shop(
        id=row.id,
        name=row.name,
        persona=row.persona,
        timezone=row.timezone,
        working_hours=row.working_hours,
        description=row.description,
    )


def product_from_rows(row: ProductRow, skus: list[SkuRow]) -> Product:
    return Product(
        id=row.id,
        title=row.title,
        category=row.category,
        brand=row.brand,
        description=row.description,
        attributes=dict(row.attributes),
        tags=tuple(row.tags),
        skus=tuple(sku_from_row(s) for s in sorted(skus, key=lambda s: s.id)),
    )


def sku_from_row(row: SkuRow) -> Sku:
    return Sku(
        row.id,
        row.product_id,
        dict(row.options),
        row.price_fen,
        row.stock,
        status=SkuStatus(row.status),
        restock_date=row.restock_date,
    )


def address_from_json(data: dict[str, Any]) -> Address:
    return Address(
        name=data["name"],
        phone=data["phone"],
        province=data["province"],
        city=data["city"],
        district=data["district"],
        detail=data["detail"],
    )


def shopper_from_row(row: ShopperRow) -> Shopper:
    return Shopper(
        id=row.id,
        name=row.name,
        phone=row.phone,
        level=row.level,
        addresses=tuple(address_from_json(a) for a in row.addresses),
        extras=dict(row.extras),
    )


def shipment_from_json(data: dict[str, Any] | None) -> Shipment | None:
    if not data:
        return None
    events = tuple(
        LogisticsEvent(
            time=datetime.fromisoformat(e["time"]),
            status=e["status"],
            detail=e["detail"],
            location=e.get("location", ""),
        )
        for e in data.get("events", [])
    )
    return Shipment(carrier=data["carrier"], tracking_no=data["tracking_no"], events=events)


def order_from_row(row: OrderRow) -> Order:
    return Order(
        id=row.id,
        shopper_id=row.shopper_id,
        status=OrderStatus(row.status),
        created_at=row.created_at,
        paid_at=row.paid_at,
        shipped_at=row.shipped_at,
        delivered_at=row.delivered_at,
        completed_at=row.completed_at,
        cancelled_at=row.cancelled_at,
        lines=tuple(
            OrderLine(
                sku_id=line["sku_id"],
                product_id=line["product_id"],
                title=line["title"],
                options=dict(line.get("options", {})),
                unit_price_fen=line["unit_price_fen"],
                quantity=line["quantity"],
            )
            for line in row.lines
        ),
        total_fen=row.total_fen,
        shipping_fee_fen=row.shipping_fee_fen,
        discount_fen=row.discount_fen,
        pay_fen=row.pay_fen,
        payment_method=row.payment_method,
        address=address_from_json(row.address),
        shipment=shipment_from_json(row.shipment),
        remark=row.remark,
        extras=dict(row.extras),
    )


def faq_from_row(row: FaqRow) -> FaqEntry:
    return FaqEntry(id=row.id, question=row.question, answer=row.answer, tags=tuple(row.tags))
