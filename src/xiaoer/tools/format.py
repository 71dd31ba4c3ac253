"""Short, model-friendly renderings of orders, parcels and products (Chinese)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from xiaoer.domain.models import Order, OrderLine, Product, Shipment, Sku, SkuStatus
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
        f"实付：{yuan(order.pay_fen)}{_parts(order)}",
        # each field by its full name: a reply restating the record uses these words, and the
        # guard takes a word the material never uses for a policy of the shop's own making
        f"收货人：{order.address.name}  收货地址：{order.address.one_line()}",
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
    if after := after_sale_of(order):
        rows.append(f"售后：{after_sale_text(after, local)}")
    return "\n".join(rows)


def _parts(order: Order) -> str:
    """What an order's payment is made of, as the record and its answers both say it."""
    return (
        f"（商品{yuan(order.total_fen)}，运费{yuan(order.shipping_fee_fen)}"
        f"，优惠{yuan(order.discount_fen)}）"
    )


def money_answer(order: Order) -> str:
    """What an order cost, as its record gives it, for a question about its discounts ("用券了
    吗？", "优惠了多少"): no discount on record is said as none."""
    said = f"订单 {order.id} 实付{yuan(order.pay_fen)}{_parts(order)}"
    return said + ("。" if order.discount_fen > 0 else "，这单没有用到优惠。")


def after_sale_of(order: Order) -> Any:
    """The order's after-sale case as the shop's data gives it (`售后` or `after_sale`), if any."""
    return order.extras.get("售后") or order.extras.get("after_sale")


_AFTER_SALE_FIELDS = (("type", "类型"), ("reason", "原因"), ("status", "进度"))


def after_sale_text(after: Any, local: Local) -> str:
    """An order's after-sale case in words: its kind, reason, progress, when it was applied
    for, the parcel sent back and the money (a merchant's own text passes as written)."""
    if not isinstance(after, dict):
        return str(after)
    parts = [f"{label}{after[key]}" for key, label in _AFTER_SALE_FIELDS if after.get(key)]
    if isinstance(applied := after.get("applied_at"), str):
        try:
            parts.append(f"申请时间{when(local(datetime.fromisoformat(applied)))}")
        except ValueError:
            parts.append(f"申请时间{applied}")
    if isinstance(back := after.get("return_shipment"), dict) and back.get("tracking_no"):
        parts.append(f"退回快递{back.get('carrier', '')} {back['tracking_no']}")
    if isinstance(refund := after.get("refund_fen"), int):
        parts.append(f"退款金额{yuan(refund)}")
    if isinstance(extra := after.get("compensation_fen"), int) and extra:
        parts.append(f"另补偿{yuan(extra)}")
    if after.get("exchange_to"):
        parts.append(f"换成{after['exchange_to']}")
    return "，".join(parts)


def idle_days(order: Order, shipment: Shipment, now: datetime) -> int:
    """Days a shipped parcel's tracking has not moved, when that is `STALE_DAYS` or more; else 0."""
    latest = max((e.time for e in shipment.events), default=None)
    if order.status != "已发货" or latest is None:
        return 0
    idle = (now - latest).days
    return idle if idle >= STALE_DAYS else 0


TRACKED = re.compile(r"^订单 (\S+)：\S+\n快递：.+\n最新：(.+)$", re.MULTILINE)
"""An order's latest scan, as `track_text` writes it: (order id, the scan)."""


def latest_scans(text: str) -> dict[str, str]:
    """Each tracked order's latest scan in a text holding `track_text` results."""
    return dict(TRACKED.findall(text))


def track_text(order: Order, shipment: Shipment, local: Local, now: datetime) -> str:
    events = sorted(shipment.events, key=lambda e: e.time, reverse=True)
    rows = [f"订单 {order.id}：{order.status}", f"快递：{shipment.carrier} {shipment.tracking_no}"]
    if not events:
        rows.append("暂无物流轨迹。")
        return "\n".join(rows)
    latest = events[0]
    rows.append(f"最新：{when(local(latest.time))} {latest.status} {latest.detail}")
    if idle := idle_days(order, shipment, now):
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
    ready = [s for s in skus if s.available]
    stock = sum(s.stock for s in ready)
    presale = "（含预售）" if any(s.status is SkuStatus.PRESALE for s in ready) else ""
    extra = f" 颜色：{'/'.join(colors)}" if colors else ""
    return f"{product.title}（编号{product.id}）{price}{extra} 库存{stock}件{presale}"


SOLD_OUT = "缺货"
"""How a SKU that cannot be ordered now is written in a product's detail (the output guard
reads it, with `DISCONTINUED`, as "not in stock")."""
DISCONTINUED = "已下架"
PRESALE = "预售"

DETAIL_CHARS = 900
"""What the model reads of a tool result (the turn cuts the rest): `product_detail` fits the
description to what is left of it."""
ATTRIBUTES = 16
ATTRIBUTE_CHARS = 240
ATTRIBUTES_CHARS = 420
"""At most this much of the detail is attributes; the rest are named as left out."""
DESCRIPTION_CHARS = (160, 600)
"""The description is cut to what the detail has room for, within these bounds."""
SKU_ROWS = 24


def day_text(day: date) -> str:
    return f"{day.month}月{day.day}日"


