"""Service tools: urge_shipment, price_protection, list_coupons, apply_coupon, check_subsidy,
recommend_size, request_invoice, schedule_installation.

The read-only ones answer from data (size charts, the 国补 tables and the shop's subsidy
programmes — `subsidy.py` —, the shop's coupons and 满减 promotions — `promotion.py`); the
ones that change something return a proposal for the action desk, like the after-sales tools.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import Field, field_validator

from xiaoer.commerce.search import named_value, strip_unit
from xiaoer.domain.models import Change, Product
from xiaoer.domain.money import yuan
from xiaoer.knowledge.text import CJK
from xiaoer.policy import rules
from xiaoer.policy.verdict import allow, deny
from xiaoer.tools import ruled
from xiaoer.tools.aftersales import denied, items_text, size_rank
from xiaoer.tools.args import ToolArgs
from xiaoer.tools.base import ToolResult, propose, typed
from xiaoer.tools.catalog import resolve_product
from xiaoer.tools.deps import TurnDeps
from xiaoer.tools.orders import OrderArgs, dispatch_promise, order_products, owned_order
from xiaoer.tools.promotion import promotion_text
from xiaoer.tools.subsidy import check_subsidy

PRODUCT = "商品名称或编号"


class NoArgs(ToolArgs):
    pass


class CouponArgs(ToolArgs):
    coupon: str = Field(description="券的编号或名称")


SIZE_CHART = "尺码表"
"""The product attribute holding its size chart: {size: {column: value}} (docs/catalog.md)."""


class SizeArgs(ToolArgs):
    product: str = Field(description=PRODUCT)
    usual_size: str = Field("", description="顾客平时穿的尺码；没说就不填")


class InvoiceArgs(OrderArgs):
    type: Literal["电子普通发票", "增值税专用发票"] = "电子普通发票"
    title: str = Field("", description="发票抬头：个人或单位名称")
    tax_id: str = Field("", description="单位税号")

    @field_validator("type", mode="before")
    @classmethod
    def _kind(cls, value: Any) -> Any:
        """Any wording with 专 ("专票") is the special VAT invoice, anything else the ordinary one."""
        return "增值税专用发票" if "专" in str(value) else "电子普通发票"


class InstallationArgs(OrderArgs):
    date: str = Field("", description="日期，如 11-22 或 明天")
    slot: str = Field("", description="时间段，如 09:00-12:00")


# ---------- 催发货 ----------


async def urge_shipment(deps: TurnDeps, args: OrderArgs) -> ToolResult:
    """Records the request and tells the truth about the dispatch promise; past the promise it
    is escalated to the warehouse as overdue. Moves no money or goods, so no confirmation."""
    order, problem = await owned_order(deps, args.order_id)
    if order is None:
        return problem
    decision = await ruled.judge(deps, "urge", order)
    if stop := ruled.stopped(deps, decision, order, "催发货") or ruled.asked(decision, order):
        return stop
    if order.status.value != "待发货":
        text = f"订单 {order.id} 当前{order.status.value}，不需要催发货。"
        return ToolResult(True, text, {"order_id": order.id}, text)
    promised = await dispatch_promise(deps, order)
    assert promised is not None  # 待发货: it has one
    hours, overdue = promised.hours, promised.overdue
    due_text = deps.local(promised.due).strftime("%m月%d日 %H:%M")
    key = f"urge-{order.id}-{deps.local(deps.now).date().isoformat()}"
    record = await deps.commerce.apply(
        Change(
            key=key,
            kind="urge",
            shopper_id=deps.shopper.id,
            order_id=order.id,
            status="已升级仓库加急" if overdue else "已登记",
            detail={"promise_hours": hours, "overdue": overdue},
        )
    )
    if overdue:
        reply = (
            f"非常抱歉，订单 {order.id} 承诺 {due_text} 前发货，已经超时了。我已把催发货升级给仓库加急处理"
            f"（登记号 {record.id}），有进展会第一时间通知您；如需取消订单也可以告诉我。"
        )
    else:
        reply = (
            f"订单 {order.id} 付款后承诺 {hours} 小时内发货，"
            f"最晚 {due_text} 前发出。已帮您登记催发货（登记号 {record.id}），仓库会优先安排。"
        )
    return ToolResult(True, reply, {"order_id": order.id, "overdue": overdue}, reply)


# ---------- 价保 ----------


async def price_protection(deps: TurnDeps, args: OrderArgs) -> ToolResult:
    order, problem = await owned_order(deps, args.order_id)
    if order is None:
        return problem
    decision = await ruled.judge(deps, "price_protection", order)
    if stop := ruled.stopped(deps, decision, order, "价保"):
        return stop
    products = await order_products(deps, order.lines)
    current = {s.id: s for p in products.values() for s in p.skus}
    now = deps.local(deps.now)
    plan = rules.check_price_protection(deps.policy, order, current, now, decision.granted)
    if not plan.verdict.allowed:
        return denied(plan.verdict, "价保", order)
    if ask := ruled.asked(decision, order):
        return ask
    amount = plan.amount_fen
    return propose(
        deps,
        "price_protection",
        OrderArgs(order_id=order.id),
        order=order,
        summary=f"订单 {order.id} 申请价保，退还差价 {yuan(amount)}（原路退回）",
        verdict=plan.verdict,
        done=f"价保已办理，差价 {yuan(amount)} 原路退回。",
        kind="price_protection",
        status="已退差价",
        amount_fen=amount,
    )


# ---------- 优惠券 ----------


async def list_coupons(deps: TurnDeps, args: NoArgs) -> ToolResult:
    coupons = deps.policy.coupons
    mine = await deps.commerce.records_for(deps.shopper.id, kind="coupon")
    retention = await deps.commerce.records_for(deps.shopper.id, kind="retention")
    claimed = {r.detail.get("coupon_id") for r in mine}
    deal = await promotion_text(deps)
    if not coupons and not mine and not retention and not deal.text:
        return ToolResult(True, "本店目前没有可领的优惠券。")
    rows = [
        f"- {c.name}（{c.id}）：满{yuan(c.min_spend)}减{yuan(c.amount)}"
        + ("，仅限新客" if c.new_customer_only else "")
        + ("，已领取" if c.id in claimed else "")
        for c in coupons
    ]
    rows += [
        f"- 已发放：{r.detail.get('describe', yuan(r.amount_fen))}" for r in retention
        if r.detail.get("offer") == "coupon"
    ]  # fmt: skip
    head = "本店优惠券（每单限用一张，结算时自动选最划算的）：\n" if rows else ""
    text = head + "\n".join(rows) + (("\n" if rows else "") + deal.text if deal.text else "")
    return ToolResult(True, text, {"coupon_ids": [c.id for c in coupons], **deal.data})


async def apply_coupon(deps: TurnDeps, args: CouponArgs) -> ToolResult:
    ref = args.coupon
    coupon = next((c for c in deps.policy.coupons if ref.upper() == c.id or ref in c.name), None)
    if coupon is None or not coupon.claimable:
        names = "、".join(c.name for c in deps.policy.coupons) or "无"
        return ToolResult(False, f"没有可领取的优惠券“{ref}”。本店可领：{names}")
    mine = await deps.commerce.records_for(deps.shopper.id, kind="coupon")
    if any(r.detail.get("coupon_id") == coupon.id for r in mine):
        text = f"您已经领过{coupon.name}了，结算时会自动抵扣。"
        return ToolResult(True, text, {"coupon_id": coupon.id}, text)
    if coupon.new_customer_only and await deps.commerce.orders_for(deps.shopper.id, limit=1):
        verdict = deny("coupons.new_customer_only", f"{coupon.name}仅限新客首单使用")
        return denied(verdict, "领券")
    return propose(
        deps,
        "apply_coupon",
        CouponArgs(coupon=coupon.id),
        order=None,
        summary=f"领取{coupon.name}（满{yuan(coupon.min_spend)}减{yuan(coupon.amount)}）到您的账户",
        verdict=allow("coupons", "可以领取"),
        done=f"{coupon.name}已放入您的账户，下单满{yuan(coupon.min_spend)}结算时自动抵扣。",
        kind="coupon",
        status="未使用",
        amount_fen=coupon.amount,
        detail={"coupon_id": coupon.id, "name": coupon.name},
    )


# ---------- 尺码推荐 ----------

_FIGURE = r"[\s:：是有约大概为]{0,3}(\d+(?:\.\d+)?)\s*(厘米|公分|cm|毫米|mm|米|m|公斤|千克|kg|斤)?"
_UNIT_NAME = {"厘米": "cm", "公分": "cm", "毫米": "mm", "米": "m", "公斤": "kg", "千克": "kg"}
_SCALE = {("mm", "cm"): 0.1, ("m", "cm"): 100.0, ("斤", "kg"): 0.5}
"""Units a shopper may give a body measure in, to the unit of the size chart's column."""


