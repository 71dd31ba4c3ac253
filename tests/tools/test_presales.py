"""What the product and coupon lookups say from the shop's pre-sales strategies: the paired
products at their catalogue prices, one product over a stated budget, the 满减 worked out for
the amount the shopper named, and the alternatives to a sold-out option — with the output
guard still reading sold-out options as not in stock."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from xiaoer.commerce.fake import FakeCommerce
from xiaoer.domain.models import Product, Shop, Shopper, Sku, SkuStatus
from xiaoer.guard.claims import unsupported_claims
from xiaoer.policy import load_policy
from xiaoer.policy.schema import ShopPolicy
from xiaoer.tools.deps import TurnDeps
from xiaoer.tools.format import DETAIL_CHARS
from xiaoer.tools.registry import BY_NAME

get_product = BY_NAME["get_product"].run
search_products = BY_NAME["search_products"].run
list_coupons = BY_NAME["list_coupons"].run

DEC3 = datetime(2026, 12, 3, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
DEC20 = date(2026, 12, 20)


def _sku(pid: str, n: int, size: str, price: int, stock: int, **kw: object) -> Sku:
    return Sku(f"{pid}-{n}", pid, {"尺码": size}, price, stock, **kw)  # type: ignore[arg-type]


def _shoe(pid: str, title: str, *skus: Sku) -> Product:
    return Product(pid, title, "跑鞋", "疾行", "轻量跑鞋", {}, skus)


def _sock(pid: str, title: str, price: int, stock: int) -> Product:
    return Product(pid, title, "袜子", "疾行", "", {}, (_sku(pid, 1, "均码", price, stock),))


PRODUCTS = (
    _shoe("R1", "轻风跑鞋", _sku("R1", 1, "42", 29900, 5),
          _sku("R1", 2, "43", 29900, 0, status=SkuStatus.SOLD_OUT, restock_date=DEC20)),
    _shoe("R2", "云踏跑鞋", _sku("R2", 1, "43", 33900, 4)),
    _shoe("R3", "竞速碳板跑鞋", _sku("R3", 1, "43", 59900, 2)),
    _shoe("R4", "入门跑鞋", _sku("R4", 1, "43", 28000, 0, status=SkuStatus.SOLD_OUT)),
    _shoe("R5", "限量跑鞋", _sku("R5", 1, "43", 31900, 0, status=SkuStatus.SOLD_OUT)),
    _sock("S1", "速干跑步袜", 3900, 50),
    _sock("S2", "压缩小腿袜", 2900, 0),
    _sock("S3", "羊毛徒步袜", 4900, 8),
)  # fmt: skip

POLICY = """\
pairing:
  - for: {category: 跑鞋}
    suggest: {category: 袜子}
    say: 跑步建议配一双速干袜
upsell:
  - {category: 跑鞋, up_to_percent: 20}
promotions:
  - id: d12
    name: 双12满减
    tiers: [{threshold: 300, minus: 30}, {threshold: 500, minus: 60}]
    start: 2026-12-01
    end: 2026-12-12
stockout:
  alternatives: 2
  say: 可以先收藏商品，到货后留意店铺通知。
coupons:
  - {id: S20, name: 店铺券满199减20, amount: 20, min_spend: 199}
