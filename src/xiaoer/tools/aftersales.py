"""After-sales tools: cancel_order, change_address, request_refund, request_return,
request_exchange, offer_retention.

Each one checks ownership and the shop's policy and returns a *proposal* (never a change): the
action desk asks the shopper to confirm and runs the tool again at execution time. A policy
"no" comes back as a canned reply with the reason and what the shopper can do instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from xiaoer.commerce.search import named_value, strip_unit
from xiaoer.domain.models import Address, Order, OrderLine, OrderStatus, Product, Sku
from xiaoer.domain.money import parse_yuan, yuan
from xiaoer.knowledge.text import CJK
from xiaoer.policy import rules
from xiaoer.policy.evaluate import Decision
from xiaoer.policy.ruleset import EVIDENCE
from xiaoer.policy.verdict import Verdict
from xiaoer.tools import ruled
from xiaoer.tools.base import ToolResult, denied, propose, typed
from xiaoer.tools.deps import TurnDeps
from xiaoer.tools.format import options_text
from xiaoer.tools.meant import (
    ITEM,
    REASON,
    Reason,
    ReasonArgs,
    items_text,
    pick_lines,
    products_of,
    texts,
    which_item,
)
from xiaoer.tools.orders import PHONE_SHAPED, OrderArgs, owned_order
from xiaoer.tools.retention import maybe_retain, offer_retention


class CancelArgs(ReasonArgs):
    skip_retention: SkipJsonSchema[bool] = False
    """Set in the stored arguments once the retention offer was made or passed over."""


class AddressArgs(OrderArgs):
    address: str = Field("", description="顾客给的新地址、收货人、电话原文")


class RefundArgs(CancelArgs):
    amount_yuan: str = Field("", description="部分退款金额（元），全额退不填")
    item: SkipJsonSchema[str] = ""
    """The item a refund of one item's share is for (set by code, when a shop rule says so)."""


class ReturnArgs(CancelArgs):
    item: str = Field("", description=ITEM)


class ExchangeArgs(OrderArgs):
    to: str = Field("", description="要换成的规格，照顾客原话填写")
    reason: Reason = Field("", description=REASON)
    item: str = Field("", description=ITEM)


# ---------- cancel ----------


async def cancel_order(deps: TurnDeps, args: CancelArgs) -> ToolResult:
    order, problem = await owned_order(deps, args.order_id)
    if order is None:
        return problem
    reason = args.reason
    decision = await ruled.judge(deps, "cancel", order, texts(deps, reason, order))
    if stop := ruled.stopped(deps, decision, order, "取消"):
        return stop
    verdict = rules.check_cancel(deps.policy, order, reason=reason, granted=decision.granted)
    if not verdict.allowed:
        return denied(verdict, "取消", order)
    if ask := ruled.asked(decision, order):
        return ask
    if not args.skip_retention:
        retained = await maybe_retain(
            deps, order, reason, "cancel_order", {"order_id": order.id}, decided=decision.offer
        )
        if retained:
            return retained
    paid = order.pay_fen if order.status != OrderStatus.PENDING_PAYMENT else 0
    timing = deps.policy.refund.timing
    refund = f"，实付{yuan(paid)}原路退回（{timing}）" if paid else ""
    return propose(
        deps,
        "cancel_order",
        CancelArgs(order_id=order.id, reason=reason, skip_retention=True),
        order=order,
        summary=f"取消订单 {order.id}（{items_text(order.lines)}）{refund}",
        verdict=verdict,
        done=f"已为您取消订单 {order.id}{refund}。",
        kind="cancel",
        status="已退款" if paid else "已关闭",
        amount_fen=paid,
        detail={"reason": reason},
        order_status=OrderStatus.CANCELLED,
        order_extras={"cancel_reason": reason or "顾客申请取消"},
    )


# ---------- address ----------

