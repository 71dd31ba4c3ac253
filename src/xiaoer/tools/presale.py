"""The pre-sales lines product lookups add, from the shop's `pairing`, `upsell` and `stockout`
settings (`policy/selling.py`) and the catalogue: which products, at what price, in stock.

Every product named here is looked up in the catalogue and named with its own price; none of
the lines says 有货 (the output guard reads 有货 next to a sold-out option as a false claim,
and the alternatives' titles may contain such an option's words).
"""

from __future__ import annotations

from dataclasses import replace

from xiaoer.commerce.base import ProductQuery
from xiaoer.domain.models import Product, Sku
from xiaoer.domain.money import yuan
from xiaoer.policy.selling import PAIR_MAX, pairing_for, upsell_for
from xiaoer.tools.deps import TurnDeps

CATEGORY_SCAN = 20
"""How many in-stock products of a category are looked at for a suggestion."""


def price_text(skus: list[Sku]) -> str:
    """¥39, or ¥39起 when the SKUs differ in price."""
    prices = sorted({s.price_fen for s in skus})
    return yuan(prices[0]) + ("起" if len(prices) > 1 else "")


def offered(product: Product, skus: list[Sku] | None = None) -> str:
    """A product as a suggestion names it: 「title（编号id）¥price」 over its in-stock SKUs."""
    ready = [s for s in (skus if skus is not None else product.skus) if s.available]
    return f"{product.title}（编号{product.id}）{price_text(ready)}"


async def in_category(deps: TurnDeps, category: str) -> list[Product]:
    """The category's products with a SKU that can be ordered now (the category as written)."""
    hits = await deps.commerce.search_products(
        ProductQuery(category=category, in_stock_only=True, limit=CATEGORY_SCAN)
    )
    return [h.product for h in hits if h.product.category == category]


async def pairing_line(deps: TurnDeps, product: Product) -> str:
    """「搭配推荐：{say}：A（编号X）¥P、…」 for the first pairing rule that covers the product;
    "" when none does or none of its products can be ordered now."""
    rule = pairing_for(deps.policy.pairing, product)
    if rule is None:
        return ""
    if rule.suggest.category:
        found = await in_category(deps, rule.suggest.category)
    else:
        looked = [await deps.commerce.get_product(pid) for pid in rule.suggest.products]
        found = [p for p in looked if p is not None]
    picks = [p for p in found if p.id != product.id and any(s.available for s in p.skus)]
    if not picks:
        return ""
    say = f"{rule.say.rstrip('。；;，, ')}：" if rule.say else ""
    return "搭配推荐：" + say + "、".join(offered(p) for p in picks[:PAIR_MAX])


async def upsell_line(deps: TurnDeps, query: ProductQuery, shown: list[Product]) -> str:
    """For products listed within a stated budget: one more product of the rule's category
    priced above the budget by at most the rule's headroom, marked as over it; "" when no
    rule covers the listed products or nothing fits."""
    budget = query.max_price_fen
    rule = upsell_for(deps.policy.upsell, [p.category for p in shown])
    if budget is None or not shown or rule is None or rule.headroom(budget) <= 0:
        return ""
    low = max(budget + 1, query.min_price_fen or 0)
    wider = replace(query, min_price_fen=low, max_price_fen=budget + rule.headroom(budget))
    seen = {p.id for p in shown}
    for hit in await deps.commerce.search_products(replace(wider, limit=CATEGORY_SCAN)):
        p = hit.product
        if p.id in seen or (rule.category and p.category != rule.category):
            continue
        skus = [s for s in p.skus if s.id in hit.matching_sku_ids]
        over = min(s.price_fen for s in skus) - budget
        say = f"{rule.say.rstrip('。')}。" if rule.say else ""
        return f"预算外推荐（超出预算{yuan(over)}）：{offered(p, skus)}。{say}"
    return ""


async def stockout_lines(deps: TurnDeps, product: Product, asked: list[Sku]) -> list[str]:
    """When none of `asked` (or, with none asked, none of the product's SKUs) can be ordered:
    products of the same category within the price band, as many as the same product's own
    in-stock options leave of `stockout.alternatives`, then the merchant's sentence."""
    gone = asked or list(product.skus)
    if not gone or any(s.available for s in gone):
        return []
    rule = deps.policy.stockout
    rows: list[str] = []
    same = [s for s in product.skus if s.available and s not in gone]
    room = rule.alternatives - len(same)
    if room > 0:
        low, high = rule.band(max(s.price_fen for s in gone))
        others = []
        for p in await in_category(deps, product.category):
            skus = [s for s in p.skus if s.available and low <= s.price_fen <= high]
            if p.id != product.id and skus:
                others.append(offered(p, skus))
        if others:
            rows.append("同类可选：" + "、".join(others[:room]) + "。")
    if rule.say:
        rows.append(rule.say)
    return rows
