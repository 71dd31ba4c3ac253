"""After-sales tools: cancel_order, change_address, request_refund, request_return,
request_exchange, offer_retention.

Each one checks ownership and the shop's policy and returns a *proposal* (never a change): the
action desk asks the shopper to confirm and runs the tool again at execution time. A policy
"no" comes back as a canned reply with the reason and what the shopper can do instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic.json_schema import SkipJsonSchema

from xiaoer.commerce.search import named_value, strip_unit
from xiaoer.domain.models import Address, Order, OrderLine, OrderStatus, Product, Sku
from xiaoer.domain.money import parse_yuan, yuan
from xiaoer.knowledge.text import CJK, cjk_bigrams
from xiaoer.policy import rules
from xiaoer.policy.verdict import Verdict
from xiaoer.tools.base import ToolResult, propose, typed
from xiaoer.tools.deps import TurnDeps
from xiaoer.tools.format import line_text, options_text
from xiaoer.tools.orders import OrderArgs, owned_order

REASON_CHARS = 100
type Reason = Annotated[str, AfterValidator(lambda text: text[:REASON_CHARS])]
REASON = "顾客说的原因（照顾客原话）"
ITEM = "多件商品时，顾客要办理的那件商品名称，可不填"


class ReasonArgs(OrderArgs):
    reason: Reason = Field("", description=REASON)


class CancelArgs(ReasonArgs):
    skip_retention: SkipJsonSchema[bool] = False
    """Set in the stored arguments once the retention offer was made or passed over."""


class AddressArgs(OrderArgs):
    address: str = Field("", description="顾客给的新地址、收货人、电话原文")


class RefundArgs(CancelArgs):
    amount_yuan: str = Field("", description="部分退款金额（元），全额退不填")


class ReturnArgs(CancelArgs):
    item: str = Field("", description=ITEM)


class ExchangeArgs(OrderArgs):
    to: str = Field("", description="要换成的规格，照顾客原话填写")
    reason: Reason = Field("", description=REASON)
    item: str = Field("", description=ITEM)


class RetentionArgs(ReasonArgs):
    instead: SkipJsonSchema[str] = "cancel_order"
    """The tool the shopper asked for, run if they turn the offer down."""
    instead_args: SkipJsonSchema[dict[str, Any]] = Field(default_factory=dict)


def denied(verdict: Verdict, what: str, order: Order | None = None) -> ToolResult:
    """A policy "no": the model reads why; the shopper gets the reason and the way forward."""
    reason = verdict.reason
    if order:
        reason = f"订单 {order.id} " + reason.removeprefix("这个订单").removeprefix("订单")
    reply = f"抱歉，{reason}。"
    return ToolResult(
        True,
        f"不能{what}：{verdict.reason}（规则 {verdict.rule}）",
        {"verdict": verdict.as_dict()},
        reply,
    )


def texts(deps: TurnDeps, reason: str) -> rules.Said:
    """What the rules read for reasons and conditions: the shopper's own words first. A reason
    the model wrote counts only as far as the shopper said it too (the model cannot make a
    return a "quality problem" by saying so). Whether the reason is a fault with the goods is
    what the understanding step read (`TurnDeps.stated_fault`), when it read a reason."""
    said = [*deps.said, reason] if reason and deps.shopper_said(reason) else list(deps.said)
    return rules.Said.of(said, deps.stated_fault())


def items_text(lines: Sequence[OrderLine]) -> str:
    return "；".join(line_text(ln) for ln in lines)


def _bigrams(text: str) -> set[str]:
    """Chinese character bigrams plus the Latin words (three letters or more) of a text."""
    return cjk_bigrams(text) | {w.lower() for w in re.findall(r"[A-Za-z]{3,}", text)}


def pick_lines(order: Order, item: str, said: Sequence[str]) -> list[OrderLine] | None:
    """The order lines the shopper means: all of a one-line order; else the lines whose title
    shares the most Chinese bigrams with the item text (or, failing that, the shopper's latest
    words, then all of them); None if that does not single out fewer than all lines."""
    if len(order.lines) == 1:
        return list(order.lines)
    sources = [item] if item else []
    sources += [said[-1]] if said else []
    sources.append(" ".join(said))
    for source in sources:
        grams = _bigrams(source)
        scores = [
            (len(_bigrams(ln.title + options_text(ln.options)) & grams), ln) for ln in order.lines
        ]
        best = max(score for score, _ in scores)
        hits = [ln for score, ln in scores if score == best]
        if best > 0 and len(hits) < len(order.lines):
            return hits
    return None


def which_item(order: Order) -> ToolResult:
    rows = "\n".join(f"- {line_text(ln)}" for ln in order.lines)
    return ToolResult(
        True,
        f"订单 {order.id} 有多件商品，需要顾客说明是哪一件。",
        {"order_id": order.id, "asks": "item"},
        f"订单 {order.id} 里有这几件商品：\n{rows}\n请问您要办理的是哪一件？",
    )


async def products_of(deps: TurnDeps, lines: Sequence[OrderLine]) -> dict[str, Product]:
    out: dict[str, Product] = {}
    for ln in lines:
        if ln.product_id not in out and (p := await deps.commerce.get_product(ln.product_id)):
            out[ln.product_id] = p
    return out


async def maybe_retain(
    deps: TurnDeps, order: Order, reason: str, instead: str, instead_args: dict[str, Any]
) -> ToolResult | None:
    """Before a cancel or a return for price or hesitation, the shop's retention offer first."""
    verdict, offer = rules.retention_offer(
        deps.policy,
        order,
        texts(deps, reason),
        offers_on_order=deps.actions_on("offer_retention", order.id),
        offers_to_shopper=deps.actions_on(
            "offer_retention", days=deps.policy.retention.window_days
        ),
    )
    if offer is None:
        return None
    args = RetentionArgs(
        order_id=order.id, reason=reason, instead=instead, instead_args=instead_args
    )
    return _retention(deps, order, verdict, offer, args)