_PROVINCE = re.compile(r"^(北京市|天津市|上海市|重庆市|.{2,3}?(?:省|自治区|特别行政区))")
_CITY = re.compile(r"^(.{2,8}?(?:市|自治州|地区|盟))")
_DISTRICT = re.compile(r"^(.{1,8}?(?:区|县|市|旗))")
_NAME = re.compile(r"^[\u4e00-\u9fff·]{2,5}$")
_REGIONS = re.compile(
    "北京|天津|上海|重庆|河北|山西|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|湖南"
    "|广东|海南|四川|贵州|云南|陕西|甘肃|青海|台湾|内蒙古|广西|西藏|宁夏|新疆|香港|澳门"
)
"""China's province-level regions: where a written address starts, whatever is said before it."""
_LEAD = re.compile(r"^.*?(?:改到|改成|改为|寄到|送到|地址是|地址为|[:：])\s*")
"""What a shopper says before an address that names no province ("改到昆明市…")."""
_NUMBER = re.compile(r"[0-9０-９一二三四五六七八九十百]")


STREET_WORD = re.compile(
    r"[路街道巷弄里号村镇乡屯组栋幢楼室座]|胡同|小区|大厦|单元|公寓|花园|家园|广场|中心|园区|新村"
    r"|[苑园院府城湾庭居坊]"
)
"""Words of a street-level address: without one, a place is no address to send a parcel to."""


def parse_address(text: str, old: Address) -> Address | None:
    """A Chinese address in free text ("省市区 详细地址，姓名，手机号"), missing parts filled from
    the old address; None when there is no street-level detail."""
    phone = m.group(0) if (m := PHONE_SHAPED.search(text)) else old.phone
    rest = PHONE_SHAPED.sub(" ", text)
    name = old.name
    parts = [p.strip() for p in re.split(r"[，,；;\n]+", rest) if p.strip()]
    place = []
    for part in parts:
        if re.fullmatch(r"(手机号?|电话|号码|收货人|姓名)*(不变|同上|一样|没变)?", part):
            continue
        if _NAME.match(part) and not re.search(r"[省市区县路街号楼室栋幢座]", part):
            name = part
        else:
            place.append(part)
    where = re.sub(r"\s+", "", "".join(place))
    # a question, or the order's number, is the shopper's message, not a place (seen: the whole
    # of "SO… 还没发货吧？帮我改寄到浦东的家里" proposed as the new address, and confirmed)
    if re.search(r"[?？]", where) or re.search(r"[A-Za-z]{1,4}\d{6,}|\d{8,}", where):
        return None
    m = _REGIONS.search(where)
    if m and not re.search(
        r"[省市区县路街道号]", where[: m.start()]
    ):  # not "四川中路" after 黄浦区
        where = where[m.start() :]
    else:
        where = _LEAD.sub("", where, count=1)
    province = city = district = ""
    if m := _PROVINCE.match(where):
        province, where = m.group(1), where[m.end() :]
    if province in ("北京市", "天津市", "上海市", "重庆市"):
        city = province
        where = where.removeprefix(province)
    elif m := _CITY.match(where):
        city, where = m.group(1), where[m.end() :]
    if m := _DISTRICT.match(where):
        district, where = m.group(1), where[m.end() :]
    # a street, building or village is named, in Chinese, with a number for the door (seen taken
    # for one: "leave at door", "北京我爸妈家", which was then confirmed and used up the order's
    # one change, and "浦东的家里")
    if (
        len(where) < 3
        or not CJK.search(where)
        or not STREET_WORD.search(where)
        or not _NUMBER.search(where)
    ):
        return None
    if not province:
        province = old.province if (not city or city == old.city) else ""
    return Address(name, phone, province, city or old.city, district, where)


