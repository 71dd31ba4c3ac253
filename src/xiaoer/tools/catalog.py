"""Catalog tools: search_products, get_product.

Both add the shop's pre-sales lines (`presale.py`, from `pairing`, `upsell`, `stockout` and
`promotions` in the policy): a product over a stated budget after the list; after a product's
detail the alternatives to what is sold out, the running promotions and, last, what pairs
with it."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, BeforeValidator, Field

from xiaoer.commerce.base import ProductQuery
from xiaoer.commerce.search import named_value, strip_unit
from xiaoer.domain.models import Product, Sku
from xiaoer.domain.money import parse_yuan, yuan
from xiaoer.policy.promotions import running_terms
from xiaoer.tools.args import ToolArgs, asked
from xiaoer.tools.base import ToolResult, typed
from xiaoer.tools.deps import TurnDeps
from xiaoer.tools.format import product_detail, product_line, stock_answer
from xiaoer.tools.presale import pairing_line, stockout_lines, upsell_line


def _yuan_text(value: Any) -> Any:
    """A price given as text with a currency sign or unit ("¥300", "300元") reads as the number."""
    if isinstance(value, str):
        return value.replace("¥", "").replace("￥", "").replace("元", "").replace(",", "").strip()
    return value


type Yuan = Annotated[float, BeforeValidator(_yuan_text)]


class SearchArgs(ToolArgs):
    keyword: str = asked("商品类型或名称，如顾客所说")
    """Missing: every product (that matches the other filters)."""
    size: str = Field("", description="尺码，照顾客原话；没说就不填")
    color: str = Field("", description="颜色；没说就不填")
    max_price: Yuan = Field(0, description="最高价格（元）；没说就不填")
    min_price: Yuan = Field(0, description="最低价格（元）；没说就不填")


class ProductArgs(ToolArgs):
    product_id: str = Field(
        description="商品编号或商品名称", validation_alias=AliasChoices("product_id", "name")
    )


def _price(value: float) -> int | None:
    if not value:
        return None
    try:
        return parse_yuan(f"{value:.2f}")
    except ValueError:
        return None


def _grounded[V: (str, float)](deps: TurnDeps, value: V) -> V | None:
    """A filter value only if the shopper said it: small models invent sizes, colours, prices."""
    if not value:
        return None
    text = strip_unit(str(int(value) if isinstance(value, float) and value.is_integer() else value))
    return value if deps.shopper_said(text) else None


def _query(deps: TurnDeps, args: SearchArgs) -> ProductQuery:
    return ProductQuery(
        keyword=args.keyword,
        size=_grounded(deps, args.size) or "",
        color=_grounded(deps, args.color) or "",
        max_price_fen=_price(_grounded(deps, args.max_price) or 0),
        min_price_fen=_price(_grounded(deps, args.min_price) or 0),
        in_stock_only=True,
        limit=5,
    )


def _conditions(q: ProductQuery) -> str:
    parts = [q.keyword or "全部商品"]
    if q.size:
        parts.append(f"尺码 {q.size}")
    if q.color:
        parts.append(q.color)
    if q.min_price_fen is not None:
        parts.append(f"≥{yuan(q.min_price_fen)}")
    if q.max_price_fen is not None:
        parts.append(f"≤{yuan(q.max_price_fen)}")
    return "，".join(parts) + "，有货"


async def search_products(deps: TurnDeps, args: SearchArgs) -> ToolResult:
    query = _query(deps, args)
    hits = await deps.commerce.search_products(query)
    cond = _conditions(query)
    if not hits:
        return ToolResult(
            True,
            f"没有找到符合条件的商品（{cond}）。如实告诉顾客没有，可以建议放宽条件。",
            {"product_ids": []},
        )
    rows = [
        f"{i}. {product_line(h.product, h.matching_sku_ids)}" for i, h in enumerate(hits, start=1)
    ]
    data: dict[str, Any] = {
        "product_ids": [h.product.id for h in hits],
        "sku_ids": [s for h in hits for s in h.matching_sku_ids],
    }
    if upsell := await upsell_line(deps, query, [h.product for h in hits]):
        rows.append(upsell)  # the shop's `upsell`: one product a little over the stated budget
        data["upsell"] = upsell
    return ToolResult(True, f"找到{len(hits)}款（{cond}）：\n" + "\n".join(rows), data)


async def resolve_product(deps: TurnDeps, ref: str) -> Product | None:
    """A product by id, or by a name that matches as a whole word (a loose match would answer
    about a different product)."""
    product = await deps.commerce.get_product(ref.upper()) or await deps.commerce.get_product(ref)
    if product is None:
        hits = await deps.commerce.search_products(
            ProductQuery(keyword=ref, in_stock_only=False, limit=1)
        )
        product = hits[0].product if hits and hits[0].score >= 1.0 else None
    return product


def asked_skus(product: Product, text: str) -> list[Sku]:
    """The product's SKUs with the option values the text names (as the product's own values,
    whole tokens; the product's title is taken out first): for an option named more than once
    ("赭石紫灰都行"), any of the values named; [] when it names none."""
    text = text.replace(product.title, " ")
    values: dict[str, set[str]] = {}
    for sku in product.skus:
        for k, v in sku.options.items():
            values.setdefault(k, set()).add(v)
    named = {k: found for k, vs in values.items() if (found := _all_named(text, vs))}
    if not named:
        return []
    return [s for s in product.skus if all(s.options.get(k) in v for k, v in named.items())]


def _all_named(text: str, values: set[str]) -> set[str]:
    """Every one of `values` the text names, longest first, each taken out of the text once
    found (so 紫灰 named does not also name 灰)."""
    found: set[str] = set()
    left = set(values)
    while (value := named_value(text, left)) is not None:
        found.add(value)
        left.discard(value)
        text = text.replace(value, " ")
    return found


async def get_product(deps: TurnDeps, args: ProductArgs) -> ToolResult:
    ref = args.product_id
    product = await resolve_product(deps, ref)
    if product is None:
        return ToolResult(False, f"没有找到商品“{ref}”。请用 search_products 搜索。")
    asked = asked_skus(product, deps.said[-1]) if deps.said else []
    data: dict[str, Any] = {"product_id": product.id}
    gone = await stockout_lines(deps, product, asked)  # the shop's `stockout` settings
    if asked:  # the turn answers a stock question with it, word for word from the record
        data["stock_answer"] = "\n".join([stock_answer(product, asked), *gone])
    tail = list(gone)
    today = deps.local(deps.now).date()
    if deals := running_terms(deps.policy.promotions, today, [product.category]):
        tail.append("店铺活动：" + "；".join(deals))
    if paired := await pairing_line(deps, product):
        tail.append(paired)  # last: the one short line of what goes with it
        data["pairing"] = paired
    text = product_detail(product, asked, reserve=sum(len(t) + 1 for t in tail))
    return ToolResult(True, "\n".join([text, *tail]), data)


CATALOG_TOOLS = (
    typed(
        "search_products",
        "按关键词、规格、价格搜索本店有货的商品，返回名称、编号、价格和库存。",
        search_products,
        answer_hint="，说出商品名称和价格",
    ),
    typed(
        "get_product",
        "查看一个商品的详情：参数、尺码表、每个规格的价格和库存。",
        get_product,
        answer_hint="，直接回答顾客问的那一点；说价格或库存时带上对应的规格",
    ),
)
