"""Shop promotions (满减) as the merchant writes them under `promotions:`, and the explanation
of what they take off a given amount — with the shop's coupons, stacked or not.

How an amount is worked out (integer 分 throughout, documented in docs/policy.md):
1. The promotions running today that cover the goods' categories; of these the one that takes
   the most off applies (promotions do not stack with each other). Its highest tier whose
   threshold the amount reaches is what it takes off.
2. The best claimable coupon whose minimum spend the amount reaches — after the 满减 when the
   promotion stacks with coupons (the stricter reading: a coupon is never promised on money
   the 满减 already took off). New-customer coupons count only for a new customer.
3. A promotion that does not stack with coupons: the better of the two alone.
Subsidies are not worked out here; whether a promotion stacks with them is said.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from xiaoer.domain.money import yuan
from xiaoer.policy.amounts import Money
from xiaoer.policy.programmes import unique_ids

if TYPE_CHECKING:
    from xiaoer.policy.schema import Coupon


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tier(_Model):
    """满{threshold}减{minus}: an amount of at least `threshold` gets `minus` taken off (the
    key is not `off`: YAML reads a bare `off` as false)."""

    threshold: Money
    minus: Annotated[Money, Field(validate_default=True)]

    @field_validator("minus")
    @classmethod
    def _below(cls, minus: int, info: ValidationInfo) -> int:
        threshold = info.data.get("threshold")
        if minus <= 0:
            raise ValueError("must be above 0")
        if threshold is not None and minus >= threshold:
            raise ValueError(f"takes off as much as the threshold ({yuan(threshold)}) or more")
        return minus


class Promotion(_Model):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,32}$")]
    name: Annotated[str, Field(min_length=1, max_length=40)]
    """What the shopper is told, e.g. 「双12满减」."""
    tiers: Annotated[list[Tier], Field(min_length=1, max_length=10)]
    stacks_with_coupons: bool = True
    """The shop's coupons can be used on top of it."""
    stacks_with_subsidy: bool = True
    """It can be had together with a subsidy (国补 or the shop's own programmes)."""
    start: date | None = None
    end: Annotated[date | None, Field(validate_default=True)] = None
    """Both inclusive, as days in the shop's timezone; none = open."""
    categories: list[Annotated[str, Field(min_length=1, max_length=40)]] = []
    """Product categories it covers; empty = every category."""
    note: Annotated[str, Field(max_length=120)] = ""

    @field_validator("tiers")
    @classmethod
    def _rising(cls, tiers: list[Tier]) -> list[Tier]:
        for low, high in zip(tiers, tiers[1:], strict=False):
            if high.threshold <= low.threshold:
                raise ValueError("list the tiers by rising threshold")
            if high.minus <= low.minus:
                raise ValueError("a higher threshold must take off more")
        return tiers

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("start")
        if start is not None and end is not None and end < start:
            raise ValueError(f"ends ({end.isoformat()}) before it starts ({start.isoformat()})")
        return end

    def running(self, today: date) -> bool:
        return (self.start is None or self.start <= today) and (
            self.end is None or today <= self.end
        )

    def covers(self, categories: list[str]) -> bool:
        """Unknown goods (no categories) are covered only by a promotion for everything."""
        return (
            not self.categories
            or bool(categories)
            and all(c in self.categories for c in categories)
        )

    def off(self, amount_fen: int) -> int:
        return max((t.minus for t in self.tiers if amount_fen >= t.threshold), default=0)

    def terms(self) -> str:
        """满300减30、满500减60，与店铺券可叠加，不与补贴同享，12月1日至12月12日."""
        tiers = "、".join(_tier(t) for t in self.tiers)
        parts = [tiers, "与店铺券可叠加" if self.stacks_with_coupons else "不与店铺券同享"]
        if not self.stacks_with_subsidy:
            parts.append("不与补贴同享")
        if self.categories:
            parts.append("限" + "、".join(self.categories))
        if when := _dates(self.start, self.end):
            parts.append(when)
        return "，".join(parts)


def _tier(t: Tier) -> str:
    return f"满{yuan(t.threshold)[1:]}减{yuan(t.minus)[1:]}"


def _day(d: date) -> str:
    return f"{d.month}月{d.day}日"


def _dates(start: date | None, end: date | None) -> str:
    if start and end:
        return f"{_day(start)}至{_day(end)}"
    if end:
        return f"截至{_day(end)}"
    return f"{_day(start)}起" if start else ""


Promotions = Annotated[
    list[Promotion], Field(max_length=20), AfterValidator(unique_ids("promotions"))
]