async def change_address(deps: TurnDeps, args: AddressArgs) -> ToolResult:
    order, problem = await owned_order(deps, args.order_id)
    if order is None:
        return problem
    decision = await ruled.judge(deps, "address", order)
    if stop := ruled.stopped(deps, decision, order, "改地址"):
        return stop
    done_before = len(
        await deps.commerce.records_for(deps.shopper.id, order_id=order.id, kind="address_change")
    )
    verdict = rules.check_address_change(deps.policy, order, done_before)
    if not verdict.allowed:
        return denied(verdict, "改地址", order)
    if ask := ruled.asked(decision, order):
        return ask
    raw = args.address
    address = parse_address(raw, order.address) if raw else None
    said = address is not None and deps.shopper_said(address.detail[:6])
    if address is None or not said:
        return ToolResult(
            True,
            "顾客还没有给出新地址，需要请顾客提供。",
            {"order_id": order.id, "asks": "details"},
            f"好的，订单 {order.id} 还没发货，可以改。请把新的收货地址（省市区 + 详细地址）、"
            "收货人和手机号发给我。",
        )
    warning = rules.subsidy_region_warning(deps.policy, order, address.province)
    line = f"{address.one_line()}（{address.name} {address.phone}）"
    return propose(
        deps,
        "change_address",
        AddressArgs(order_id=order.id, address=raw),
        order=order,
        summary=f"把订单 {order.id} 的收货地址改为：{line}" + (f"\n{warning}" if warning else ""),
        verdict=verdict,
        done=f"已把订单 {order.id} 的收货地址改为：{line}。",
        kind="address_change",
        status="已修改",
        detail={"from": order.address.one_line(), "to": address.one_line()},
        address=address,
    )


# ---------- refund / return / exchange ----------


def _said_amount(deps: TurnDeps, amount_yuan: str) -> int | None:
    """A partial refund amount the shopper asked for, in 分; None when they named none."""
    if not amount_yuan:
        return None
    try:
        amount = parse_yuan(amount_yuan)
    except ValueError:
        return None
    # an amount only the model thought of is not the shopper's request
    return amount if deps.shopper_said(yuan(amount).lstrip("¥")) else None


async def request_refund(deps: TurnDeps, args: RefundArgs) -> ToolResult:
    order, problem = await owned_order(deps, args.order_id)
    if order is None:
        return problem
    reason = args.reason
    said = texts(deps, reason, order)
    lines = pick_lines(order, args.item, deps.said)
    decision = await ruled.judge(deps, "refund", order, said, lines=lines)
    if stop := ruled.stopped(deps, decision, order, "退款"):
        return stop
    amount_arg = _said_amount(deps, args.amount_yuan)
    for_item = decision.granted is not None and decision.refund == "item"
    if for_item and lines is None:
        return which_item(order)
    if for_item and lines is not None:
        amount_arg = rules.line_share(order, lines)  # the paid share of the named items
    plan = rules.check_refund(
        deps.policy, order, said, amount_fen=amount_arg, granted=decision.granted
    )
    if not plan.verdict.allowed:
        return denied(plan.verdict, "退款", order)
    if ask := ruled.asked(decision, order):
        return ask
    unshipped = order.status in rules.UNSHIPPED
    if unshipped and not args.skip_retention:
        retained = await maybe_retain(
            deps, order, reason, "request_refund", {"order_id": order.id}, decided=decision.offer
        )
        if retained:
            return retained
    stored = RefundArgs(
        order_id=order.id,
        reason=reason,
        amount_yuan=yuan(plan.amount_fen).lstrip("¥") if amount_arg and not for_item else "",
        item=lines[0].title if for_item and lines else "",
        skip_retention=True,
    )
    return _refund_proposal(deps, order, stored, plan, decision, lines if for_item else None)


def _refund_proposal(
    deps: TurnDeps,
    order: Order,
    args: RefundArgs,
    plan: rules.Money,
    decision: Decision,
    lines: Sequence[OrderLine] | None,
) -> ToolResult:
    notes = []
    if order.extras.get("national_subsidy"):
        notes.append("国补订单按补贴后的实付金额退款，补贴资格由平台按当地政策退回或作废")
    if order.extras.get("coupon"):
        notes.append("使用的店铺券按平台规则退回或作废")
    note = ("（" + "；".join(notes) + "）") if notes else ""
    amount = plan.amount_fen
    unshipped = order.status in rules.UNSHIPPED
    close = "，订单关闭不再发货" if unshipped else ""
    approval = plan.verdict.needs_approval
    what = f"订单 {order.id} 的 {items_text(lines)}" if lines else f"订单 {order.id}"
    extra, record = ruled.compensation(decision)
    return propose(
        deps,
        "request_refund",
        args,
        order=order,
        summary=f"{what} 申请仅退款 {yuan(amount)}{close}{note}"
        + ("。金额超过自动退款额度，提交后需商家审核" if approval else "")
        + (f"。{extra}" if extra else ""),
        verdict=plan.verdict,
        done=f"已为您退款 {yuan(amount)}，原路退回（{deps.policy.refund.timing}）{close}。{extra}",
        kind="refund",
        status="已退款",
        amount_fen=amount,
        detail={"reason": args.reason, "type": "仅退款", **record},
        order_status=OrderStatus.CANCELLED if unshipped else OrderStatus.AFTER_SALE,
        order_extras={
            "after_sale": {
                "type": "仅退款",
                "reason": args.reason,
                "status": "已退款",
                "refund_fen": amount,
                **record,
            }
        },
    )