def stock_text(sku: Sku) -> str:
    """缺货 / 已下架 / 预售 / 库存N first, then the date the shop expects it back or ships it."""
    if sku.status is SkuStatus.DISCONTINUED:
        return DISCONTINUED
    if not sku.available:
        return SOLD_OUT + (f"，预计 {day_text(sku.restock_date)}到货" if sku.restock_date else "")
    if sku.status is SkuStatus.PRESALE:
        ships = f"，预计 {day_text(sku.restock_date)}发货" if sku.restock_date else ""
        return f"{PRESALE}，库存{sku.stock}{ships}"
    return f"库存{sku.stock}"


def stock_answer(product: Product, asked: list[Sku]) -> str:
    """The answer to "还有货吗" for the SKUs the shopper named, from the record: each one's
    stock and price, and when none can be ordered, the same product's options that can."""
    rows = [
        f"{product.title} {options_text(s.options)}：{stock_text(s)}，{yuan(s.price_fen)}"
        for s in asked[:4]
    ]
    if len(asked) > 4:
        rows.append(f"另有 {len(asked) - 4} 个规格")
    if not any(s.available for s in asked):
        others = [options_text(s.options) for s in product.skus if s.available and s not in asked]
        rows.append(
            "同款现在有货的：" + "、".join(others[:8]) if others else "同款其他规格也暂时没有货"
        )
    return "。\n".join(rows) + "。"


def sku_text(sku: Sku) -> str:
    return f"- {options_text(sku.options)} {yuan(sku.price_fen)} {stock_text(sku)}"


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value).strip()


def _inner(value: Any) -> str:
    """A value inside a list or an object; lists and objects inside it go in brackets."""
    if isinstance(value, dict):
        parts = ((k, _bracketed(v)) for k, v in value.items())
        return "，".join(f"{k}{t}" if t[0] == "（" else f"{k} {t}" for k, t in parts if t)
    if isinstance(value, list):
        return "/".join(t for v in value if (t := _bracketed(v)))
    return _scalar(value)


def _bracketed(value: Any) -> str:
    text = _inner(value)
    return f"（{text}）" if text and isinstance(value, dict | list) else text


def attribute_text(value: Any) -> str:
    """An attribute's value, compactly: a list joined with 、, an object as k：v；…, yes/no as
    是/否; "" when there is nothing to say."""
    if isinstance(value, dict):
        return "；".join(f"{k}：{t}" for k, v in value.items() if (t := _inner(v)))
    if isinstance(value, list):
        return "、".join(t for v in value if (t := _inner(v)))
    return _scalar(value)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def attribute_rows(attributes: dict[str, Any]) -> list[str]:
    """`key：value` rows in the shop's order, each and all of them within their budgets."""
    rows: list[str] = []
    left_out = 0
    used = 0
    for key, value in attributes.items():
        text = _clip(attribute_text(value), ATTRIBUTE_CHARS)
        if not text:
            continue
        row = f"{key}：{text}"
        if len(rows) >= ATTRIBUTES or used + len(row) > ATTRIBUTES_CHARS:
            left_out += 1
            continue
        rows.append(row)
        used += len(row) + 1
    if left_out:
        rows.append(f"（另有 {left_out} 项参数未列出）")
    return rows


def product_detail(product: Product, asked: list[Sku] | None = None, *, reserve: int = 0) -> str:
    """The product's facts and every SKU's price and stock; `asked`, the SKUs the shopper
    named, come first with the stock of the others of the same product (the answer to "还有
    货吗" must not be lost to the cut the model reads). The description gets what room the
    rest leaves within `DETAIL_CHARS` less `reserve` (lines the caller adds after it), never
    less than the lower bound."""
    head = [
        f"{product.title}（编号{product.id}）",
        f"类目：{product.category}" + (f" 品牌：{product.brand}" if product.brand else ""),
    ]
    if asked:
        head.append("顾客问的规格：")
        head += [sku_text(s) for s in asked]
        others = [s for s in product.skus if s.available and s not in asked]
        head.append(
            "同款有货的其他规格："
            + ("、".join(options_text(s.options) for s in others[:8]) or "无")
        )
    facts = attribute_rows(product.attributes)
    skus = ["规格（价格/库存）：", *(sku_text(sku) for sku in product.skus[:SKU_ROWS])]
    if len(product.skus) > SKU_ROWS:
        skus.append(f"（共 {len(product.skus)} 个规格）")
    rows = head + facts
    if description := news(product.description, "\n".join(facts)):
        room = DETAIL_CHARS - reserve - len("\n".join(head + facts + skus)) - len("\n介绍：")
        low, high = DESCRIPTION_CHARS
        rows.append(f"介绍：{_clip(description, max(low, min(high, room)))}")
    return "\n".join(rows + skus)


SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;]*")


def squeezed(text: str) -> str:
    return "".join(text.split())


def news(text: str, known: str) -> str:
    """`text` without the sentences `known` already says word for word (spaces aside): a
    description often repeats the attributes above it, and every prompt token is read at
    ≈90 tokens/s on 2 cores."""
    have = squeezed(known)
    kept = [
        s.strip()
        for s in SENTENCE.findall(text)
        if (core := squeezed(s).rstrip("。！？!?；;")) and core not in have
    ]
    return "".join(kept)