@dataclass(frozen=True, slots=True)
class Saving:
    """What an amount comes to with the shop's promotion and coupon (all 分)."""

    amount: int
    promotion: Promotion | None = None
    promotion_off: int = 0
    coupon: Coupon | None = None
    coupon_off: int = 0
    choice: str = ""
    """Why one of the two was dropped (a promotion that does not stack with coupons)."""
    missed: tuple[tuple[Promotion, int, int], ...] = ()
    """Running promotions the amount does not reach yet: (promotion, the amount short, off)."""

    @property
    def pay(self) -> int:
        return self.amount - self.promotion_off - self.coupon_off

    def text(self) -> str:
        """The explanation the shopper can be given, e.g. 「按¥329计算：双12满减满300减30，
        减¥30；再用店铺券满199减20，减¥20（与满减可叠加）；预计实付¥279。以结算页为准。」"""
        steps: list[str] = []
        if self.promotion is not None:
            tier = next(t for t in self.promotion.tiers if t.minus == self.promotion_off)
            steps.append(f"{self.promotion.name}{_tier(tier)}，减{yuan(self.promotion_off)}")
        if self.coupon is not None:
            stacked = self.promotion is not None
            steps.append(
                ("再用" if stacked else "用")
                + f"{self.coupon.name}，减{yuan(self.coupon_off)}"
                + ("（与满减可叠加）" if stacked else "")
            )
        body = "；".join(steps) if steps else "没有可用的满减或店铺券"
        rows = [f"按{yuan(self.amount)}计算：{body}；预计实付{yuan(self.pay)}。"]
        if self.choice:
            rows.append(self.choice)
        if self.promotion is not None and not self.promotion.stacks_with_subsidy:
            rows.append(f"{self.promotion.name}不与补贴同享。")
        for p, short, minus in self.missed:
            rows.append(f"{p.name}：再买{yuan(short)}可减{yuan(minus)}。")
        rows.append("以结算页为准。")
        return "".join(rows)


def best_coupon(coupons: list[Coupon], amount_fen: int, *, new_customer: bool) -> Coupon | None:
    usable = [
        c
        for c in coupons
        if c.claimable and amount_fen >= c.min_spend and (new_customer or not c.new_customer_only)
    ]
    return max(usable, key=lambda c: (min(c.amount, amount_fen), -c.min_spend), default=None)


def _missed(running: list[Promotion], amount_fen: int) -> tuple[tuple[Promotion, int, int], ...]:
    """Each running promotion's next tier the amount does not reach."""
    out: list[tuple[Promotion, int, int]] = []
    for p in running:
        nxt = next((t for t in p.tiers if t.threshold > amount_fen), None)
        if nxt is not None:
            out.append((p, nxt.threshold - amount_fen, nxt.minus))
    return tuple(out[:1])


def saving(
    promotions: list[Promotion],
    coupons: list[Coupon],
    amount_fen: int,
    *,
    today: date,
    categories: list[str] | None = None,
    new_customer: bool = False,
) -> Saving:
    """The best the shop's running promotions and its coupons do for `amount_fen` of goods of
    `categories` (see the module docstring for the order of the steps)."""
    running = [p for p in promotions if p.running(today) and p.covers(categories or [])]
    best = max(running, key=lambda p: p.off(amount_fen), default=None)
    off = best.off(amount_fen) if best is not None else 0
    missed = _missed(running, amount_fen)
    if best is None or off == 0:
        coupon = best_coupon(coupons, amount_fen, new_customer=new_customer)
        c_off = min(coupon.amount, amount_fen) if coupon else 0
        return Saving(amount_fen, None, 0, coupon, c_off, missed=missed)
    if best.stacks_with_coupons:
        coupon = best_coupon(coupons, amount_fen - off, new_customer=new_customer)
        c_off = min(coupon.amount, amount_fen - off) if coupon else 0
        return Saving(amount_fen, best, off, coupon, c_off, missed=missed)
    coupon = best_coupon(coupons, amount_fen, new_customer=new_customer)
    c_off = min(coupon.amount, amount_fen) if coupon else 0
    if coupon is not None and c_off > off:
        why = f"{best.name}不与店铺券同享，用券更划算。"
        return Saving(amount_fen, None, 0, coupon, c_off, why, missed)
    why = f"{best.name}不与店铺券同享。" if coupon is not None else ""
    return Saving(amount_fen, best, off, None, 0, why, missed)


def running_terms(
    promotions: list[Promotion], today: date, categories: list[str] | None = None
) -> list[str]:
    """「{name}：{terms}」 for each promotion running today (for the goods, when known)."""
    return [
        f"{p.name}：{p.terms()}"
        for p in promotions
        if p.running(today) and (categories is None or p.covers(categories))
    ]
