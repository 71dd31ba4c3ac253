"""The rules: pure functions from (policy, order, facts) to a verdict and, where money moves, an
amount in 分. Tools call them when they propose an action and again when the shopper confirms,
so a state that changed in between (the parcel left the warehouse) is caught at execution time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from xiaoer.domain.models import Order, OrderLine, OrderStatus, Product, Sku
from xiaoer.domain.money import yuan
from xiaoer.policy.schema import Exclusion, Offer, ShopPolicy
from xiaoer.policy.verdict import Verdict, allow, deny

UNSHIPPED = {OrderStatus.PENDING_PAYMENT, OrderStatus.PENDING_SHIPMENT}
DELIVERED = {OrderStatus.DELIVERED, OrderStatus.COMPLETED}


_NEGATED = re.compile(r"(没有|没|未|不是|不|无)$")


def mentions(texts: Iterable[str], words: Iterable[str], names: Sequence[str] = ()) -> str | None:
    """The first of `words` said (not negated, not part of one of `names`) in any of `texts`,
    or None.

    "没穿出去过" does not say 穿出去, "没有质量问题" does not claim a quality problem, and with
    an item titled "破界 3" among `names`, "退破界" does not say 破."""
    joined = "\n".join(texts)
    for word in words:
        if not word:
            continue
        start = joined.find(word)
        while start >= 0:
            negated = _NEGATED.search(joined[max(0, start - 2) : start])
            if not negated and not _named(joined, start, start + len(word), names):
                return word
            start = joined.find(word, start + 1)
    return None


def _named(text: str, start: int, end: int, names: Sequence[str]) -> bool:
    """Whether text[start:end], with a character or two either side, is part of a name."""
    spans = [(start - k, end) for k in (1, 2)] + [(start, end + k) for k in (1, 2)]
    return any(
        0 <= a and b <= len(text) and not text[a:b].isspace() and text[a:b] in name
        for a, b in spans
        for name in names
    )


class Said(list[str]):
    """What the shopper said, as the rules read it, with `fault`: whether the understanding step
    read a fault with the goods as the reason of their request (None when no reading stated a
    reason — then the merchant's `returns.quality_words` decide), and `names`: the titles of
    the items the request is about (a quality word inside an item's name is no fault)."""

    fault: bool | None = None
    names: tuple[str, ...] = ()

    @classmethod
    def of(cls, texts: Iterable[str], fault: bool | None, names: Sequence[str] = ()) -> Said:
        said = cls(texts)
        said.fault = fault
        said.names = tuple(names)
        return said


def is_quality(policy: ShopPolicy, texts: Iterable[str]) -> bool:
    fault = getattr(texts, "fault", None)
    if fault is not None:
        return bool(fault)
    names = getattr(texts, "names", ())
    return mentions(texts, policy.returns.quality_words, names) is not None


def fault_unshown(policy: ShopPolicy, texts: Iterable[str], evidence: Iterable[str]) -> bool:
    """Whether a quality problem rests on the understanding step's reading alone: a fault was
    read, but the shopper's words hold none of the merchant's `returns.quality_words` and no
    evidence (a photo, a video). Such a reading does not, by itself, lift an exclusion of
    opened or used goods (an opened earphone's "音质一般" is a taste, not a fault)."""
    if getattr(texts, "fault", None) is not True:
        return False
    words, names = list(texts), getattr(texts, "names", ())
    return (
        mentions(words, policy.returns.quality_words, names) is None
        and mentions(words, evidence) is None
    )


def _state_rule(rule: str, order: Order, states: Sequence[str], what: str) -> Verdict | None:
    if order.status.value in states:
        return None
    allowed = "、".join(states)
    return deny(rule, f"订单{order.status.value}，{what}只能在{allowed}状态办理")


def line_share(order: Order, lines: Sequence[OrderLine]) -> int:
    """What the shopper actually paid for `lines`: their list price less a proportional share of
    the order's discounts (coupons, 国补); shipping is not part of it. Integer 分, rounded down."""
    goods = sum(ln.unit_price_fen * ln.quantity for ln in order.lines)
    picked = sum(ln.unit_price_fen * ln.quantity for ln in lines)
    if goods <= 0:
        return 0
    paid_goods = max(order.pay_fen - order.shipping_fee_fen, 0)
    return paid_goods * min(picked, goods) // goods


def days_since(when: datetime | None, now: datetime) -> float | None:
    return None if when is None else (now - when).total_seconds() / 86400


def age_days(policy: ShopPolicy, when: datetime | None, now: datetime) -> float | None:
    """Days from `when` to `now` as the shop counts its windows (`windows.days`): elapsed
    24-hour periods, or calendar days in the timezone of `now` (the shop's), the day after
    `when` being day 1."""
    if when is None:
        return None
    if policy.windows.days == "calendar":
        return float((now.date() - when.astimezone(now.tzinfo).date()).days)
    return days_since(when, now)


# ---------- cancel / address ----------

ITEM_CHANGE = "item_change"
"""The `Change.kind` of an item change (what `locks_order` looks for in an order's history)."""


def locked(policy: ShopPolicy, done: Mapping[str, int]) -> Verdict | None:
    """A "no" when an earlier change closed the order to further changes. `done` counts the
    changes already applied to the order, by `Change.kind`."""
    if policy.item_change.locks_order and done.get(ITEM_CHANGE, 0) > 0:
        return deny("item_change.locks_order", "这个订单已经改过商品，不能再取消或修改了")
    return None


def _plain(text: str) -> str:
    return " ".join(text.lower().split()).strip(" .。!！")


def cancel_reason(policy: ShopPolicy, reason: str) -> str | None:
    """The shop's own wording of `reason` when the shop lists cancel reasons: the listed reason
    it is, or else the one listed reason it contains ("拍错了，想重拍" → 拍错了); None when it is
    none or several of them. `reason` itself when the shop lists none."""
    if not policy.cancel.reasons:
        return reason
    wanted = _plain(reason)
    exact = [r for r in policy.cancel.reasons if _plain(r) == wanted]
    inside = [r for r in policy.cancel.reasons if _plain(r) and _plain(r) in wanted]
    found = exact or inside
    return found[0] if len(found) == 1 else None


def check_cancel(
    policy: ShopPolicy,
    order: Order,
    *,
    reason: str = "",
    done: Mapping[str, int] | None = None,
    granted: Verdict | None = None,
) -> Verdict:
    """`granted`: a shop rule allowed it (`then: allow`), over `cancel.reasons`."""
    if order.status == OrderStatus.CANCELLED:
        return deny("cancel.states", "这个订单已经取消了")
    bad = _state_rule("cancel.states", order, policy.cancel.states, "取消")
    if bad and order.status in (OrderStatus.SHIPPED,):
        return deny("cancel.states", "订单已发货，不能直接取消；可以拒收，或签收后按政策申请退货")
    if bad:
        return bad
    if lock := locked(policy, done or {}):
        return lock
    if granted is not None:
        return granted
    if cancel_reason(policy, reason) is None:
        listed = "、".join(f"「{r}」" for r in policy.cancel.reasons)
        return deny("cancel.reasons", f"取消原因需要是以下之一：{listed}")
    return allow(
        "cancel.states", f"订单{order.status.value}，可以取消，{yuan(order.pay_fen)}原路退回"
    )


def check_address_change(
    policy: ShopPolicy,
    order: Order,
    changes_so_far: int,
    *,
    done: Mapping[str, int] | None = None,
) -> Verdict:
    if order.status == OrderStatus.SHIPPED:
        return deny(
            "address_change.states",
            "订单已发货，不能再改地址；可以由客服联系快递公司改派，改派费用以快递公司收取为准",
        )
    bad = _state_rule("address_change.states", order, policy.address_change.states, "改地址")
    if bad:
        return bad
    if lock := locked(policy, done or {}):
        return lock
    if changes_so_far >= policy.address_change.max_changes:
        return deny(
            "address_change.max_changes",
            f"这个订单已经改过{changes_so_far}次地址，按店铺规定最多改{policy.address_change.max_changes}次",
        )
    return allow("address_change.states", "订单未发货，可以修改收货地址")


def subsidy_region_warning(policy: ShopPolicy, order: Order, new_province: str) -> str:
    """国补 orders: moving the delivery outside the subsidy's province may lose the subsidy."""
    if not policy.address_change.subsidy_warning or "national_subsidy" not in order.extras:
        return ""
    if new_province and new_province == order.address.province:
        return ""
    return "注意：这是国补订单，国补资格按收货地区发放，改到资格地区以外可能失去补贴（以当地政策为准）。"


# ---------- refund / return / exchange ----------


@dataclass(frozen=True, slots=True)
class Money:
    verdict: Verdict
    amount_fen: int = 0


def check_refund(
    policy: ShopPolicy,
    order: Order,
    texts: Sequence[str],
    *,
    amount_fen: int | None = None,
    granted: Verdict | None = None,
) -> Money:
    """仅退款. Unshipped: the whole payment, and the order is closed. Shipped or delivered: only
    for a stated quality / missing-item reason (or a shop rule's `allow`: `granted`), up to what
    was paid; above the merchant's limit it waits for approval."""
    rule = policy.refund
    if order.status == OrderStatus.CANCELLED:
        return Money(deny("refund.states", "这个订单已经取消，款项已按原路退回"))
    if order.status == OrderStatus.AFTER_SALE:
        return Money(deny("refund.states", "这个订单已经在售后处理中，请等待当前售后完成"))
    bad = _state_rule("refund.states", order, rule.states, "仅退款")
    if bad:
        return Money(bad)
    if order.status == OrderStatus.PENDING_PAYMENT:
        return Money(deny("refund.states", "订单还没有付款，不需要退款，可以直接取消"))
    shipped = order.status not in UNSHIPPED
    needs_reason = shipped and rule.shipped_needs_reason and granted is None
    if needs_reason and not is_quality(policy, texts):
        return Money(
            deny(
                "refund.shipped_needs_reason",
                "已发货的订单不能仅退款；不想要的话请签收后申请退货退款，质量问题可以说明情况申请",
            )
        )
    amount = order.pay_fen if amount_fen is None or amount_fen <= 0 else amount_fen
    if amount > order.pay_fen:
        return Money(
            deny("refund.amount", f"退款金额不能超过订单实付{yuan(order.pay_fen)}"), order.pay_fen
        )
    if amount > rule.auto_limit:
        return Money(
            allow(
                "refund.auto_limit",
                f"退款{yuan(amount)}超过自动退款额度{yuan(rule.auto_limit)}，需要商家审核",
                approval=True,
            ),
            amount,
        )
    return Money(granted or allow("refund.states", f"可以退款{yuan(amount)}"), amount)


def _excluded(ex: Exclusion, product: Product | None, line: OrderLine, said: Sequence[str]) -> bool:
    category = product.category if product else ""
    tags = product.tags if product else ()
    hit = (
        (not ex.categories or category in ex.categories)
        and (not ex.tags or any(t in tags for t in ex.tags))
        and (not ex.title_words or any(w in line.title for w in ex.title_words))
    )
    if not (ex.categories or ex.tags or ex.title_words):
        hit = True
    return hit and (not ex.said or mentions(said, ex.said) is not None)


def check_return(
    policy: ShopPolicy,
    order: Order,
    lines: Sequence[OrderLine],
    products: dict[str, Product],
    texts: Sequence[str],
    now: datetime,
    granted: Verdict | None = None,
) -> Money:
    """退货退款 for `lines` of a delivered order: 7-day no-reason (minus exclusions) or quality;
    `granted` (a shop rule's `allow`) over the windows and exclusions."""
    rule = policy.returns
    if order.status == OrderStatus.AFTER_SALE:
        return Money(deny("returns.states", "这个订单已经在售后处理中，请等待当前售后完成"))
    if order.status in UNSHIPPED:
        return Money(deny("returns.states", "订单还没发货，不需要退货，可以直接取消订单"))
    if order.status == OrderStatus.SHIPPED:
        return Money(deny("returns.states", "订单还在运输中，请签收后再申请退货，也可以拒收"))
    if order.status not in DELIVERED:
        return Money(deny("returns.states", f"订单{order.status.value}，不能申请退货"))
    if not lines:
        return Money(deny("returns.lines", "没有找到要退的商品"))
    age = age_days(policy, order.delivered_at, now) or 0.0
    amount = line_share(order, lines)
    if granted is not None:
        return Money(granted, amount)
    if is_quality(policy, texts):
        if age > rule.quality_days:
            return Money(
                deny(
                    "returns.quality_days",
                    f"签收已{int(age)}天，超过{rule.quality_days}天质量问题退货期限，可以申请保修维修",
                )
            )
        return Money(
            allow("returns.quality_days", "质量问题，可以退货退款，往返运费由店铺承担"), amount
        )
    if rule.no_reason_days == 0:
        return Money(
            deny("returns.no_reason_days", "本店商品不支持无理由退货，质量问题可以申请售后")
        )
    if age > rule.no_reason_days:
        return Money(
            deny(
                "returns.no_reason_days",
                f"签收已{int(age)}天，已超过{rule.no_reason_days}天无理由退货期限",
            )
        )
    for line in lines:
        for ex in rule.exclusions:
            if _excluded(ex, products.get(line.product_id), line, texts):
                return Money(deny("returns.exclusions", ex.reason))
    return Money(
        allow(
            "returns.no_reason_days", f"签收{int(age)}天，在{rule.no_reason_days}天无理由退货期内"
        ),
        amount,
    )


def return_shipping_note(
    policy: ShopPolicy,
    order: Order,
    lines: Sequence[OrderLine],
    products: dict[str, Product],
    quality: bool,
) -> str:
    """Who pays for sending the goods back — the part shoppers most often get wrong."""
    if quality:
        return "质量问题往返运费由店铺承担。"
    fees = [
        (policy.returns.pickup_fee[p.category], p.category)
        for ln in lines
        if (p := products.get(ln.product_id)) and p.category in policy.returns.pickup_fee
    ]
    if fees:
        fee, category = max(fees)
        return f"{category}由物流上门取件，取件费{yuan(fee)}由买家承担。"
    if order.extras.get("运费险"):
        return "这单有运费险：寄回时先垫付运费，退货完成后保险公司按首重标准理赔。请勿到付。"
    return "这单没有运费险，无理由退货的寄回运费由买家承担，请勿到付。"


def check_exchange(
    policy: ShopPolicy,
    order: Order,
    line: OrderLine,
    target: Sku | None,
    texts: Sequence[str],
    now: datetime,
    exchanges_so_far: int,
    granted: Verdict | None = None,
) -> Verdict:
    """换货 of one line to `target`: a window for exchanges without a quality problem
    (`exchange.days`, 0 = none), a longer one for quality problems, `per_order` times; `granted`
    (a shop rule's `allow`) over the windows (once per order at least)."""
    rule = policy.exchange
    if order.status == OrderStatus.AFTER_SALE:
        return deny("exchange.states", "这个订单已经在售后处理中，请等待当前售后完成")
    if order.status not in DELIVERED:
        return deny("exchange.states", f"订单{order.status.value}，签收后才能申请换货")
    quality = is_quality(policy, texts)
    if granted is None and (bad := _exchange_terms(policy, order, quality, now, exchanges_so_far)):
        return bad
    if granted is not None and exchanges_so_far >= max(rule.per_order, 1):
        return deny("exchange.per_order", "这个订单已经换过了，不能再换")
    if target is None:
        return deny("exchange.target", "店里没有要换的这个款式/尺码")
    if target.product_id != line.product_id:
        return deny("exchange.target", "只能换同款商品的其他尺码或颜色")
    same_price_only = rule.price_difference == "same_price"
    if target.price_fen != line.unit_price_fen and same_price_only and not quality:
        return deny("exchange.target", "只能同价换码或换色；差价商品请退货后重新下单")
    if target.stock <= 0:
        return deny("exchange.stock", "要换的尺码/颜色目前缺货，可以退货后重新下单，或等补货")
    return granted or allow(
        "exchange.days", "可以换货" + ("（质量问题，检测确认后换同型号新品）" if quality else "")
    )


def _exchange_terms(
    policy: ShopPolicy, order: Order, quality: bool, now: datetime, exchanges_so_far: int
) -> Verdict | None:
    """The exchange's count and windows; a window of 0 days means no such exchange at all."""
    rule = policy.exchange
    if rule.per_order == 0 or (rule.days == 0 and rule.quality_days == 0):
        return deny("exchange.per_order", "本店不支持换货；质量问题可以说明情况申请售后")
    if exchanges_so_far >= rule.per_order:
        return deny("exchange.per_order", f"每单限换{rule.per_order}次，这单已经换过了")
    if not quality and rule.days == 0:
        return deny(
            "exchange.days", "本店只为质量问题换货，不支持无理由换货；不合适的话可以按政策申请退货"
        )
    if quality and rule.quality_days == 0:
        return deny("exchange.quality_days", "本店质量问题不换货，可以说明情况申请售后")
    age = age_days(policy, order.delivered_at, now) or 0.0
    limit = rule.quality_days if quality else rule.days
    if age > limit:
        return deny(
            "exchange.quality_days" if quality else "exchange.days",
            f"签收已{int(age)}天，超过{limit}天换货期限",
        )
    return None


# ---------- retention ----------


@dataclass(frozen=True, slots=True)
class RetentionOffer:
    offer: Offer
    amount_fen: int

    def describe(self) -> str:
        o = self.offer
        if o.kind == "coupon":
            return f"一张{yuan(self.amount_fen)}无门槛店铺优惠券（{o.valid_days}天内有效）"
        if o.kind == "partial_refund":
            return f"{yuan(self.amount_fen)}补偿，原路退回"
        return f"赠品：{o.gift}"


def retention_offer(
    policy: ShopPolicy,
    order: Order,
    texts: Sequence[str],
    *,
    offers_on_order: int,
    offers_to_shopper: int,
    basis_fen: int | None = None,
    decided: tuple[str, bool] | None = None,
) -> tuple[Verdict, RetentionOffer | None]:
    """Whether to offer something before a cancel/return, and what. Never for quality problems;
    only for the reasons the merchant lists — or as a shop rule decided (`decided`: the rule and
    whether it offers); capped per order and per shopper. The offers' `min_order`/`max_order`
    and percent apply to `basis_fen`: what was paid for the items given back (the whole
    payment when None)."""
    rule = policy.retention
    if not rule.enabled or not rule.offers:
        return deny("retention.enabled", "店铺没有设置挽留方案"), None
    if is_quality(policy, texts) or mentions(texts, rule.never_when):
        return deny("retention.never_when", "质量问题直接处理售后，不做挽留"), None
    if decided is not None and not decided[1]:
        return deny(decided[0], "店铺规则：这个申请不做挽留"), None
    if decided is None and not mentions(texts, rule.when_reason):
        return deny("retention.when_reason", "顾客的原因不在挽留范围内"), None
    if offers_on_order >= rule.per_order:
        return deny("retention.per_order", "这个订单已经给过挽留方案"), None
    if offers_to_shopper >= rule.per_shopper:
        return deny(
            "retention.per_shopper", f"{rule.window_days}天内给这位顾客的挽留已达上限"
        ), None
    paid = order.pay_fen if basis_fen is None else basis_fen
    for offer in rule.offers:
        if paid < offer.min_order or (offer.max_order is not None and paid > offer.max_order):
            continue
        amount = offer.amount
        if offer.kind == "partial_refund" and offer.percent:
            amount = paid * offer.percent // 100
            if offer.max:
                amount = min(amount, offer.max)
        return allow("retention.offers", "按店铺挽留策略给出方案"), RetentionOffer(offer, amount)
    return deny("retention.offers", "没有适合这个金额的挽留方案"), None


# ---------- price protection / invoice / urge ----------


def check_price_protection(
    policy: ShopPolicy,
    order: Order,
    current: dict[str, Sku],
    now: datetime,
    granted: Verdict | None = None,
) -> Money:
    """价保: the price dropped within `price_protection.days` of payment (`granted`, a shop
    rule's `allow`, over the days)."""
    rule = policy.price_protection
    if not rule.enabled:
        return Money(deny("price_protection.enabled", "本店暂不提供价保服务"))
    if order.status in (OrderStatus.CANCELLED, OrderStatus.PENDING_PAYMENT):
        return Money(deny("price_protection.states", f"订单{order.status.value}，不能申请价保"))
    since = order.paid_at or order.created_at
    age = age_days(policy, since, now) or 0.0
    if age > rule.days and granted is None:
        return Money(deny("price_protection.days", f"付款已{int(age)}天，超过{rule.days}天价保期"))
    diff = 0
    prices = []
    for ln in order.lines:
        sku = current.get(ln.sku_id)
        if sku is not None and sku.price_fen < ln.unit_price_fen:
            diff += (ln.unit_price_fen - sku.price_fen) * ln.quantity
        if sku is not None:
            prices.append(f"{ln.title}购买价{yuan(ln.unit_price_fen)}、现价{yuan(sku.price_fen)}")
    if diff <= 0:
        said = "；".join(prices) + "，没有降价" if prices else "商品现价没有低于您的购买价"
        return Money(deny("price_protection.no_drop", f"{said}，不产生差价"))
    return Money(granted or allow("price_protection.days", f"降价{yuan(diff)}，可以退差价"), diff)


_TAX_ID = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")


def valid_tax_id(tax_id: str) -> bool:
    """统一社会信用代码: 18 characters, with its GB 32100-2015 check character."""
    code = tax_id.strip().upper()
    if not _TAX_ID.match(code):
        return False
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    total = sum(alphabet.index(c) * w for c, w in zip(code[:17], weights, strict=True))
    return alphabet[(31 - total % 31) % 31] == code[17]


def check_invoice(policy: ShopPolicy, order: Order, kind: str, title: str, tax_id: str) -> Verdict:
    rule = policy.invoice
    if order.status == OrderStatus.CANCELLED:
        return deny("invoice.states", "订单已取消，不能开票")
    bad = _state_rule("invoice.states", order, rule.states, "开票")
    if bad:
        return bad
    if kind not in rule.types:
        return deny("invoice.types", f"本店可开：{'、'.join(rule.types)}")
    personal = title in ("", "个人") or (len(title) <= 4 and not tax_id)
    if "national_subsidy" in order.extras and rule.subsidy_personal_only:
        if kind != "电子普通发票" or not personal:
            return deny("invoice.subsidy_personal_only", "国补订单只能开个人抬头的电子普通发票")
    if kind == "增值税专用发票" and personal:
        return deny("invoice.types", "个人抬头不能开增值税专用发票")
    if not personal and not valid_tax_id(tax_id):
        return deny("invoice.tax_id", "企业抬头需要正确的18位统一社会信用代码（税号）")
    return allow("invoice.types", f"可以开{kind}")


def dispatch_promise(policy: ShopPolicy, order: Order, products: dict[str, Product]) -> timedelta:
    """The order's dispatch promise: the longest of its lines'. A line takes the longest promise
    among the `urge.promise_hours` keys naming its category, one of its tags or a word of its
    title (made-to-order goods are usually told apart by a title word), else `default`."""
    hours = policy.urge.promise_hours
    default = hours.get("default", 48)
    per_line = []
    for ln in order.lines:
        if (p := products.get(ln.product_id)) is None:
            continue
        keys = [
            k for k in hours if k != "default" and (k == p.category or k in p.tags or k in ln.title)
        ]
        per_line.append(max((hours[k] for k in keys), default=default))
    return timedelta(hours=max(per_line or [default]))