def fault_asked(excluded: Verdict, order: Order) -> ToolResult:
    """The goods are used or opened as one of the shop's exclusions says, and only the reading
    says they are faulty: the exclusion, and a question for what the fault is, with a photo or
    video (the shopper's words then decide, as `rules.fault_unshown` reads them)."""
    refusal = denied(excluded, "退货", order)
    return ToolResult(
        True,
        f"{refusal.text}；顾客说的质量问题还没说清具体是什么、也没有照片或视频，先请顾客说明",
        {"order_id": order.id, "asks": "details", "verdict": excluded.as_dict()},
        f"{refusal.reply}如果商品有质量问题，请具体说说是什么问题，并拍照片或视频发给我们，"
        "核实后按质量问题给您办理退货。",
    )


RETURN_ADDRESS = "退货地址以订单页「售后详情」显示为准"


async def request_return(deps: TurnDeps, args: ReturnArgs) -> ToolResult:
    order, problem = await owned_order(deps, args.order_id)
    if order is None:
        return problem
    reason = args.reason
    lines = pick_lines(order, args.item, deps.said)
    if lines is None:
        return which_item(order)
    products = await products_of(deps, lines)
    said = texts(deps, reason, order)
    decision = await ruled.judge(deps, "return", order, said, lines=lines)
    if stop := ruled.stopped(deps, decision, order, "退货"):
        return stop
    now = deps.local(deps.now)
    plan = rules.check_return(
        deps.policy, order, lines, products, said, now, granted=decision.granted
    )
    if not plan.verdict.allowed:
        return denied(plan.verdict, "退货", order)
    if decision.granted is None and rules.fault_unshown(deps.policy, said, EVIDENCE):
        plain = rules.check_return(
            deps.policy, order, lines, products, rules.Said.of(said, False), now
        )
        if plain.verdict.rule == "returns.exclusions":
            return fault_asked(plain.verdict, order)
    if ask := ruled.asked(decision, order):
        return ask
    if not args.skip_retention:
        retained = await maybe_retain(
            deps, order, reason, "request_return", {"order_id": order.id, "item": args.item},
            decided=decision.offer, basis_fen=plan.amount_fen,
        )  # fmt: skip
        if retained:
            return retained
    quality = rules.is_quality(deps.policy, said)
    shipping = rules.return_shipping_note(deps.policy, order, lines, products, quality)
    extra, record = ruled.compensation(decision)
    shipping += extra
    promise = deps.policy.returns
    amount = plan.amount_fen
    items = items_text(lines)
    return propose(
        deps,
        "request_return",
        ReturnArgs(order_id=order.id, reason=reason, item=args.item, skip_retention=True),
        order=order,
        summary=f"订单 {order.id} 的 {items} 申请退货退款，预计退款 {yuan(amount)}"
        f"（验货通过后原路退回）。{shipping}",
        verdict=plan.verdict,
        done=(
            f"退货申请已提交：{items}，预计退款 {yuan(amount)}。"
            f"请在 {promise.send_back_days} 天内寄回并在订单页填写退货单号（{RETURN_ADDRESS}）；"
            f"仓库签收后 {promise.inspect_hours} 小时内验货，通过后原路退款。{shipping}"
        ),
        kind="return",
        status="待买家寄回",
        amount_fen=amount,
        detail={
            "reason": reason,
            "skus": [ln.sku_id for ln in lines],
            "quality": quality,
            **record,
        },
        order_status=OrderStatus.AFTER_SALE,
        order_extras={
            "after_sale": {
                "type": "退货退款",
                "reason": reason,
                "status": "待买家寄回",
                "refund_fen": amount,
                **record,
            }
        },
    )