def _retention(
    deps: TurnDeps,
    order: Order,
    verdict: Verdict,
    offer: rules.RetentionOffer,
    args: RetentionArgs,
) -> ToolResult:
    what = offer.describe()
    keep = "订单照常发货" if order.status in rules.UNSHIPPED else "商品您继续留着用"
    instead = {"cancel_order": "取消", "request_return": "退货", "request_refund": "退款"}.get(
        args.instead, "取消"
    )
    kind = offer.offer.kind
    return propose(
        deps,
        "offer_retention",
        args,
        order=order,
        summary=f"订单 {order.id}：给您{what}作为补偿，{keep}",
        verdict=verdict,
        done=f"已为您发放{what}，{keep}。感谢您的理解和支持～",
        kind="retention",
        status="已发放" if kind != "partial_refund" else "退款中",
        amount_fen=offer.amount_fen,
        detail={"offer": kind, "describe": what, "valid_days": offer.offer.valid_days},
        ask=(
            f"理解您的顾虑～这单店铺可以给您{what}作为补偿，{keep}。\n"
            f"接受请回复「确认」；如果还是想{instead}，回复「还是{instead}」。"
        ),
    )


# ---------- cancel ----------


async def cancel_order(deps: TurnDeps, args: CancelArgs) -> ToolResult:
    order, problem = await owned_order(deps, args.order_id)
    if order is None:
        return problem
    reason = args.reason
    verdict = rules.check_cancel(deps.policy, order, reason=reason)
    if not verdict.allowed:
        return denied(verdict, "取消", order)
    if not args.skip_retention:
        retained = await maybe_retain(deps, order, reason, "cancel_order", {"order_id": order.id})
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

_PHONE = re.compile(r"1[3-9]\d{9}")
_PROVINCE = re.compile(r"^(北京市|天津市|上海市|重庆市|.{2,3}?(?:省|自治区|特别行政区))")
_CITY = re.compile(r"^(.{2,8}?(?:市|自治州|地区|盟))")
_DISTRICT = re.compile(r"^(.{1,8}?(?:区|县|市|旗))")
_NAME = re.compile(r"^[\u4e00-\u9fff·]{2,5}$")


