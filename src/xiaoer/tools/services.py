"""Service tools: urge_shipment, price_protection, list_coupons, apply_coupon, check_subsidy,
recommend_size, request_invoice, schedule_installation.

The read-only ones answer from data (size charts, the 国补 tables, the shop's coupons); the
ones that change something return a proposal for the action desk, like the after-sales tools.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any

from xiaoer.domain.models import Change, Product
from xiaoer.domain.money import yuan
from xiaoer.llm.base import ToolSpec
from xiaoer.policy import rules, subsidy
from xiaoer.policy.verdict import allow, deny
from xiaoer.tools.aftersales import denied, items_text, proposed
from xiaoer.tools.base import Proposal, Tool, ToolResult, schema
from xiaoer.tools.catalog import resolve_product
from xiaoer.tools.deps import TurnDeps
from xiaoer.tools.orders import owned_order

# ---------- 催发货 ----------


async def urge_shipment(deps: TurnDeps, args: dict[str, Any]) -> ToolResult:
    """Records the request and tells the truth about the dispatch promise; past the promise it
    is escalated to the warehouse as overdue. Moves no money or goods, so no confirmation."""
    order, problem = await owned_order(deps, args.get("order_id"))
    if order is None:
        return problem
    if order.status.value != "待发货":
        text = f"订单 {order.id} 当前{order.status.value}，不需要催发货。"
        return ToolResult(True, text, {"order_id": order.id}, text)
    products = await _products(deps, order.lines)
    promise = rules.dispatch_promise(deps.policy, order, products)
    since = order.paid_at or order.created_at
    due = since + promise
    overdue = deps.now > due
    due_text = deps.local(due).strftime("%m月%d日 %H:%M")
    key = f"urge-{order.id}-{deps.local(deps.now).date().isoformat()}"
    record = await deps.commerce.apply(
        Change(
            key=key,
            kind="urge",
            shopper_id=deps.shopper.id,
            order_id=order.id,
            status="已升级仓库加急" if overdue else "已登记",
            detail={"promise_hours": int(promise.total_seconds() // 3600), "overdue": overdue},
        )
    )
    if overdue:
        reply = (
            f"非常抱歉，订单 {order.id} 承诺 {due_text} 前发货，已经超时了。我已把催发货升级给仓库加急处理"
            f"（登记号 {record.id}），有进展会第一时间通知您；如需取消订单也可以告诉我。"
        )
    else:
        reply = (
            f"订单 {order.id} 付款后承诺 {int(promise.total_seconds() // 3600)} 小时内发货，"
            f"最晚 {due_text} 前发出。已帮您登记催发货（登记号 {record.id}），仓库会优先安排。"
        )
    return ToolResult(True, reply, {"order_id": order.id, "overdue": overdue}, reply)


async def _products(deps: TurnDeps, lines: Any) -> dict[str, Product]:
    out: dict[str, Product] = {}
    for ln in lines:
        if ln.product_id not in out and (p := await deps.commerce.get_product(ln.product_id)):
            out[ln.product_id] = p
    return out


# ---------- 价保 ----------


async def price_protection(deps: TurnDeps, args: dict[str, Any]) -> ToolResult:
    order, problem = await owned_order(deps, args.get("order_id"))
    if order is None:
        return problem
    products = await _products(deps, order.lines)
    current = {s.id: s for p in products.values() for s in p.skus}
    plan = rules.check_price_protection(deps.policy, order, current, deps.now)
    if not plan.verdict.allowed:
        return denied(plan.verdict, "价保", order)
    amount = plan.amount_fen
    return proposed(
        Proposal(
            tool="price_protection",
            arguments={"order_id": order.id},
            order_id=order.id,
            summary=f"订单 {order.id} 申请价保，退还差价 {yuan(amount)}（原路退回）",
            verdict=plan.verdict,
            change=Change(
                key="",
                kind="price_protection",
                shopper_id=deps.shopper.id,
                order_id=order.id,
                amount_fen=amount,
                status="已退差价",
            ),
            done=f"价保已办理，差价 {yuan(amount)} 原路退回。",
            amount_fen=amount,
        )
    )


# ---------- 优惠券 ----------


async def list_coupons(deps: TurnDeps, args: dict[str, Any]) -> ToolResult:
    coupons = deps.policy.coupons
    mine = await deps.commerce.records_for(deps.shopper.id, kind="coupon")
    retention = await deps.commerce.records_for(deps.shopper.id, kind="retention")
    claimed = {r.detail.get("coupon_id") for r in mine}
    if not coupons and not mine and not retention:
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
    return ToolResult(
        True,
        "本店优惠券（每单限用一张，结算时自动选最划算的）：\n" + "\n".join(rows),
        {"coupon_ids": [c.id for c in coupons]},
    )


async def apply_coupon(deps: TurnDeps, args: dict[str, Any]) -> ToolResult:
    ref = str(args.get("coupon") or "").strip()
    coupon = next(
        (c for c in deps.policy.coupons if ref and (ref.upper() == c.id or ref in c.name)), None
    )
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
    return proposed(
        Proposal(
            tool="apply_coupon",
            arguments={"coupon": coupon.id},
            order_id=None,
            summary=f"领取{coupon.name}（满{yuan(coupon.min_spend)}减{yuan(coupon.amount)}）到您的账户",
            verdict=allow("coupons", "可以领取"),
            change=Change(
                key="",
                kind="coupon",
                shopper_id=deps.shopper.id,
                amount_fen=coupon.amount,
                status="未使用",
                detail={"coupon_id": coupon.id, "name": coupon.name},
            ),
            done=f"{coupon.name}已放入您的账户，下单满{yuan(coupon.min_spend)}结算时自动抵扣。",
            amount_fen=coupon.amount,
        )
    )


# ---------- 国补 ----------


async def check_subsidy(deps: TurnDeps, args: dict[str, Any]) -> ToolResult:
    if not deps.policy.subsidy.enabled:
        text = "本店商品不参与国家以旧换新补贴（国补）。"
        return ToolResult(True, text, {}, None)
    ref = str(args.get("product") or "").strip()
    product = await resolve_product(deps, ref) if ref else None
    if product is None:
        return ToolResult(False, f"没有找到商品“{ref}”。先用 search_products 找到商品再查国补。")
    province = str(args.get("province") or "").strip()
    if province and not deps.shopper_said(province.removesuffix("省").removesuffix("市")):
        province = ""
    if not province and deps.shopper.addresses:
        province = deps.shopper.addresses[0].province
    category = str(product.attributes.get("国补品类") or product.category)
    grade = str(product.attributes.get("能效等级") or "")
    on = deps.local(deps.now).date()
    prices = sorted({s.price_fen for s in product.skus})
    picked = [p for p in prices if deps.shopper_said(str(p // 100))] or prices[:1] + prices[-1:]
    rows = []
    for price in dict.fromkeys(picked):
        q = subsidy.quote(category, grade, price, province, on, deps.policy.subsidy)
        rows.append(q.text(price))
    where = f"按收货地区 {province}" if province else "收货地区未知，按全国政策"
    text = f"{product.title}（{category}，{grade or '无能效等级'}），{where}：\n" + "\n".join(rows)
    return ToolResult(True, text, {"product_id": product.id, "province": province})


# ---------- 尺码推荐 ----------


def _number(value: Any) -> float | None:
    m = re.search(r"\d+(?:\.\d+)?", str(value or ""))
    return float(m.group(0)) if m else None


def _range(text: str) -> tuple[float, float] | None:
    nums = [float(x) for x in re.findall(r"\d+(?:\.\d+)?", str(text))]
    return (nums[0], nums[-1]) if nums else None


def size_advice(product: Product, foot_cm: float | None, usual: str, height: float | None,
                weight: float | None) -> str | None:  # fmt: skip
    """The size to order from the product's size chart and its 尺码偏差, or None."""
    chart = product.attributes.get("尺码表")
    if not isinstance(chart, dict) or not chart:
        return None
    sizes = list(chart)
    bias = str(product.attributes.get("尺码偏差") or "标准")
    base: str | None = None
    basis = ""
    if foot_cm:
        for size in sizes:
            length = _number(chart[size].get("脚长")) if isinstance(chart[size], dict) else None
            if length is not None and length >= foot_cm - 0.01:
                base, basis = size, f"脚长 {foot_cm:g}cm 对应尺码表 {size} 码"
                break
    if base is None and usual and usual in sizes:
        base, basis = usual, f"平时穿 {usual}"
    if base is None and (height or weight):
        for size in sizes:
            row = chart[size] if isinstance(chart[size], dict) else {}
            h, w = _range(row.get("身高", "")), _range(row.get("体重", ""))
            fits_h = height is None or (h is not None and height <= h[1])
            fits_w = weight is None or (w is not None and weight <= w[1])
            if fits_h and fits_w:
                base, basis = size, "按身高体重对照尺码表"
                break
    if base is None:
        return None
    i = sizes.index(base)
    if "偏小" in bias:
        pick = sizes[min(i + 1, len(sizes) - 1)]
        return f"{basis}；这款{bias}，建议拍大一码：{pick}。"
    if "偏大" in bias:
        smaller = sizes[max(i - 1, 0)]
        return f"{basis}；这款{bias}，建议拍 {base}，脚瘦或喜欢合身可以拍 {smaller}。"
    return f"{basis}；这款尺码标准，建议拍 {base}。"


