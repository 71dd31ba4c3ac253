"""Short, model-friendly renderings of orders, parcels and products (Chinese)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from xiaoer.domain.models import Order, OrderLine, Product, Shipment, Sku
from xiaoer.domain.money import yuan

STALE_DAYS = 3

type Local = Callable[[datetime], datetime]


def when(t: datetime | None) -> str:
    return "" if t is None else t.strftime("%Y-%m-%d %H:%M")


def options_text(options: dict[str, str]) -> str:
    return "/".join(f"{v}" for v in options.values())


def line_text(line: OrderLine) -> str:
    opts = options_text(line.options)
    opts = f"（{opts}）" if opts else ""
    return f"{line.title}{opts} ×{line.quantity} {yuan(line.unit_price_fen)}"


def order_summary(order: Order, local: Local) -> str:
    items = "；".join(line_text(x) for x in order.lines[:3])
    more = f" 等{len(order.lines)}件" if len(order.lines) > 3 else ""
    return f"{order.id} {order.status} 下单{when(local(order.created_at))[:10]} {items}{more}"


def order_detail(order: Order, local: Local) -> str:
    rows = [
        f"订单号：{order.id}",
        f"状态：{order.status}",
        f"下单时间：{when(local(order.created_at))}",
        "商品：" + "；".join(line_text(x) for x in order.lines),
        f"实付：{yuan(order.pay_fen)}（商品{yuan(order.total_fen)}，运费{yuan(order.shipping_fee_fen)}"
        f"，优惠{yuan(order.discount_fen)}）",
        f"收货：{order.address.name} {order.address.one_line()}",
    ]
    for label, t in (
        ("付款时间", order.paid_at),
        ("发货时间", order.shipped_at),
        ("签收时间", order.delivered_at),
        ("取消时间", order.cancelled_at),
    ):
        if t is not None:
            rows.append(f"{label}：{when(local(t))}")
    if order.shipment:
        rows.append(f"快递：{order.shipment.carrier} {order.shipment.tracking_no}")
    if after := order.extras.get("售后") or order.extras.get("after_sale"):
        rows.append(f"售后：{after}")
    return "\n".join(rows)


def track_text(order: Order, shipment: Shipment, local: Local, now: datetime) -> str:
    events = sorted(shipment.events, key=lambda e: e.time, reverse=True)
    rows = [f"订单 {order.id}：{order.status}", f"快递：{shipment.carrier} {shipment.tracking_no}"]
    if not events:
        rows.append("暂无物流轨迹。")
        return "\n".join(rows)
    latest = events[0]
    rows.append(f"最新：{when(local(latest.time))} {latest.status} {latest.detail}")
    if order.status == "已发货":
        idle = (now - latest.time).days
        if idle >= STALE_DAYS:
            rows.append(f"注意：物流已 {idle} 天没有更新。")
    rows.append("轨迹（新→旧）：")
    rows += [f"- {when(local(e.time))} {e.status} {e.detail}" for e in events[:5]]
    if len(events) > 5:
        rows.append(f"（另有 {len(events) - 5} 条更早的记录）")
    return "\n".join(rows)


def product_line(product: Product, sku_ids: tuple[str, ...] | None = None) -> str:
    skus = [s for s in product.skus if sku_ids is None or s.id in sku_ids]
    prices = sorted({s.price_fen for s in skus})
    price = yuan(prices[0]) if len(prices) == 1 else f"{yuan(prices[0])}–{yuan(prices[-1])}"
    colors = sorted({s.options.get("颜色", "") for s in skus} - {""})
    stock = sum(s.stock for s in skus)
    extra = f" 颜色：{'/'.join(colors)}" if colors else ""
    return f"{product.title}（编号{product.id}）{price}{extra} 库存{stock}件"


SOLD_OUT = "缺货"
"""How a SKU without stock is written in a product's detail (the output guard reads it)."""


def sku_text(sku: Sku) -> str:
    state = f"库存{sku.stock}" if sku.stock > 0 else SOLD_OUT
    return f"- {options_text(sku.options)} {yuan(sku.price_fen)} {state}"


def product_detail(product: Product, asked: list[Sku] | None = None) -> str:
    """The product's facts and every SKU's price and stock; `asked`, the SKUs the shopper
    named, come first with the stock of the others of the same product (the answer to "还有
    货吗" must not be lost to the cut the model reads)."""
    rows = [
        f"{product.title}（编号{product.id}）",
        f"类目：{product.category}" + (f" 品牌：{product.brand}" if product.brand else ""),
    ]
    if asked:
        rows.append("顾客问的规格：")
        rows += [sku_text(s) for s in asked]
        others = [s for s in product.skus if s.stock > 0 and s not in asked]
        rows.append(
            "同款有货的其他规格："
            + ("、".join(options_text(s.options) for s in others[:8]) or "无")
        )
    for key, value in list(product.attributes.items())[:12]:
        if isinstance(value, str | int | float):
            rows.append(f"{key}：{value}")
    if product.description:
        rows.append(f"介绍：{product.description[:160]}")
    rows.append("规格（价格/库存）：")
    rows += [sku_text(sku) for sku in product.skus[:24]]
    if len(product.skus) > 24:
        rows.append(f"（共 {len(product.skus)} 个规格）")
    return "\n".join(rows)
