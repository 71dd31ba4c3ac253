"""The shop's 满减 promotions (`policy/promotions.py`) as the coupon and product lookups say
them: the terms of each one running today and, when the amount is known, what the shopper
would pay with the promotion and the best coupon, worked out by code in integer 分.

The amount is the one the shopper wrote in their latest message (「买329的」, 「¥329」), else the
lowest in-stock price of the product they named in their last few messages; an amount the
shopper did not say is never assumed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from xiaoer.domain.models import Product
from xiaoer.domain.money import parse_yuan
from xiaoer.policy.promotions import running_terms, saving
from xiaoer.tools.deps import TurnDeps

_AMOUNT = re.compile(r"[¥￥]\s*(\d+(?:\.\d{1,2})?)|(\d+(?:\.\d{1,2})?)\s*(?:元|块)")
"""A sum of money in a shopper's words: ¥329, 329元, 329块 (a bare number may be a size)."""


@dataclass(frozen=True, slots=True)
class Deal:
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def said_amount(text: str) -> int | None:
    """The last sum of money the text names, in 分."""
    found = _AMOUNT.findall(text)
    if not found:
        return None
    figure = found[-1][0] or found[-1][1]
    try:
        return parse_yuan(figure) or None
    except ValueError:
        return None


def _discounts(deps: TurnDeps) -> set[int]:
    """What the shop's coupons and 满减 tiers take off: an amount equal to one of these is the
    shopper naming a discount."""
    tiers = {t.minus for p in deps.policy.promotions for t in p.tiers}
    return tiers | {c.amount for c in deps.policy.coupons}


async def _named_product(deps: TurnDeps) -> Product | None:
    if deps.knowledge is None:
        return None
    for said in reversed(deps.said[-3:]):
        if pid := await deps.knowledge.product_named(deps.shop.id, said):
            return await deps.commerce.get_product(pid)
    return None


async def promotion_text(deps: TurnDeps, product: Product | None = None) -> Deal:
    """「店铺活动：…」 rows, then the worked-out amount when one is known; empty when no
    promotion runs today and no amount is known."""
    policy = deps.policy
    today = deps.local(deps.now).date()
    product = product or await _named_product(deps)
    categories = [product.category] if product is not None else None
    terms = running_terms(policy.promotions, today, categories)
    amount = said_amount(deps.said[-1]) if deps.said else None
    if amount in _discounts(deps):  # 「20块的券」 names a coupon, not what is bought
        amount = None
    if amount is None and product is not None:
        prices = [s.price_fen for s in product.skus if s.available]
        amount = min(prices) if prices else None
    if not terms and (amount is None or not policy.coupons):
        return Deal()
    rows = ["店铺活动：" + "；".join(terms)] if terms else []
    data: dict[str, Any] = {"promotion_ids": [p.id for p in policy.promotions if p.running(today)]}
    if amount is not None:
        new = not await deps.commerce.orders_for(deps.shopper.id, limit=1)
        best = saving(
            policy.promotions,
            policy.coupons,
            amount,
            today=today,
            categories=categories,
            new_customer=new,
        )
        rows.append(best.text())
        data |= {"amount_fen": amount, "pay_fen": best.pay}
    return Deal("\n".join(rows), data)