async def recommend_size(deps: TurnDeps, args: dict[str, Any]) -> ToolResult:
    ref = str(args.get("product") or "").strip()
    product = await resolve_product(deps, ref) if ref else None
    if product is None:
        return ToolResult(False, f"没有找到商品“{ref}”。先用 search_products 找到商品。")

    def said(name: str) -> float | None:
        value = _number(args.get(name))
        return value if value is not None and deps.shopper_said(f"{value:g}") else None

    foot = said("foot_length_cm")
    if foot and foot > 100:  # millimetres
        foot = foot / 10
    usual = str(args.get("usual_size") or "").strip().removesuffix("码")
    usual = usual if usual and deps.shopper_said(usual) else ""
    advice = size_advice(product, foot, usual, said("height_cm"), said("weight_kg"))
    if advice is None:
        text = f"{product.title} 需要顾客的脚长（厘米）或平时穿的尺码（服装：身高体重）才能推荐。"
        reply = f"请问您的脚长是多少厘米，或者平时穿多大码？我按{product.title}的尺码表帮您推荐。"
        return ToolResult(True, text, {"product_id": product.id}, reply)
    in_stock = [s for s in product.skus if s.stock > 0]
    text = f"{product.title}：{advice}（有货规格 {len(in_stock)} 个）"
    return ToolResult(True, text, {"product_id": product.id})


