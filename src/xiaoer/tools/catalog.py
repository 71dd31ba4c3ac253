"""Catalog tools: search_products, get_product."""

from __future__ import annotations

from typing import Any

from xiaoer.commerce.base import ProductQuery
from xiaoer.commerce.search import strip_unit
from xiaoer.domain.models import Product
from xiaoer.domain.money import parse_yuan, yuan
from xiaoer.llm.base import ToolSpec
from xiaoer.tools.base import Tool, ToolResult, schema
from xiaoer.tools.deps import TurnDeps
from xiaoer.tools.format import product_detail, product_line


def _price(value: Any) -> int | None:
    if value in (None, "", 0):
        return None
    try:
        return parse_yuan(value if not isinstance(value, float) else f"{value:.2f}")
    except ValueError:
        return None


def _grounded(deps: TurnDeps, args: dict[str, Any], name: str) -> Any:
    """A filter value only if the shopper said it: small models invent sizes, colours, prices."""
    value = args.get(name)
    if value in (None, "", 0):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = strip_unit(str(value))
    return value if deps.shopper_said(text) else None


def _query(deps: TurnDeps, args: dict[str, Any]) -> ProductQuery:
    return ProductQuery(
        keyword=str(args.get("keyword") or "").strip(),
        size=str(_grounded(deps, args, "size") or "").strip(),
        color=str(_grounded(deps, args, "color") or "").strip(),
        max_price_fen=_price(_grounded(deps, args, "max_price")),
        min_price_fen=_price(_grounded(deps, args, "min_price")),
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


async def search_products(deps: TurnDeps, args: dict[str, Any]) -> ToolResult:
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
    return ToolResult(
        True,
        f"找到{len(hits)}款（{cond}）：\n" + "\n".join(rows),
        {
            "product_ids": [h.product.id for h in hits],
            "sku_ids": [s for h in hits for s in h.matching_sku_ids],
        },
    )


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


async def get_product(deps: TurnDeps, args: dict[str, Any]) -> ToolResult:
    ref = str(args.get("product_id") or args.get("name") or "").strip()
    if not ref:
        return ToolResult(False, "缺少商品编号或名称。先用 search_products 找到商品。")
    product = await resolve_product(deps, ref)
    if product is None:
        return ToolResult(False, f"没有找到商品“{ref}”。请用 search_products 搜索。")
    return ToolResult(True, product_detail(product), {"product_id": product.id})


CATALOG_TOOLS = (
    Tool(
        ToolSpec(
            "search_products",
            "按关键词、规格、价格搜索本店有货的商品，返回名称、编号、价格和库存。",
            schema(
                {
                    "keyword": {"type": "string", "description": "商品类型或名称，如顾客所说"},
                    "size": {"type": "string", "description": "尺码，照顾客原话；没说就不填"},
                    "color": {"type": "string", "description": "颜色；没说就不填"},
                    "max_price": {"type": "number", "description": "最高价格（元）；没说就不填"},
                    "min_price": {"type": "number", "description": "最低价格（元）；没说就不填"},
                },
                ["keyword"],
            ),
        ),
        search_products,
        answer_hint="，说出商品名称和价格",
    ),
    Tool(
        ToolSpec(
            "get_product",
            "查看一个商品的详情：参数、尺码表、每个规格的价格和库存。",
            schema(
                {"product_id": {"type": "string", "description": "商品编号或商品名称"}},
                ["product_id"],
            ),
        ),
        get_product,
        answer_hint="，说出顾客问的规格、价格和库存",
    ),
)