STREET_WORD = re.compile(
    r"[路街道巷弄里号村镇乡屯组栋幢楼室座]|胡同|小区|大厦|单元|公寓|花园|家园|广场|中心|园区|新村"
    r"|[苑园院府城湾庭居坊]"
)
"""Words of a street-level address: without one, a place is no address to send a parcel to."""


def parse_address(text: str, old: Address) -> Address | None:
    """A Chinese address in free text ("省市区 详细地址，姓名，手机号"), missing parts filled from
    the old address; None when there is no street-level detail."""
    phone = m.group(0) if (m := _PHONE.search(text)) else old.phone
    rest = _PHONE.sub(" ", text)
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
    # a street, building or village is named, in Chinese (seen taken for one: "leave at door",
    # and "北京我爸妈家", which was then confirmed and used up the order's one change)
    if len(where) < 3 or not CJK.search(where) or not STREET_WORD.search(where):
        return None
    if not province:
        province = old.province if (not city or city == old.city) else ""
    return Address(name, phone, province, city or old.city, district, where)


async def change_address(deps: TurnDeps, args: AddressArgs) -> ToolResult:
    order, problem = await owned_order(deps, args.order_id)
    if order is None:
        return problem
    done_before = len(
        await deps.commerce.records_for(deps.shopper.id, order_id=order.id, kind="address_change")
    )
    verdict = rules.check_address_change(deps.policy, order, done_before)
    if not verdict.allowed:
        return denied(verdict, "改地址", order)
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


