"""Order generation shared by the demo shops; shop-specific choices live in a `Rules` subclass."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from xiaoer.demo.common import pick
from xiaoer.demo.logistics import Origin, build_track, tracking_no
from xiaoer.demo.timeline import Timeline, simulate
from xiaoer.domain.models import OrderStatus


def pick_coupon(
    rng: random.Random, coupons: list[tuple[int, int, str]], total: int, chance: float
) -> tuple[int, str | None]:
    """The best shop coupon the total reaches (threshold, amount, name — best first), used with
    probability `chance`: (discount_fen, coupon name or None)."""
    usable = [c for c in coupons if total >= c[0]]
    if usable and rng.random() < chance:
        _, discount, name = usable[0]
        return discount, name
    return 0, None


STATUSES = [s.value for s in OrderStatus]
MAX_ORDERS_PER_SHOPPER = 15


class Catalog:
    """Products with lookups and popularity weights."""

    def __init__(self, products: list[dict[str, Any]], weights: dict[str, int]) -> None:
        self.products = products
        self.by_id = {p["id"]: p for p in products}
        self.sku_owner = {s["id"]: p for p in products for s in p["skus"]}
        self.weighted = [(p, weights[p["id"]]) for p in products]

    def sku(self, sku_id: str) -> dict[str, Any]:
        """The SKU dict for an id."""
        return next(s for s in self.sku_owner[sku_id]["skus"] if s["id"] == sku_id)


@dataclass(frozen=True, slots=True)
class AfterSalePlan:
    """What kind of after-sale case an order is in."""

    type: str  # 退货退款 / 仅退款 / 换货
    reason: str
    shipped: bool = True
    window: timedelta = timedelta(days=7)


def make_line(product: dict[str, Any], sku: dict[str, Any], quantity: int) -> dict[str, Any]:
    """An order line that snapshots the product and SKU."""
    return {
        "sku_id": sku["id"],
        "product_id": product["id"],
        "title": product["title"],
        "options": dict(sku["options"]),
        "unit_price_fen": sku["price_fen"],
        "quantity": quantity,
    }


class Rules:
    """Shop-specific choices for orders. Subclasses fill in the shop's policy."""

    origin: Origin
    payments: list[tuple[str, int]]
    cancel_reasons: dict[str, list[tuple[str, int]]] = {
        "unpaid": [
            ("我不想买了", 30),
            ("拍错了/多拍了", 25),
            ("信息填写错误，重新拍", 20),
            ("价格有点贵，再看看", 15),
            ("其他渠道更便宜", 10),
        ],
        "timeout": [("超时未付款，订单自动关闭", 1)],
        "paid": [
            ("不想要了", 30),
            ("地址填写错误，重新下单", 20),
            ("拍错规格，重新下单", 25),
            ("商家缺货，协商取消", 10),
            ("协商一致取消", 15),
        ],
    }

    def __init__(self, catalog: Catalog, anchor: datetime) -> None:
        self.catalog = catalog
        self.anchor = anchor

    def sku_weight(self, product: dict[str, Any], sku: dict[str, Any]) -> int:
        return 1

    def quantity(self, rng: random.Random, product: dict[str, Any]) -> int:
        return pick(rng, [(1, 94), (2, 6)])

    def extra_product(self, rng: random.Random, first: dict[str, Any]) -> dict[str, Any]:
        return pick(rng, self.catalog.weighted)

    def money(
        self,
        rng: random.Random,
        lines: list[dict[str, Any]],
        shopper: dict[str, Any],
        addr: dict[str, str],
        total: int,
    ) -> tuple[int, int, dict[str, Any]]:
        """(discount_fen, shipping_fee_fen, extras)."""
        return 0, 0, {}

    def carrier(
        self, rng: random.Random, lines: list[dict[str, Any]], shopper: dict[str, Any], total: int
    ) -> str:
        raise NotImplementedError

    def origin_for(self, lines: list[dict[str, Any]]) -> Origin:
        return self.origin

    def remark(self, rng: random.Random, lines: list[dict[str, Any]]) -> str:
        return ""

    def after_sale_plan(self, rng: random.Random, lines: list[dict[str, Any]]) -> AfterSalePlan:
        raise NotImplementedError

    def decorate(
        self, rng: random.Random, order: dict[str, Any], tl: Timeline, plan: AfterSalePlan | None
    ) -> None:
        """Add status-dependent extras (installation, invoice, after-sale details…)."""

    def demo_orders(self) -> list[tuple[str, dict[str, Any], list[tuple[str, int]]]]:
        """U00001's guaranteed orders: (status, simulate kwargs, [(sku_id, qty)])."""
        return []

    def lines_for(self, rng: random.Random, status: str) -> list[dict[str, Any]]:
        """The lines of a new order in `status` (a shop may keep, say, pre-sale products out of
        orders that have shipped already)."""
        return self.pick_lines(rng)

    def pick_lines(self, rng: random.Random) -> list[dict[str, Any]]:
        """1-3 distinct lines; popular products more often."""
        count = pick(rng, [(1, 78), (2, 17), (3, 5)])
        lines: list[dict[str, Any]] = []
        first = pick(rng, self.catalog.weighted)
        for i in range(count):
            product = first if i == 0 else self.extra_product(rng, first)
            sku = pick(rng, [(s, self.sku_weight(product, s)) for s in product["skus"]])
            if any(line["sku_id"] == sku["id"] for line in lines):
                continue
            lines.append(make_line(product, sku, self.quantity(rng, product)))
        return lines


