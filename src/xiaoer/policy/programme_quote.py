"""What a shop subsidy programme (`programmes.py`) gives one order line, and which programme
applies when several could.

Pure functions over the policy, the line, and the purchase's facts (province, day, the
shopper's earlier uses read from their orders). Every figure the shopper is told is computed
here; the text names the programme that applied.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, tzinfo
from typing import Any

from xiaoer.domain.models import Order, OrderStatus
from xiaoer.domain.money import yuan
from xiaoer.policy.programmes import Choice, Limit, Programme, Tier
from xiaoer.policy.subsidy import Quote


@dataclass(frozen=True, slots=True)
class Line:
    category: str
    attributes: Mapping[str, Any]
    price_fen: int
    """One unit's final price, after the discounts that stack with the programme."""
    quantity: int = 1


@dataclass(frozen=True, slots=True)
class Use:
    """An earlier order of the shopper's that used a programme (its `record` key)."""

    key: str
    category: str
    order_id: str
    on: date


@dataclass(frozen=True, slots=True)
class Purchase:
    province: str
    on: date
    """The day in the shop's timezone."""
    uses: tuple[Use, ...] = ()
    coupon: bool = False
    """A coupon is used on this purchase."""
    invoice: bool = True
    """An invoice will be issued (a programme that needs one says so in its terms)."""


@dataclass(frozen=True, slots=True)
class ProgrammeQuote:
    programme: Programme
    eligible: bool
    amount_fen: int
    reason: str
    """Why it does not apply; empty when it does."""
    basis: str = ""
    """How the amount is reached: the price and the percent, or the fixed amount, and the
    attribute value that picked the tier."""
    terms: tuple[str, ...] = ()
    price_fen: int = 0
    """The line's price (all units), before the subsidy."""

    @property
    def name(self) -> str:
        return self.programme.name

    def text(self) -> str:
        if not self.eligible:
            return f"不能享受{self.name}：{self.reason}。"
        terms = "；".join(self.terms)
        return (
            f"可以享受{self.name}：{self.basis}，约{yuan(self.amount_fen)}，"
            f"到手约{yuan(self.price_fen - self.amount_fen)}。"
            + (f"{terms}。" if terms else "")
            + f"依据：本店活动「{self.name}」（{dates(self.programme)}）。"
        )


def dates(p: Programme) -> str:
    if p.start and p.end:
        return f"{p.start.isoformat()}至{p.end.isoformat()}"
    if p.start:
        return f"{p.start.isoformat()}起"
    return f"截至{p.end.isoformat()}" if p.end else "长期有效"


_PROVINCE_SUFFIX = re.compile(r"(省|市|特别行政区|(壮族|回族|维吾尔)?自治区)$")


def same_province(a: str, b: str) -> bool:
    """浙江 and 浙江省, 上海 and 上海市, 广西 and 广西壮族自治区 are one province."""
    return bool(a and b) and _PROVINCE_SUFFIX.sub("", a.strip()) == _PROVINCE_SUFFIX.sub(
        "", b.strip()
    )


def quote_programme(p: Programme, line: Line, purchase: Purchase) -> ProgrammeQuote:
    """What `p` gives `line`, bought on `purchase.on` for delivery to `purchase.province`."""
    total = line.price_fen * line.quantity

    def no(reason: str) -> ProgrammeQuote:
        return ProgrammeQuote(p, False, 0, reason, price_fen=total)

    if not_now := _outside_dates(p, purchase.on):
        return no(not_now)
    if p.regions and not any(same_province(r, purchase.province) for r in p.regions):
        where = "、".join(p.regions)
        if not purchase.province:
            return no(f"仅限收货地址在{where}，需要先确认您的收货省份")
        return no(f"仅限收货地址在{where}，{purchase.province}不在活动范围内")
    if (p.categories and line.category not in p.categories) or (
        line.category in p.exclude_categories
    ):
        return no(f"{line.category or '这件商品'}不在活动品类内")
    tier = _tier(p, line)
    if isinstance(tier, str):
        return no(tier)
    if purchase.coupon and not p.stacks_with_coupons:
        return no("不与优惠券同享，这一单用了优惠券")
    if p.needs_invoice and not purchase.invoice:
        return no("需要开具发票才能享受")
    units, used_up = _units(p, line, purchase)
    if used_up:
        return no(used_up)
    each = _per_unit(tier, line.price_fen, p.caps.item)
    amount = each * units
    if p.caps.order is not None:
        amount = min(amount, p.caps.order)
    terms = _terms(p)
    if units < line.quantity:
        terms = (f"这一单{line.quantity}件中{units}件可以补贴", *terms)
    return ProgrammeQuote(p, True, amount, "", _basis(p, tier, line.price_fen), terms, total)


def _outside_dates(p: Programme, on: date) -> str:
    if p.start and on < p.start:
        return f"活动从{p.start.isoformat()}开始"
    if p.end and on > p.end:
        return f"活动已于{p.end.isoformat()}结束"
    return ""


def _same(a: str, b: str) -> bool:
    return "".join(a.split()).lower() == "".join(b.split()).lower()


def _tier(p: Programme, line: Line) -> Tier | str:
    """The tier the line's attribute value picks, or why there is none."""
    if not p.tier_by:
        return p.tiers[0]
    raw = line.attributes.get(p.tier_by)
    value = str(raw).strip() if isinstance(raw, (str, int, float)) else ""
    listed = "、".join(t.value for t in p.tiers)
    if not value:
        return f"商品没有{p.tier_by}信息，活动只补贴{p.tier_by}为{listed}的商品"
    tier = next((t for t in p.tiers if _same(t.value, value)), None)
    return tier or f"{p.tier_by}为{value}，活动只补贴{p.tier_by}为{listed}的商品"