def _numbers(value: Any) -> list[float]:
    return [float(x) for x in re.findall(r"\d+(?:\.\d+)?", str(value or ""))]


def _unit(text: str) -> str:
    m = re.search(r"\d\s*(厘米|公分|cm|毫米|mm|公斤|千克|kg)", text, re.IGNORECASE)
    return _UNIT_NAME.get(m.group(1), m.group(1).lower()) if m else ""


def _columns(chart: dict[str, Any]) -> list[str]:
    """The size chart's columns (the body measures it maps to sizes), in order."""
    return list(dict.fromkeys(c for row in chart.values() if isinstance(row, dict) for c in row))


_UNNAMED = re.compile(
    r"(?<![\d.])(\d+(?:\.\d+)?)\s*(厘米|公分|cm|毫米|mm|米|公斤|千克|kg|斤)", re.IGNORECASE
)
"""A body measure written with its unit but no name ("我 172 厘米、68 公斤")."""


def measures(chart: dict[str, Any], said: list[str]) -> dict[str, float]:
    """The figures the shopper gave for the chart's columns, in the column's unit: the column's
    name (or its first character, for a two-character Chinese name) then a number, with a unit
    when they gave one. Later messages override earlier ones. A figure with a unit and no name
    goes to the one column it fits — that unit, within that column's range on the chart."""
    out = _named_measures(chart, said)
    spans = {}
    for column in _columns(chart):
        cells, unit = _column(chart, column)
        nums = [n for c in cells for n in _numbers(c)]
        if nums and unit:
            spans[column] = (unit, min(nums) * 0.9, max(nums) * 1.1)
    for text in said:
        for m in _UNNAMED.finditer(text):
            given = _UNIT_NAME.get(m.group(2), m.group(2).lower())
            fits = [
                (column, value)
                for column, (unit, low, high) in spans.items()
                if column not in out
                and (value := float(m.group(1)) * _SCALE.get((given, unit), 1.0)) >= low
                and value <= high
                and (given == unit or (given, unit) in _SCALE)
            ]
            if len(fits) == 1:
                out[fits[0][0]] = fits[0][1]
    return out


