"""check_subsidy: whether a product gets 国补 or one of the shop's own subsidy programmes, and
how much.

Without programmes in the policy it answers from the national table as it always has, and the
model writes the reply. With programmes, code quotes each one, picks the one that applies
(`subsidy.choose`), and writes the reply the shopper reads, naming that programme.
"""

from __future__ import annotations

from pydantic import Field

from xiaoer.domain.models import Product
from xiaoer.policy import subsidy
from xiaoer.policy.programme_quote import (
    Line,
    ProgrammeQuote,
    Purchase,
    Use,
    choose,
    past_uses,
    quote_programme,
    title,
)
from xiaoer.policy.schema import Subsidy
from xiaoer.tools.args import ToolArgs
from xiaoer.tools.base import ToolResult
from xiaoer.tools.catalog import resolve_product
from xiaoer.tools.deps import TurnDeps


class SubsidyArgs(ToolArgs):
    product: str = Field(description="商品名称或编号")
    province: str = Field("", description="收货省份，没说就不填")


async def check_subsidy(deps: TurnDeps, args: SubsidyArgs) -> ToolResult:
    rule = deps.policy.subsidy
    if not rule.enabled:
        return ToolResult(True, subsidy.NOT_OFFERED, {}, None)
    ref = args.product
    product = await resolve_product(deps, ref)
    if product is None:
        return ToolResult(False, f"没有找到商品“{ref}”。先用 search_products 找到商品再查国补。")
    province = args.province
    if province and not deps.shopper_said(province.removesuffix("省").removesuffix("市")):
        province = ""
    if not province and deps.shopper.addresses:
        province = deps.shopper.addresses[0].province
    prices = sorted({s.price_fen for s in product.skus})
    picked = [p for p in prices if deps.shopper_said(str(p // 100))] or prices[:1] + prices[-1:]
    if rule.programmes:
        return await _with_programmes(deps, rule, product, province, list(dict.fromkeys(picked)))
    category, grade = _national_terms(product)
    on = deps.local(deps.now).date()
    rows = []
    for price in dict.fromkeys(picked):
        q = subsidy.quote(category, grade, price, province, on, rule)
        rows.append(q.text(price))
    where = f"按收货地区 {province}" if province else "收货地区未知，按全国政策"
    # two prices refused for the same reason read as one line (seen: the same line twice)
    text = f"{product.title}（{category}，{grade or '无能效等级'}），{where}：\n" + "\n".join(
        dict.fromkeys(rows)
    )
    return ToolResult(True, text, {"product_id": product.id, "province": province})


def _national_terms(product: Product) -> tuple[str, str]:
    """The product's category and grade as the national table reads them."""
    category = str(product.attributes.get("国补品类") or product.category)
    return category, str(product.attributes.get("能效等级") or "")


async def _with_programmes(
    deps: TurnDeps, rule: Subsidy, product: Product, province: str, prices: list[int]
) -> ToolResult:
    """Each price quoted by the national table (when it applies to the shop) and every
    programme; the one that applies is named with its figures and why it was chosen."""
    on = deps.local(deps.now).date()
    purchase = Purchase(province, on, await _uses(deps, rule))
    rows, chosen = [], []
    for price in prices:
        national = None
        if rule.national:
            national = subsidy.quote(*_national_terms(product), price, province, on, rule)
        line = Line(product.category, product.attributes, price)
        shop = [quote_programme(p, line, purchase) for p in rule.programmes]
        pick = choose(national, shop, rule.choose)
        rows.append(_row(pick.chosen, pick.why, national, shop, price))
        chosen.append(
            {
                "price_fen": price,
                "programme": _id(pick.chosen),
                "amount_fen": pick.chosen.amount_fen if pick.chosen else 0,
            }
        )
    where = f"收货地区{province}" if province else "收货地区未知"
    text = f"{product.title}（{where}）：\n" + "\n".join(rows)
    data = {"product_id": product.id, "province": province, "subsidies": chosen}
    return ToolResult(True, text, data, text)


def _id(q: subsidy.Quote | ProgrammeQuote | None) -> str:
    if q is None:
        return ""
    return q.programme.id if isinstance(q, ProgrammeQuote) else "national"


def _row(
    chosen: subsidy.Quote | ProgrammeQuote | None,
    why: str,
    national: subsidy.Quote | None,
    shop: list[ProgrammeQuote],
    price: int,
) -> str:
    """Why the chosen programme was chosen (when several applied), its quote, then briefly why
    each of the others does not apply; when none applies, every reason."""
    every = [q for q in (national, *shop) if q is not None]
    if chosen is None:
        return "\n".join(q.text(price) if isinstance(q, subsidy.Quote) else q.text() for q in every)
    head = chosen.text(price) if isinstance(chosen, subsidy.Quote) else chosen.text()
    others = [f"{title(q)}不适用：{q.reason}" for q in every if not q.eligible]
    return (f"{why}。" if why else "") + head + "".join(f"（{o}）" for o in others)


async def _uses(deps: TurnDeps, rule: Subsidy) -> tuple[Use, ...]:
    """The shopper's earlier uses of programmes that limit uses per person, from their orders."""
    keys = {p.key for p in rule.programmes if any(lim.per == "person" for lim in p.limits)}
    if not keys:
        return ()
    orders = await deps.commerce.orders_for(deps.shopper.id, limit=200)
    marked = [o for o in orders if keys & o.extras.keys()]
    ids = {ln.product_id for o in marked for ln in o.lines}
    products = [await deps.commerce.get_product(i) for i in sorted(ids)]
    category_of = {p.id: p.category for p in products if p is not None}
    return past_uses(marked, keys, deps.tz, category_of)