def _address(rng: random.Random, shopper: dict[str, Any]) -> dict[str, str]:
    addrs = shopper["addresses"]
    weights = [6, 3, 1][: len(addrs)]
    return dict(rng.choices(addrs, weights=weights, k=1)[0])


def _draw_timeline(
    rng: random.Random,
    rules: Rules,
    anchor: datetime,
    status: str,
    order_ctx: tuple[dict[str, Any], list[dict[str, Any]], dict[str, str], int],
    sim_kwargs: dict[str, Any],
) -> tuple[Timeline, dict[str, Any] | None, AfterSalePlan | None]:
    """Timeline, shipment and after-sale plan of an order in `status`."""
    shopper, lines, addr, total = order_ctx
    carrier = rules.carrier(rng, lines, shopper, total)
    origin = rules.origin_for(lines)
    plan = sim_kwargs.pop("plan", None)
    if status == "售后中" and plan is None:
        plan = rules.after_sale_plan(rng, lines)
    if plan is not None:
        sim_kwargs.update(shipped=plan.shipped, window=plan.window)
    tl = simulate(
        rng, status, anchor, lambda t: build_track(rng, carrier, origin, addr, t), **sim_kwargs
    )
    shipment = None
    if tl.shipped is not None:
        shipment = {
            "carrier": carrier,
            "tracking_no": tracking_no(rng, carrier),
            "events": tl.events,
        }
    return tl, shipment, plan


def build_order(
    rng: random.Random,
    rules: Rules,
    anchor: datetime,
    shopper: dict[str, Any],
    status: str,
    lines: list[dict[str, Any]] | None = None,
    **sim_kwargs: Any,
) -> dict[str, Any]:
    """One consistent order in the bundle's shape (times still datetimes, id assigned later)."""
    lines = lines or rules.lines_for(rng, status)
    addr = _address(rng, shopper)
    total = sum(line["unit_price_fen"] * line["quantity"] for line in lines)
    discount, fee, extras = rules.money(rng, lines, shopper, addr, total)
    ctx = (shopper, lines, addr, total)
    tl, shipment, plan = _draw_timeline(rng, rules, anchor, status, ctx, sim_kwargs)
    order = {
        "id": "",
        "shopper_id": shopper["id"],
        "status": status,
        "created_at": tl.created,
        "paid_at": tl.paid,
        "shipped_at": tl.shipped,
        "delivered_at": tl.delivered,
        "completed_at": tl.completed,
        "cancelled_at": tl.cancelled,
        "lines": lines,
        "total_fen": total,
        "shipping_fee_fen": fee,
        "discount_fen": discount,
        "pay_fen": total + fee - discount,
        "payment_method": pick(rng, rules.payments) if tl.paid else "",
        "address": addr,
        "shipment": shipment,
        "remark": rules.remark(rng, lines),
        "extras": extras,
    }
    if status == "已取消":
        extras["cancel_reason"] = pick(rng, rules.cancel_reasons[tl.note])
    rules.decorate(rng, order, tl, plan)
    return order