def _per_unit(tier: Tier, price_fen: int, cap_fen: int | None) -> int:
    each = price_fen * tier.percent // 100 if tier.percent is not None else tier.amount or 0
    each = min(each, price_fen)
    return each if cap_fen is None else min(each, cap_fen)


def _basis(p: Programme, tier: Tier, price_fen: int) -> str:
    which = f"（{p.tier_by}{tier.value}）" if p.tier_by else ""
    if tier.percent is not None:
        return f"按成交价{yuan(price_fen)}补贴{tier.percent}%{which}"
    return f"每件立减{yuan(tier.amount or 0)}{which}"


def _in_period(p: Programme, limit: Limit, use: Use, on: date) -> bool:
    match limit.period:
        case "year":
            return use.on.year == on.year
        case "month":
            return (use.on.year, use.on.month) == (on.year, on.month)
        case "days":
            return 0 <= (on - use.on).days < (limit.days or 0)
    return (p.start is None or use.on >= p.start) and (p.end is None or use.on <= p.end)


def _units(p: Programme, line: Line, purchase: Purchase) -> tuple[int, str]:
    """How many of the line's units the limits leave, or why none: an earlier use of the
    shopper's that fills a person limit."""
    units = line.quantity
    for limit in p.limits:
        if limit.per == "order":
            units = min(units, limit.count)
            continue
        used = [
            u
            for u in purchase.uses
            if u.key == p.key
            and (limit.by == "programme" or u.category == line.category)
            and _in_period(p, limit, u, purchase.on)
        ]
        left = limit.count - len(used)
        if left <= 0:
            last = max(used, key=lambda u: u.on)
            return 0, (
                f"{_limit_text(limit)}，您{last.on.isoformat()}的订单{last.order_id}已经享受过"
            )
        units = min(units, left)
    return units, ""


_PERIOD = {"programme": "（活动期内）", "year": "（每自然年）", "month": "（每自然月）"}


def _limit_text(limit: Limit) -> str:
    per = "每人" if limit.per == "person" else "每单"
    scope = "每类" if limit.by == "category" else ""
    period = "" if limit.per == "order" else _PERIOD.get(limit.period, f"（{limit.days}天内）")
    return f"{per}{scope}限{limit.count}件{period}"


def _terms(p: Programme) -> tuple[str, ...]:
    terms = []
    if p.caps.item is not None:
        terms.append(f"每件最高{yuan(p.caps.item)}")
    if p.caps.order is not None:
        terms.append(f"每单最高{yuan(p.caps.order)}")
    terms += [_limit_text(limit) for limit in p.limits]
    if p.needs_invoice:
        terms.append("需开具发票")
    if not p.stacks_with_coupons:
        terms.append("不与优惠券同享")
    if p.note:
        terms.append(p.note.rstrip("。"))
    return tuple(terms)


# ---------- earlier uses, from the shopper's orders ----------


def past_uses(
    orders: Sequence[Order], keys: set[str], tz: tzinfo, category_of: Mapping[str, str]
) -> tuple[Use, ...]:
    """The uses of the programmes whose `record` keys are `keys`, as the shopper's orders mark
    them in their `extras`: a mapping (or a list of them) whose `category` is the category it
    was used for; a mark without one counts for the categories of the order's products
    (`category_of`, by product id); null or false marks nothing. Cancelled orders do not count."""
    uses: list[Use] = []
    for order in orders:
        if order.status == OrderStatus.CANCELLED:
            continue
        on = (order.paid_at or order.created_at).astimezone(tz).date()
        for key in sorted(keys & order.extras.keys()):
            marks = order.extras[key]
            for mark in marks if isinstance(marks, list) else [marks]:
                if mark is None or mark is False:
                    continue
                said = mark.get("category") if isinstance(mark, dict) else None
                cats = (
                    [str(said)]
                    if said
                    else [category_of.get(ln.product_id, "") for ln in order.lines]
                )
                uses += [Use(key, c, order.id, on) for c in dict.fromkeys(cats)]
    return tuple(uses)


# ---------- which one applies ----------


type Quoted = Quote | ProgrammeQuote


def title(q: Quoted) -> str:
    return q.name if isinstance(q, ProgrammeQuote) else q.table


@dataclass(frozen=True, slots=True)
class Pick:
    chosen: Quoted | None
    why: str = ""
    """Why this one, when several applied (a sentence for the shopper)."""


def choose(national: Quote | None, shop: Sequence[ProgrammeQuote], rule: Choice) -> Pick:
    """The programme that applies among those that could (`programmes.Choice`)."""
    options: list[Quoted] = [q for q in (national, *shop) if q is not None and q.eligible]
    if len(options) < 2:
        return Pick(options[0] if options else None)
    if rule == "best":
        chosen = max(options, key=lambda q: q.amount_fen)  # the first of equals: national, listed
        how = f"按本店规则取补贴最多的一项：{title(chosen)}"
    elif rule == "national" and national in options:
        chosen, how = options[0], f"按本店规则优先使用{title(options[0])}"
    else:
        chosen = next(q for q in options if q is not national)
        how = (
            f"按本店规则优先使用本店活动（按活动排列顺序）：{title(chosen)}"
            if rule == "shop"
            else f"{title(national) if national else '国补'}不适用，按本店活动的排列顺序取：{title(chosen)}"
        )
    both = "、".join(f"{title(q)}（约{yuan(q.amount_fen)}）" for q in options)
    return Pick(chosen, f"同时符合{both}，只能享受其中一项，{how}")