def _column(chart: dict[str, Any], column: str) -> tuple[list[str], str]:
    """A chart column's cells, and the unit they are written in ("" if none)."""
    cells = [str(row.get(column, "")) for row in chart.values() if isinstance(row, dict)]
    return cells, next((u for c in cells if (u := _unit(c))), "")


def _named_measures(chart: dict[str, Any], said: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for column in _columns(chart):
        cells, unit = _column(chart, column)
        top = max((n for c in cells for n in _numbers(c)), default=0.0)
        names = [column] + ([column[0]] if len(column) == 2 and CJK.match(column) else [])
        for text in said:
            for name in names:
                m = re.search(re.escape(name) + _FIGURE, text, re.IGNORECASE)
                if m is None:
                    continue
                value, given = float(m.group(1)), (m.group(2) or "").lower()
                given = _UNIT_NAME.get(given, given)
                if given and unit and given != unit:
                    value *= _SCALE.get((given, unit), 1.0)
                elif not given and unit == "cm" and top and value > 3 * top:
                    value /= 10  # millimetres written without a unit
                out[column] = value
                break
    return out


def _fits(cell: Any, value: float) -> bool | None:
    """A single figure is the largest body measure the size takes; a range, its band."""
    nums = _numbers(cell)
    if not nums:
        return None
    return nums[0] >= value - 0.01 if len(nums) == 1 else value <= nums[-1]


def _fit(
    rows: dict[str, dict[str, Any]], given: dict[str, float], grounds: str
) -> tuple[str | None, str]:
    """The first size whose row fits every given measure, and the basis to tell the shopper."""
    if not given:
        return None, ""
    for size, row in rows.items():
        if all(_fits(row.get(column), value) for column, value in given.items()):
            said = "、".join(f"{column} {value:g}" for column, value in given.items())
            return size, f"{said} {grounds} {_said(size)}"
    return None, ""


def size_advice(product: Product, given: dict[str, float], usual: str) -> str | None:
    """The size to order from the product's size chart (`尺码表`) and its `尺码偏差`, or None.
    Exact measures (one figure per size) come first, then the size the shopper usually wears,
    then measures the chart gives as bands."""
    chart = product.attributes.get(SIZE_CHART)
    if not isinstance(chart, dict) or not chart:
        return None
    sizes = list(chart)
    rows = {s: chart[s] if isinstance(chart[s], dict) else {} for s in sizes}
    exact = {
        c: v for c, v in given.items() if all(len(_numbers(r.get(c))) <= 1 for r in rows.values())
    }
    base, basis = _fit(rows, exact, "对应尺码表")
    if base is None and usual in sizes:
        base, basis = usual, f"平时穿 {_said(usual)}"
    if base is None:
        base, basis = _fit(rows, {c: v for c, v in given.items() if c not in exact}, "对照尺码表")
    if base is None:
        return None
    i = sizes.index(base)
    bias = str(product.attributes.get("尺码偏差") or "标准")
    if "偏小" in bias:
        pick = sizes[min(i + 1, len(sizes) - 1)]
        return f"{basis}；这款{bias}，建议拍大一码：{_said(pick)}。"
    if "偏大" in bias:
        smaller = sizes[max(i - 1, 0)]
        return f"{basis}；这款{bias}，建议拍 {_said(base)}，想穿合身可以拍 {_said(smaller)}。"
    return f"{basis}；这款尺码标准，建议拍 {_said(base)}。"


def _said(size: str) -> str:
    """A size as a shopper says it: a chart's bare number or letter size (38, S, 3XL) with 码,
    anything else (均码, 165/88A, 110cm) as the chart writes it."""
    return f"{size} 码" if size_rank(size) is not None else size


async def recommend_size(deps: TurnDeps, args: SizeArgs) -> ToolResult:
    ref = args.product
    product = await resolve_product(deps, ref)
    if product is None:
        return ToolResult(False, f"没有找到商品“{ref}”。先用 search_products 找到商品。")
    chart = product.attributes.get(SIZE_CHART)
    if not isinstance(chart, dict) or not chart:
        text = (
            f"{product.title} 没有尺码表，不能按尺码表推荐；如实告诉顾客，可以参考商品详情的规格。"
        )
        return ToolResult(True, text, {"product_id": product.id})
    usual_arg = args.usual_size
    said_usual = usual_arg and deps.shopper_said(strip_unit(usual_arg))
    usual = (named_value(usual_arg, chart) or "") if said_usual else ""
    advice = size_advice(product, measures(chart, deps.said), usual)
    if advice is None:
        asked = "、".join(_columns(chart))
        text = f"{product.title} 需要顾客平时穿的尺码，或尺码表对照的{asked}，才能推荐。"
        reply = (
            f"请问您平时穿什么尺码，或者您的{asked}是多少？我按{product.title}的尺码表帮您推荐。"
        )
        return ToolResult(True, text, {"product_id": product.id}, reply)
    in_stock = [s for s in product.skus if s.available]
    text = f"{product.title}：{advice}（有货规格 {len(in_stock)} 个）"
    return ToolResult(True, text, {"product_id": product.id})


# ---------- 发票 ----------


async def request_invoice(deps: TurnDeps, args: InvoiceArgs) -> ToolResult:
    order, problem = await owned_order(deps, args.order_id)
    if order is None:
        return problem
    kind = args.type
    decision = await ruled.judge(deps, "invoice", order, invoice_type=kind)
    if stop := ruled.stopped(deps, decision, order, f"开{kind}"):
        return stop
    title = (args.title or "个人")[:60]
    tax_id = args.tax_id.upper()
    if title != "个人" and not deps.shopper_said(title):
        return ToolResult(
            True,
            "顾客还没给出发票抬头。",
            {"order_id": order.id, "asks": "details"},
            "请问发票抬头是个人还是单位？单位抬头请提供单位名称和税号（统一社会信用代码）。",
        )
    verdict = rules.check_invoice(deps.policy, order, kind, title, tax_id)
    if not verdict.allowed:
        return denied(verdict, "开票", order)
    if ask := ruled.asked(decision, order):
        return ask
    taxed = f"，税号 {tax_id}" if tax_id and title != "个人" else ""
    timing = deps.policy.invoice.timing.get(kind)
    return propose(
        deps,
        "request_invoice",
        InvoiceArgs(order_id=order.id, type=kind, title=title, tax_id=tax_id),
        order=order,
        summary=f"为订单 {order.id} 开具{kind}，抬头：{title}{taxed}，金额为实付{yuan(order.pay_fen)}",
        verdict=verdict,
        done=f"开票申请已提交：{kind}，抬头 {title}。" + (f"{timing}。" if timing else ""),
        kind="invoice",
        status="待开具",
        recorded_fen=order.pay_fen,
        detail={"type": kind, "title": title, "tax_id": tax_id},
        order_extras={"invoice": {"type": kind, "title": title, "status": "待开具"}},
    )


# ---------- 安装预约 ----------


def open_slots(deps: TurnDeps) -> list[tuple[date, str]]:
    rule = deps.policy.installation
    now = deps.local(deps.now)
    earliest = now + timedelta(hours=rule.min_lead_hours)
    out = []
    for d in range(rule.days_ahead + 1):
        day = (now + timedelta(days=d)).date()
        for slot in rule.slots:
            hour, minute = int(slot[:2]), int(slot[3:5])
            start = datetime.combine(day, time(hour, minute), now.tzinfo)
            if start >= earliest:
                out.append((day, slot))
    return out


def _parse_day(text: str, today: date) -> date | None:
    text = text.strip()
    if not text:
        return None
    for word, delta in (("今天", 0), ("明天", 1), ("后天", 2)):
        if word in text:
            return today + timedelta(days=delta)
    m = re.search(r"(?:(\d{4})[-/年])?(\d{1,2})[-/月](\d{1,2})", text)
    if not m:
        return None
    year = int(m.group(1) or today.year)
    try:
        return date(year, int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


_PARTS = {"上午": (0, 12), "中午": (11, 14), "下午": (12, 18), "晚上": (17, 24)}


def _chosen(deps: TurnDeps, args: InstallationArgs) -> tuple[date | None, str | None]:
    """The day and slot the shopper chose — only as far as the shopper said them."""
    said = " ".join(deps.said)
    today = deps.local(deps.now).date()
    day = _parse_day(args.date, today)
    relative = any(w in said for w in ("今天", "明天", "后天"))
    if day is None or not (relative or re.search(rf"(?<!\d){day.day}(?!\d)", said)):
        return None, None
    wanted = args.slot
    for slot in deps.policy.installation.slots:
        start = int(slot[:2])
        if slot[:5] in wanted and (slot[:5] in said or str(start) in said):
            return day, slot
        for word, (lo, hi) in _PARTS.items():
            if word in said and lo <= start < hi:
                return day, slot
    return day, None


async def schedule_installation(deps: TurnDeps, args: InstallationArgs) -> ToolResult:
    order, problem = await owned_order(deps, args.order_id)
    if order is None:
        return problem
    decision = await ruled.judge(deps, "installation", order)
    if stop := ruled.stopped(deps, decision, order, "预约安装"):
        return stop
    rule = deps.policy.installation
    products = await order_products(deps, order.lines)
    lines = [
        ln
        for ln in order.lines
        if (p := products.get(ln.product_id)) and p.category in rule.categories
    ]
    if not lines:
        verdict = deny("installation.categories", "这个订单里没有需要预约安装的商品")
        return denied(verdict, "预约安装", order)
    if order.status.value in ("待付款", "已取消", "售后中"):
        verdict = deny("installation.states", f"订单{order.status.value}，不能预约安装")
        return denied(verdict, "预约安装", order)
    if ask := ruled.asked(decision, order):
        return ask
    slots = open_slots(deps)
    day, slot = _chosen(deps, args)
    if day is None or slot is None or (day, slot) not in slots:
        listing = "；".join(f"{d.strftime('%m月%d日')} {s}" for d, s in slots[:9])
        return ToolResult(
            True,
            f"可约时间：{listing}",
            {"order_id": order.id, "asks": "details"},
            f"订单 {order.id} 的{lines[0].title}可以预约这些时间上门安装：{listing}。请问您选哪个时间？",
        )
    item = items_text(lines)
    when_text = f"{day.strftime('%m月%d日')} {slot}"
    previous = order.extras.get("installation") or {}
    verb = "改约到" if previous.get("date") else "预约"
    return propose(
        deps,
        "schedule_installation",
        InstallationArgs(order_id=order.id, date=day.isoformat(), slot=slot),
        order=order,
        summary=f"订单 {order.id}（{item}）{verb} {when_text} 上门安装",
        verdict=allow("installation.slots", "时间在可约范围内"),
        done=f"已为您{verb} {when_text} 上门安装，师傅会提前电话联系您。",
        kind="installation",
        status="已预约",
        detail={"date": day.isoformat(), "slot": slot},
        order_extras={
            "installation": {
                "required": True,
                "status": "已预约",
                "date": day.isoformat(),
                "slot": slot,
            }
        },
    )


SERVICE_TOOLS = (
    typed(
        "urge_shipment",
        "顾客催发货时用：登记催发货并说明发货承诺时间。",
        urge_shipment,
        mutating=True,
        confirm=False,
    ),
    typed(
        "price_protection",
        "价保：商品降价后申请退差价（提交后需顾客确认）。",
        price_protection,
        mutating=True,
    ),
    typed(
        "list_coupons",
        "列出本店可领的优惠券和顾客已有的券。",
        list_coupons,
        answer_hint="，说出券的名称和满减金额",
    ),
    typed(
        "apply_coupon",
        "帮顾客领取一张店铺优惠券（提交后需顾客确认）。",
        apply_coupon,
        mutating=True,
    ),
    typed(
        "check_subsidy",
        "查询商品能不能用国补（国家以旧换新补贴）、补贴多少。",
        check_subsidy,
        answer_hint="，说出能否补贴、补贴金额，并说明以当地政策为准",
    ),
    typed(
        "recommend_size",
        "按商品尺码表推荐尺码：对照顾客平时穿的尺码，或顾客自己说的身体尺寸（从顾客原话里读）。",
        recommend_size,
        answer_hint="，说出推荐的尺码和理由（偏大/偏小）",
    ),
    typed(
        "request_invoice",
        "为订单申请开发票：电子普通发票或增值税专用发票（提交后需顾客确认）。",
        request_invoice,
        mutating=True,
    ),
    typed(
        "schedule_installation",
        "为订单里需要安装的大件商品预约或改约上门安装（提交后需顾客确认）。",
        schedule_installation,
        mutating=True,
    ),
)