def _status_plan(rng: random.Random, mix: dict[str, int], total: int) -> list[tuple[str, bool]]:
    """(status, delayed) for every non-demo order, shuffled."""
    plan: list[tuple[str, bool]] = []
    for status, count in mix.items():
        for i in range(count):
            plan.append((status, status == "已发货" and i < count // 5))
    plan += [("已完成", False)] * (total - len(plan))
    rng.shuffle(plan)
    return plan


def _assign_shoppers(rng: random.Random, shoppers: list[dict[str, Any]], n: int) -> list[dict]:
    """Pick a shopper for each of n orders; some never order, nobody exceeds the cap."""
    weights = [rng.choice([0, 1, 1, 2, 2, 3, 4, 6, 9]) for _ in shoppers]
    counts = [0] * len(shoppers)
    chosen = []
    idx = list(range(len(shoppers)))
    while len(chosen) < n:
        i = rng.choices(idx, weights=weights, k=1)[0]
        if counts[i] >= MAX_ORDERS_PER_SHOPPER:
            weights[i] = 0
            continue
        counts[i] += 1
        chosen.append(shoppers[i])
    return chosen


def build_orders(
    rng: random.Random,
    rules: Rules,
    anchor: datetime,
    shoppers: list[dict[str, Any]],
    mix: dict[str, int],
    total: int,
) -> list[dict[str, Any]]:
    """All orders of a shop: U00001's demo set plus `total` others, ids assigned by date."""
    demo_shopper, others = shoppers[0], shoppers[1:]
    orders = []
    for status, kwargs, wanted in rules.demo_orders():
        lines = [
            make_line(rules.catalog.sku_owner[sid], rules.catalog.sku(sid), qty)
            for sid, qty in wanted
        ]
        orders.append(
            build_order(rng, rules, anchor, demo_shopper, status, lines or None, **kwargs)
        )
    plan = _status_plan(rng, mix, total)
    for (status, is_delayed), shopper in zip(
        plan, _assign_shoppers(rng, others, total), strict=True
    ):
        kwargs = {"delayed": True} if is_delayed else {}
        orders.append(build_order(rng, rules, anchor, shopper, status, **kwargs))
    return assign_ids(orders)


def assign_ids(orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort by creation time and number orders SO + yymmdd + 4-digit daily sequence."""
    ordered = sorted(enumerate(orders), key=lambda pair: (pair[1]["created_at"], pair[0]))
    per_day: dict[str, int] = {}
    result = []
    for _, order in ordered:
        day = order["created_at"].strftime("%y%m%d")
        per_day[day] = per_day.get(day, 0) + 1
        order["id"] = f"SO{day}{per_day[day]:04d}"
        result.append(order)
    return result


_RETURN_CARRIERS = [("中通快递", 35), ("圆通速递", 25), ("韵达快递", 20), ("顺丰速运", 20)]


def after_sale_record(
    rng: random.Random, order: dict[str, Any], tl: Timeline, plan: AfterSalePlan
) -> dict[str, Any]:
    """The `extras.after_sale` object of an open after-sale case."""
    record: dict[str, Any] = {"type": plan.type, "reason": plan.reason, "applied_at": tl.applied}
    if plan.type == "仅退款":
        record["status"] = "待商家处理"
        partial = min(order["pay_fen"], rng.choice([1000, 2000, 3000, 5000]))
        record["refund_fen"] = partial if plan.shipped else order["pay_fen"]
        return record
    record["status"] = pick(
        rng, [("待商家处理", 30), ("待买家寄回", 35), ("买家已寄回，待商家收货", 35)]
    )
    if record["status"].startswith("买家已寄回"):
        carrier = pick(rng, _RETURN_CARRIERS)
        record["return_shipment"] = {"carrier": carrier, "tracking_no": tracking_no(rng, carrier)}
    if plan.type == "退货退款":
        record["refund_fen"] = order["total_fen"] - order["discount_fen"]
    return record
