"""Cross-file checks of a shop bundle: references resolve, money adds up, times are ordered."""

from __future__ import annotations

from collections.abc import Iterator

from xiaoer.commerce.bundle_schema import ChatIn, OrderIn, Problem, ProductIn, ShopperIn, SkuIn

type Numbered[T] = list[tuple[int, T]]

_SHIPPED = {"已发货", "已签收", "已完成"}
_DELIVERED = {"已签收", "已完成"}


def check_references(
    products: Numbered[ProductIn],
    shoppers: Numbered[ShopperIn],
    orders: Numbered[OrderIn],
    chats: Numbered[ChatIn],
) -> list[Problem]:
    problems: list[Problem] = []
    sku_owner: dict[str, tuple[str, int]] = {}
    for number, product in products:
        for i, sku in enumerate(product.skus):
            if sku.id in sku_owner:
                problems.append(
                    Problem(
                        "products.jsonl", number, f"skus[{i}].id", f"duplicate SKU id {sku.id!r}"
                    )
                )
            sku_owner[sku.id] = (product.id, sku.price_fen)
            for field, message in _sku_problems(sku):
                problems.append(Problem("products.jsonl", number, f"skus[{i}].{field}", message))
    shopper_ids = {s.id for _, s in shoppers}
    order_ids = {o.id for _, o in orders}
    for number, order in orders:
        for field, message in _order_problems(order, sku_owner, shopper_ids):
            problems.append(Problem("orders.jsonl", number, field, message))
    for number, chat in chats:
        if chat.shopper_id is not None and chat.shopper_id not in shopper_ids:
            problems.append(
                Problem("chats.jsonl", number, "shopper_id", f"unknown shopper {chat.shopper_id!r}")
            )
        if chat.order_id is not None and chat.order_id not in order_ids:
            problems.append(
                Problem("chats.jsonl", number, "order_id", f"unknown order {chat.order_id!r}")
            )
    return problems


def _sku_problems(sku: SkuIn) -> Iterator[tuple[str, str]]:
    """A status that contradicts the SKU's other fields (a reply would contradict itself)."""
    if sku.status in ("sold_out", "discontinued") and sku.stock > 0:
        fix = "set stock 0, or status on_sale"
        yield "stock", f"is {sku.stock}, but a {sku.status} SKU has nothing to sell; {fix}"
    if sku.status == "discontinued" and sku.restock_date is not None:
        yield "restock_date", "a discontinued SKU is not restocked; remove the date or the status"


def _order_problems(
    order: OrderIn, skus: dict[str, tuple[str, int]], shopper_ids: set[str]
) -> Iterator[tuple[str, str]]:
    if order.shopper_id not in shopper_ids:
        yield "shopper_id", f"unknown shopper {order.shopper_id!r}"
    for i, line in enumerate(order.lines):
        owner = skus.get(line.sku_id)
        if owner is None:
            yield f"lines[{i}].sku_id", f"unknown SKU {line.sku_id!r}"
        elif owner[0] != line.product_id:
            yield f"lines[{i}].product_id", f"SKU {line.sku_id!r} belongs to {owner[0]!r}"
    total = sum(line.unit_price_fen * line.quantity for line in order.lines)
    if order.total_fen != total:
        yield "total_fen", f"is {order.total_fen}, but the lines add up to {total}"
    expected_pay = order.total_fen + order.shipping_fee_fen - order.discount_fen
    if order.pay_fen != expected_pay:
        yield "pay_fen", f"is {order.pay_fen}, expected total+shipping-discount = {expected_pay}"
    yield from _time_problems(order)


def _time_problems(order: OrderIn) -> Iterator[tuple[str, str]]:
    for name in ("paid_at", "shipped_at", "delivered_at", "completed_at", "cancelled_at"):
        value = getattr(order, name)
        if value is not None and value < order.created_at:
            yield name, "is earlier than created_at"
    status = order.status
    if status in _SHIPPED and (order.shipped_at is None or order.shipment is None):
        yield "shipment", f"a {status} order needs shipped_at and a shipment"
    if status in _DELIVERED and order.delivered_at is None:
        yield "delivered_at", f"a {status} order needs delivered_at"
    if status == "已取消" and order.cancelled_at is None:
        yield "cancelled_at", "a 已取消 order needs cancelled_at"
    if status == "待付款" and order.paid_at is not None:
        yield "paid_at", "a 待付款 order cannot have paid_at"
    if order.shipment is not None:
        times = [e.time for e in order.shipment.events]
        if times != sorted(times):
            yield "shipment.events", "events are not in time order"