def option_values(product: Product) -> dict[str, set[str]]:
    """Each option of the product (its own names, as the catalogue has them) and its values."""
    values: dict[str, set[str]] = {}
    for sku in product.skus:
        for k, v in sku.options.items():
            values.setdefault(k, set()).add(v)
    return values


RELATIVE_SIZE = re.compile(r"([大小])\s?([一二两12])\s?个?[码号]")
"""A size said against the one bought: 大一码, 小一号, 大两个码."""
NUMBER_SIZE = re.compile(r"\d{1,3}(?:\.5)?")
LETTER_SIZE = re.compile(r"(\d)?(X{0,3})([SML])")
"""A letter size: small, medium or large, with as many X's (or a digit and one X) as it is
extra-small or extra-large."""


def size_rank(value: str) -> float | None:
    """Where a size stands among sizes: a number as itself, a letter size in its order (each X
    one step further from medium, a digit before the X as that many X's); None for anything else
    (均码, 165/88A)."""
    v = value.strip().upper()
    if NUMBER_SIZE.fullmatch(v):
        return float(v)
    m = LETTER_SIZE.fullmatch(v)
    if m is None:
        return None
    digit, xs, letter = m.groups()
    away = int(digit or len(xs))
    side = "SML".index(letter) - 1  # small -1, medium 0, large 1
    if (digit and len(xs) != 1) or (side == 0 and away):  # a digit alone, an X on medium
        return None
    return float(side * (1 + away))


def _stepped(line: OrderLine, values: dict[str, set[str]], source: str) -> tuple[str, str] | None:
    """The size option and its value that many sizes up or down from the line's (大一码: the next
    larger of the product's own sizes), or None: no step said, no one option made of sizes, or
    no such size."""
    said = RELATIVE_SIZE.findall(source)  # the last one said: "大一码了，换小一码"
    sized = [k for k, vs in values.items() if all(size_rank(v) is not None for v in vs)]
    if not said or len(sized) != 1 or sized[0] not in line.options:
        return None
    way, count = said[-1]
    key = sized[0]
    ordered = sorted(values[key], key=lambda v: size_rank(v) or 0.0)  # all ranked: see `sized`
    if line.options[key] not in ordered:
        return None
    step = 1 if count in "一1" else 2
    i = ordered.index(line.options[key]) + (step if way == "大" else -step)
    return (key, ordered[i]) if 0 <= i < len(ordered) else None


def exchange_target(line: OrderLine, product: Product, to: str, said: Sequence[str]) -> Sku | None:
    """The SKU of the same product the shopper wants: the line's options with each option value
    they named (resolved against the product's own values, as whole tokens), or with its size a
    step up or down when they said so (大一码) and named no size; the same SKU when they named
    none (a like-for-like replacement)."""
    wanted = dict(line.options)
    source = to or " ".join(said[-2:])
    values = option_values(product)
    for key, options in values.items():
        named = named_value(source, options - {line.options.get(key, "")})
        if named:
            wanted[key] = named
    stepped = _stepped(line, values, source)
    if stepped is not None and wanted[stepped[0]] == line.options[stepped[0]]:  # none named
        wanted[stepped[0]] = stepped[1]
    return next((s for s in product.skus if s.options == wanted), None)