async def request_refund(deps: TurnDeps, args: RefundArgs) -> ToolResult:
    order, problem = await owned_order(deps, args.order_id)
    if order is None:
        return problem
    reason = args.reason
    amount_arg: int | None = None
    if args.amount_yuan:
        try:
            amount_arg = parse_yuan(args.amount_yuan)
        except ValueError:
            amount_arg = None
        if amount_arg is not None and not deps.shopper_said(yuan(amount_arg).lstrip("¥")):
            amount_arg = None  # an amount only the model thought of is not the shopper's request
    plan = rules.check_refund(deps.policy, order, texts(deps, reason), amount_fen=amount_arg)
    if not plan.verdict.allowed:
        return denied(plan.verdict, "退款", order)
    unshipped = order.status in rules.UNSHIPPED
    if unshipped and not args.skip_retention:
        retained = await maybe_retain(deps, order, reason, "request_refund", {"order_id": order.id})
        if retained:
            return retained
    subsidy = order.extras.get("national_subsidy")
    notes = []
    if subsidy:
        notes.append("国补订单按补贴后的实付金额退款，补贴资格由平台按当地政策退回或作废")
    if order.extras.get("coupon"):
        notes.append("使用的店铺券按平台规则退回或作废")
    note = ("（" + "；".join(notes) + "）") if notes else ""
    amount = plan.amount_fen
    close = "，订单关闭不再发货" if unshipped else ""
    approval = plan.verdict.needs_approval
    return propose(
        deps,
        "request_refund",
        RefundArgs(
            order_id=order.id,
            reason=reason,
            amount_yuan=yuan(amount).lstrip("¥") if amount_arg else "",
            skip_retention=True,
        ),
        order=order,
        summary=f"订单 {order.id} 申请仅退款 {yuan(amount)}{close}{note}"
        + ("。金额超过自动退款额度，提交后需商家审核" if approval else ""),
        verdict=plan.verdict,
        done=f"已为您退款 {yuan(amount)}，原路退回（{deps.policy.refund.timing}）{close}。",
        kind="refund",
        status="已退款",
        amount_fen=amount,
        detail={"reason": reason, "type": "仅退款"},
        order_status=OrderStatus.CANCELLED if unshipped else OrderStatus.AFTER_SALE,
        order_extras={
            "after_sale": {
                "type": "仅退款",
                "reason": reason,
                "status": "已退款",
                "refund_fen": amount,
            }
        },
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
    said = texts(deps, reason)
    plan = rules.check_return(deps.policy, order, lines, products, said, deps.now)
    if not plan.verdict.allowed:
        return denied(plan.verdict, "退货", order)
    if not args.skip_retention:
        retained = await maybe_retain(
            deps, order, reason, "request_return", {"order_id": order.id, "item": args.item}
        )
        if retained:
            return retained
    quality = rules.is_quality(deps.policy, said)
    shipping = rules.return_shipping_note(deps.policy, order, lines, products, quality)
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
        detail={"reason": reason, "skus": [ln.sku_id for ln in lines], "quality": quality},
        order_status=OrderStatus.AFTER_SALE,
        order_extras={
            "after_sale": {
                "type": "退货退款",
                "reason": reason,
                "status": "待买家寄回",
                "refund_fen": amount,
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


def exchange_target(line: OrderLine, product: Product, to: str, said: Sequence[str]) -> Sku | None:
    """The SKU of the same product the shopper wants: the line's options with each option value
    they named (resolved against the product's own values, as whole tokens); the same SKU when
    they named none (a like-for-like replacement)."""
    wanted = dict(line.options)
    source = to or " ".join(said[-2:])
    for key, options in option_values(product).items():
        named = named_value(source, options - {line.options.get(key, "")})
        if named:
            wanted[key] = named
    return next((s for s in product.skus if s.options == wanted), None)


async def request_exchange(deps: TurnDeps, args: ExchangeArgs) -> ToolResult:
    order, problem = await owned_order(deps, args.order_id)
    if order is None:
        return problem
    reason = args.reason
    lines = pick_lines(order, args.item, deps.said)
    if lines is None or len(lines) != 1:
        return which_item(order)
    line = lines[0]
    product = await deps.commerce.get_product(line.product_id)
    to = args.to
    if to and not deps.shopper_said(strip_unit(to)):
        to = ""  # what to exchange to must come from the shopper
    target = exchange_target(line, product, to, deps.said) if product else None
    said = texts(deps, reason)
    quality = rules.is_quality(deps.policy, said)
    if target is not None and target.id == line.sku_id and not quality:
        names = "或".join(line.options) or "规格"
        return ToolResult(
            True,
            f"顾客还没说要换成什么{names}。",
            {"order_id": order.id, "asks": "details"},
            f"好的，订单 {order.id} 的 {line.title}（{options_text(line.options)}）想换成什么{names}呢？",
        )
    done_before = len(
        await deps.commerce.records_for(deps.shopper.id, order_id=order.id, kind="exchange")
    )
    verdict = rules.check_exchange(deps.policy, order, line, target, said, deps.now, done_before)
    if not verdict.allowed:
        return denied(verdict, "换货", order)
    assert target is not None
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
    return propose(
        deps,
        "request_exchange",
        ExchangeArgs(order_id=order.id, reason=reason, item=line.title, to=to),
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
        detail={"from": line.sku_id, "to": target.id, "reason": reason, "quality": quality},
        order_status=OrderStatus.AFTER_SALE,
        order_extras={
            "after_sale": {
                "type": "换货",
                "reason": reason,
                "status": "待买家寄回",
                "exchange_to": target.id,
            }
        },
    )


async def offer_retention(deps: TurnDeps, args: RetentionArgs) -> ToolResult:
    """The model may offer retention itself; the policy still decides whether and what."""
    order, problem = await owned_order(deps, args.order_id)
    if order is None:
        return problem
    reason = args.reason
    instead = args.instead
    instead_args = args.instead_args or {"order_id": order.id}
    verdict, offer = rules.retention_offer(
        deps.policy,
        order,
        texts(deps, reason),
        offers_on_order=deps.actions_on("offer_retention", order.id),
        offers_to_shopper=deps.actions_on(
            "offer_retention", days=deps.policy.retention.window_days
        ),
    )
    if offer is None:
        return denied(verdict, "给补偿", order)
    args = RetentionArgs(
        order_id=order.id, reason=reason, instead=instead, instead_args=instead_args
    )
    return _retention(deps, order, verdict, offer, args)


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