"""


def _deps(said: str, policy: str | ShopPolicy = POLICY, products: tuple[Product, ...] = PRODUCTS
          ) -> TurnDeps:  # fmt: skip
    shopper = Shopper("U1", "王芳", "13812345678")
    commerce = FakeCommerce(products=products, shoppers=[shopper])
    rules = load_policy(policy) if isinstance(policy, str) else policy
    return TurnDeps(Shop("s", "店"), shopper, commerce, DEC3, said=[said], policy=rules)


# ---------- pairing ----------


async def test_a_product_ends_with_the_paired_in_stock_products_at_their_prices() -> None:
    result = await get_product(_deps("轻风跑鞋怎么样"), {"product_id": "R1"})
    last = result.text.splitlines()[-1]
    assert (
        last == "搭配推荐：跑步建议配一双速干袜：速干跑步袜（编号S1）¥39、羊毛徒步袜（编号S3）¥49"
    )
    assert result.data["pairing"] == last  # the sold-out 压缩小腿袜 is not suggested


async def test_a_pairing_by_product_ids_keeps_their_order_and_skips_what_cannot_be_had() -> None:
    policy = "pairing:\n  - for: {product: R2}\n    suggest: {products: [S2, S3, NOPE, S1]}\n"
    shown = await get_product(_deps("云踏", policy), {"product_id": "R2"})
    assert (
        shown.text.splitlines()[-1] == "搭配推荐：羊毛徒步袜（编号S3）¥49、速干跑步袜（编号S1）¥39"
    )
    other = await get_product(_deps("轻风", policy), {"product_id": "R1"})
    assert "搭配推荐" not in other.text and "pairing" not in other.data


async def test_without_the_sections_a_product_reads_as_before() -> None:
    plain = await get_product(_deps("轻风跑鞋", ShopPolicy()), {"product_id": "R1"})
    assert plain.text.splitlines()[-1] == "- 43 ¥299 缺货，预计 12月20日到货"
    assert plain.data == {"product_id": "R1"}


async def test_the_added_lines_fit_in_what_the_model_reads() -> None:
    long = Product("R9", "长介绍跑鞋", "跑鞋", "", "很长的介绍。" * 200, {},
                   (_sku("R9", 1, "42", 29900, 3),))  # fmt: skip
    result = await get_product(
        _deps("长介绍跑鞋", products=(*PRODUCTS, long)), {"product_id": "R9"}
    )
    assert len(result.text) <= DETAIL_CHARS
    assert result.text.endswith("速干跑步袜（编号S1）¥39、羊毛徒步袜（编号S3）¥49")


# ---------- upsell ----------


async def test_one_product_over_a_stated_budget_is_added_and_marked() -> None:
    deps = _deps("300元以内的跑鞋有哪些")
    result = await search_products(deps, {"keyword": "跑鞋", "max_price": 300})
    assert result.data["product_ids"] == ["R1"]
    assert result.text.splitlines()[-1] == "预算外推荐（超出预算¥39）：云踏跑鞋（编号R2）¥339。"
    assert "R2" not in result.data["product_ids"] and result.data["upsell"]


async def test_no_upsell_beyond_the_headroom_or_without_a_budget_the_shopper_gave() -> None:
    tight = POLICY.replace("up_to_percent: 20", "up_to: 30")  # 301–330: nothing in stock
    result = await search_products(
        _deps("300元以内的跑鞋", tight), {"keyword": "跑鞋", "max_price": 300}
    )
    assert "预算外" not in result.text and "upsell" not in result.data
    invented = await search_products(_deps("有什么跑鞋"), {"keyword": "跑鞋", "max_price": 300})
    assert "预算外" not in invented.text  # the model's budget, not the shopper's: no budget
    other = POLICY.replace("{category: 跑鞋, up_to_percent", "{category: 袜子, up_to_percent")
    result = await search_products(
        _deps("300元以内的跑鞋", other), {"keyword": "跑鞋", "max_price": 300}
    )
    assert "预算外" not in result.text


# ---------- stock-outs ----------


async def test_a_sold_out_option_gets_its_date_the_same_products_options_then_others() -> None:
    deps = _deps("轻风跑鞋 43 码还有货吗")
    result = await get_product(deps, {"product_id": "R1"})
    answer = result.data["stock_answer"]
    assert answer == (
        "轻风跑鞋 43：缺货，预计 12月20日到货，¥299。\n"
        "同款现在有货的：42。\n"
        "同类可选：云踏跑鞋（编号R2）¥339。\n"  # one place left of 2; R3 is out of the ±20 % band
        "可以先收藏商品，到货后留意店铺通知。"
    )
    assert "同类可选：云踏跑鞋（编号R2）¥339。" in result.text
    assert [c for c in unsupported_claims(answer, result.text) if c.kind == "stock"] == []
    lie = "轻风跑鞋 43 码有货，¥299。"
    assert [c.kind for c in unsupported_claims(lie, result.text)] == ["stock"]


async def test_a_product_sold_out_in_every_option_offers_the_category() -> None:
    deps = _deps("入门跑鞋")
    result = await get_product(deps, {"product_id": "R4"})
    assert "同类可选：轻风跑鞋（编号R1）¥299。" in result.text  # R2's ¥339 is over ¥280 + 20 %
    assert "限量跑鞋" not in result.text  # sold out too
    wide = POLICY.replace("alternatives: 2", "alternatives: 2\n  price_band_percent: 25")
    wider = await get_product(_deps("入门跑鞋", wide), {"product_id": "R4"})
    assert "同类可选：轻风跑鞋（编号R1）¥299、云踏跑鞋（编号R2）¥339。" in wider.text


async def test_without_stockout_settings_the_stock_answer_is_unchanged() -> None:
    deps = _deps("轻风跑鞋 43 码还有货吗", ShopPolicy())
    result = await get_product(deps, {"product_id": "R1"})
    assert (
        result.data["stock_answer"]
        == "轻风跑鞋 43：缺货，预计 12月20日到货，¥299。\n同款现在有货的：42。"
    )


# ---------- promotions ----------


async def test_the_coupon_lookup_works_out_the_promotion_for_the_amount_named() -> None:
    result = await list_coupons(_deps("买329元的东西满减和券能一起用吗"), {})
    assert (
        "店铺活动：双12满减：满300减30、满500减60，与店铺券可叠加，12月1日至12月12日" in result.text
    )
    assert (
        "按¥329计算：双12满减满300减30，减¥30；再用店铺券满199减20，减¥20（与满减可叠加）；"
        "预计实付¥279。" in result.text
    )
    assert result.data["pay_fen"] == 27900 and result.data["promotion_ids"] == ["d12"]


async def test_without_an_amount_only_the_terms_and_after_the_dates_nothing() -> None:
    terms = await list_coupons(_deps("有什么活动"), {})
    assert "店铺活动：双12满减" in terms.text and "计算" not in terms.text
    later = replace(_deps("有什么活动"), now=DEC3.replace(day=13))
    over = await list_coupons(later, {})
    assert "店铺活动" not in over.text and "店铺券满199减20" in over.text


async def test_a_product_lookup_names_the_running_promotion() -> None:
    result = await get_product(_deps("轻风跑鞋"), {"product_id": "R1"})
    assert "店铺活动：双12满减：满300减30、满500减60" in result.text


async def test_an_amount_that_is_a_discount_names_the_coupon_not_the_cart() -> None:
    result = await list_coupons(_deps("那个20块的券怎么领"), {})
    assert "计算" not in result.text and "pay_fen" not in result.data


class _Names:
    """The knowledge base's product-name lookup, for a shopper who names 轻风跑鞋."""

    async def product_named(self, shop_id: str, text: str) -> str | None:
        return "R1" if "轻风" in text else None


async def test_a_named_product_is_worked_out_at_its_lowest_in_stock_price() -> None:
    deps = replace(_deps("轻风跑鞋有什么优惠"), knowledge=_Names())  # type: ignore[arg-type]
    result = await list_coupons(deps, {})
    assert (
        "按¥299计算：用店铺券满199减20，减¥20；预计实付¥279。双12满减：再买¥1可减¥30。"
        in result.text
    )