async def request_exchange(deps: TurnDeps, args: ExchangeArgs) -> ToolResult:
    order, problem = await owned_order(deps, args.order_id)
    if order is None:
        return problem
    lines = pick_lines(order, args.item, deps.said)
    if lines is None or len(lines) != 1:
        return which_item(order)
    line = lines[0]
    said = texts(deps, args.reason, order)
    decision = await ruled.judge(deps, "exchange", order, said, lines=lines)
    if stop := ruled.stopped(deps, decision, order, "换货"):
        return stop
    product = await deps.commerce.get_product(line.product_id)
    to = args.to
    if to and not deps.shopper_said(strip_unit(to)):
        to = ""  # what to exchange to must come from the shopper
    target = exchange_target(line, product, to, deps.said) if product else None
    done_before = len(
        await deps.commerce.records_for(deps.shopper.id, order_id=order.id, kind="exchange")
    )
    now, granted = deps.local(deps.now), decision.granted
    # the order and the shop's terms first: no question about the option for an exchange that
    # cannot be (an order not delivered, a shop that exchanges only faulty goods)
    early = rules.check_exchange(deps.policy, order, line, None, said, now, done_before, granted)
    if not early.allowed and early.rule != "exchange.target":
        return denied(early, "换货", order)
    quality = rules.is_quality(deps.policy, said)
    if target is not None and target.id == line.sku_id and not quality:
        names = "或".join(line.options) or "规格"
        return ToolResult(
            True,
            f"顾客还没说要换成什么{names}。",
            {"order_id": order.id, "asks": "details"},
            f"好的，订单 {order.id} 的 {line.title}（{options_text(line.options)}）想换成什么{names}呢？",
        )
    verdict = rules.check_exchange(
        deps.policy, order, line, target, said, now, done_before, granted
    )
    if not verdict.allowed:
        return denied(verdict, "换货", order)
    if ask := ruled.asked(decision, order):
        return ask
    assert target is not None
    args = ExchangeArgs(order_id=order.id, reason=args.reason, item=line.title, to=to)
    return _exchange_proposal(deps, order, line, target, product, args, verdict, decision, quality)


def _exchange_proposal(
    deps: TurnDeps,
    order: Order,
    line: OrderLine,
    target: Sku,
    product: Product | None,
    args: ExchangeArgs,
    verdict: Verdict,
    decision: Decision,
    quality: bool,
) -> ToolResult:
    new = options_text(target.options)
    old = options_text(line.options)
    what = (
        f"{line.title}（{old}）检测确认后换同型号新品"
        if target.id == line.sku_id
        else f"{line.title} 从 {old} 换成 {new}"
    )
    shipping = rules.return_shipping_note(
        deps.policy, order, [line], {product.id: product} if product else {}, quality
    )
    extra, record = ruled.compensation(decision)
    shipping += extra
    return propose(
        deps,
        "request_exchange",
        args,
        order=order,
        summary=f"订单 {order.id}：{what}。{shipping}",
        verdict=verdict,
        done=(
            f"换货申请已提交：{what}。请在 {deps.policy.returns.send_back_days} 天内寄回原商品"
            f"并在订单页填写退货单号（{RETURN_ADDRESS}）；"
            f"验货通过后 {deps.policy.exchange.reship_hours} 小时内发出新商品。{shipping}"
        ),
        kind="exchange",
        status="待买家寄回",
        detail={
            "from": line.sku_id,
            "to": target.id,
            "reason": args.reason,
            "quality": quality,
            **record,
        },
        order_status=OrderStatus.AFTER_SALE,
        order_extras={
            "after_sale": {
                "type": "换货",
                "reason": args.reason,
                "status": "待买家寄回",
                "exchange_to": target.id,
                **record,
            }
        },
    )


AFTERSALES_TOOLS = (
    typed(
        "cancel_order",
        "取消当前顾客未发货的订单（提交后需顾客确认）。",
        cancel_order,
        mutating=True,
    ),
    typed(
        "change_address",
        "修改未发货订单的收货地址（提交后需顾客确认）。",
        change_address,
        mutating=True,
    ),
    typed(
        "request_refund",
        "仅退款：未发货订单退款，或已收货但有质量问题/少发的退款（提交后需顾客确认）。",
        request_refund,
        mutating=True,
    ),
    typed(
        "request_return",
        "已签收订单申请退货退款（七天无理由或质量问题，提交后需顾客确认）。",
        request_return,
        mutating=True,
    ),
    typed(
        "request_exchange",
        "已签收订单换货：换同款的其他规格，或质量问题换新（提交后需顾客确认）。",
        request_exchange,
        mutating=True,
    ),
    typed(
        "offer_retention",
        "顾客因价格或犹豫想取消/退货时，按店铺政策给补偿挽留（提交后需顾客确认）。",
        offer_retention,
        mutating=True,
    ),
)