# ---------- 发票 ----------


async def request_invoice(deps: TurnDeps, args: dict[str, Any]) -> ToolResult:
    order, problem = await owned_order(deps, args.get("order_id"))
    if order is None:
        return problem
    kind = str(args.get("type") or "电子普通发票").strip()
    kind = "增值税专用发票" if "专" in kind else "电子普通发票"
    title = str(args.get("title") or "个人").strip()[:60]
    tax_id = str(args.get("tax_id") or "").strip().upper()
    if title != "个人" and not deps.shopper_said(title):
        return ToolResult(
            True,
            "顾客还没给出发票抬头。",
            {"order_id": order.id},
            "请问发票抬头是个人还是单位？单位抬头请提供单位名称和税号（统一社会信用代码）。",
        )
    verdict = rules.check_invoice(deps.policy, order, kind, title, tax_id)
    if not verdict.allowed:
        return denied(verdict, "开票", order)
    taxed = f"，税号 {tax_id}" if tax_id and title != "个人" else ""
    return proposed(
        Proposal(
            tool="request_invoice",
            arguments={"order_id": order.id, "type": kind, "title": title, "tax_id": tax_id},
            order_id=order.id,
            summary=f"为订单 {order.id} 开具{kind}，抬头：{title}{taxed}，金额为实付{yuan(order.pay_fen)}",
            verdict=verdict,
            change=Change(
                key="",
                kind="invoice",
                shopper_id=deps.shopper.id,
                order_id=order.id,
                amount_fen=order.pay_fen,
                status="待开具",
                detail={"type": kind, "title": title, "tax_id": tax_id},
                order_extras={"invoice": {"type": kind, "title": title, "status": "待开具"}},
            ),
            done=f"开票申请已提交：{kind}，抬头 {title}。"
            + (
                "审核后 7 个工作日内开具。"
                if "专用" in kind
                else "1-3 个工作日内开具，可在订单详情下载。"
            ),
        )
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


def _chosen(deps: TurnDeps, args: dict[str, Any]) -> tuple[date | None, str | None]:
    """The day and slot the shopper chose — only as far as the shopper said them."""
    said = " ".join(deps.said)
    today = deps.local(deps.now).date()
    day = _parse_day(str(args.get("date") or ""), today)
    relative = any(w in said for w in ("今天", "明天", "后天"))
    if day is None or not (relative or re.search(rf"(?<!\d){day.day}(?!\d)", said)):
        return None, None
    wanted = str(args.get("slot") or "")
    for slot in deps.policy.installation.slots:
        start = int(slot[:2])
        if slot[:5] in wanted and (slot[:5] in said or str(start) in said):
            return day, slot
        for word, (lo, hi) in _PARTS.items():
            if word in said and lo <= start < hi:
                return day, slot
    return day, None


async def schedule_installation(deps: TurnDeps, args: dict[str, Any]) -> ToolResult:
    order, problem = await owned_order(deps, args.get("order_id"))
    if order is None:
        return problem
    rule = deps.policy.installation
    products = await _products(deps, order.lines)
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
    slots = open_slots(deps)
    day, slot = _chosen(deps, args)
    if day is None or slot is None or (day, slot) not in slots:
        listing = "；".join(f"{d.strftime('%m月%d日')} {s}" for d, s in slots[:9])
        return ToolResult(
            True,
            f"可约时间：{listing}",
            {"order_id": order.id},
            f"订单 {order.id} 的{lines[0].title}可以预约这些时间上门安装：{listing}。请问您选哪个时间？",
        )
    item = items_text(lines)
    when_text = f"{day.strftime('%m月%d日')} {slot}"
    previous = order.extras.get("installation") or {}
    verb = "改约到" if previous.get("date") else "预约"
    return proposed(
        Proposal(
            tool="schedule_installation",
            arguments={"order_id": order.id, "date": day.isoformat(), "slot": slot},
            order_id=order.id,
            summary=f"订单 {order.id}（{item}）{verb} {when_text} 上门安装",
            verdict=allow("installation.slots", "时间在可约范围内"),
            change=Change(
                key="",
                kind="installation",
                shopper_id=deps.shopper.id,
                order_id=order.id,
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
            ),  # fmt: skip
            done=f"已为您{verb} {when_text} 上门安装，师傅会提前电话联系您。",
        )
    )


_ORDER = {"type": "string", "description": "订单号，照顾客给出的原样填写"}
_PRODUCT = {"type": "string", "description": "商品名称或编号"}

SERVICE_TOOLS = (
    Tool(
        ToolSpec(
            "urge_shipment",
            "顾客催发货时用：登记催发货并说明发货承诺时间。",
            schema({"order_id": _ORDER}, ["order_id"]),
        ),
        urge_shipment,
        mutating=True,
        confirm=False,
    ),
    Tool(
        ToolSpec(
            "price_protection",
            "价保：商品降价后申请退差价（提交后需顾客确认）。",
            schema({"order_id": _ORDER}, ["order_id"]),
        ),
        price_protection,
        mutating=True,
    ),
    Tool(
        ToolSpec("list_coupons", "列出本店可领的优惠券和顾客已有的券。", schema({})),
        list_coupons,
        answer_hint="，说出券的名称和满减金额",
    ),
    Tool(
        ToolSpec(
            "apply_coupon",
            "帮顾客领取一张店铺优惠券（提交后需顾客确认）。",
            schema({"coupon": {"type": "string", "description": "券的编号或名称"}}, ["coupon"]),
        ),
        apply_coupon,
        mutating=True,
    ),
    Tool(
        ToolSpec(
            "check_subsidy",
            "查询商品能不能用国补（国家以旧换新补贴）、补贴多少。",
            schema(
                {
                    "product": _PRODUCT,
                    "province": {"type": "string", "description": "收货省份，没说就不填"},
                },
                ["product"],
            ),
        ),
        check_subsidy,
        answer_hint="，说出能否补贴、补贴金额，并说明以当地政策为准",
    ),
    Tool(
        ToolSpec(
            "recommend_size",
            "按商品尺码表和顾客的脚长、平时尺码或身高体重推荐尺码。",
            schema(
                {
                    "product": _PRODUCT,
                    "foot_length_cm": {"type": "number", "description": "脚长（厘米）"},
                    "usual_size": {"type": "string", "description": "平时穿的尺码"},
                    "height_cm": {"type": "number", "description": "身高（厘米）"},
                    "weight_kg": {"type": "number", "description": "体重（公斤）"},
                },
                ["product"],
            ),
        ),
        recommend_size,
        answer_hint="，说出推荐的尺码和理由（偏大/偏小）",
    ),
    Tool(
        ToolSpec(
            "request_invoice",
            "为订单申请开发票：电子普通发票或增值税专用发票（提交后需顾客确认）。",
            schema(
                {
                    "order_id": _ORDER,
                    "type": {"type": "string", "enum": ["电子普通发票", "增值税专用发票"]},
                    "title": {"type": "string", "description": "发票抬头：个人或单位名称"},
                    "tax_id": {"type": "string", "description": "单位税号"},
                },
                ["order_id"],
            ),
        ),
        request_invoice,
        mutating=True,
    ),
    Tool(
        ToolSpec(
            "schedule_installation",
            "为空调、洗衣机、电视、热水器预约或改约上门安装（提交后需顾客确认）。",
            schema(
                {
                    "order_id": _ORDER,
                    "date": {"type": "string", "description": "日期，如 11-22 或 明天"},
                    "slot": {"type": "string", "description": "时间段，如 09:00-12:00"},
                },
                ["order_id"],
            ),
        ),
        schedule_installation,
        mutating=True,
    ),
)
