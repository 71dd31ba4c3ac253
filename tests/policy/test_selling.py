"""Pre-sales strategies in `policy.yaml`: pairing, upsell, promotions (满减) and stock-outs —
their shape (validated, each problem at its line and field) and what code works out from them."""

from __future__ import annotations

import random
import re
from datetime import date
from importlib.resources import files
from pathlib import Path

import pytest

from xiaoer.demo import catalog_stride, catalog_volt
from xiaoer.domain.errors import BadInput
from xiaoer.domain.models import Product
from xiaoer.policy import load_policy
from xiaoer.policy.load import check_policy
from xiaoer.policy.promotions import running_terms, saving
from xiaoer.policy.schema import ShopPolicy
from xiaoer.policy.selling import pairing_for, upsell_for
from xiaoer.policy.versions import policy_hash, policy_yaml

GOOD = """\
pairing:
  - for: {category: 跑鞋}
    suggest: {category: 袜子}
    say: 跑步建议配一双速干袜
  - for: {product: 1001}
    suggest: {products: [S1, S3]}
upsell:
  - {category: 跑鞋, up_to_percent: 20}
  - {up_to: 50, say: 多花一点更耐穿}
promotions:
  - id: d12
    name: 双12满减
    tiers: [{threshold: 300, minus: 30}, {threshold: 500, minus: 60}]
    stacks_with_coupons: true
    stacks_with_subsidy: false
    start: 2026-12-01
    end: 2026-12-12
stockout:
  alternatives: 3
  price_band_percent: 10
  say: 可以先收藏，到货后会提醒您。
coupons:
  - {id: NEW10, name: 新人券满99减10, amount: 10, min_spend: 99, new_customer_only: true}
  - {id: S20, name: 店铺券满199减20, amount: 20, min_spend: 199}
  - {id: S50, name: 店铺券满499减50, amount: 50, min_spend: 499}
"""

DEC3 = date(2026, 12, 3)


def _product(pid: str, category: str) -> Product:
    return Product(pid, "商品" + pid, category, "", "", {})


def problems(text: str) -> list[tuple[int, str, str]]:
    policy, found = check_policy(text)
    assert policy is None
    return [(p.line, p.field, p.message) for p in found]


def test_the_sections_load_with_amounts_in_fen_and_round_trip() -> None:
    p = load_policy(GOOD)
    assert p.pairing[0].for_.category == "跑鞋" and p.pairing[1].for_.product == "1001"
    assert p.pairing[1].suggest.products == ["S1", "S3"]
    assert p.upsell[1].up_to == 5000 and p.upsell[0].up_to_percent == 20
    assert [(t.threshold, t.minus) for t in p.promotions[0].tiers] == [(30000, 3000), (50000, 6000)]
    assert p.stockout.alternatives == 3
    assert load_policy(policy_yaml(p)) == p  # `policy show` prints `for:`, which loads again


def test_the_defaults_add_nothing() -> None:
    p = ShopPolicy()
    assert p.pairing == [] and p.upsell == [] and p.promotions == []
    assert p.stockout.alternatives == 0 and p.stockout.say == ""
    assert p.stockout.price_band_percent == 20


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("pairing:\n  - for: {category: 跑鞋, product: P1}\n    suggest: {category: 袜子}\n",
         (2, "pairing.0.for.category", "either product or category")),
        ("pairing:\n  - for: {category: 跑鞋}\n    suggest: {}\n",
         (3, "pairing.0.suggest.category", "either products or category")),
        ("pairing:\n  - suggest: {category: 袜子}\n", (2, "pairing.0.for", "Field required")),
        ("pairing:\n  - for: {category: 跑鞋}\n    suggest: {category: 袜子}\n    text: x\n",
         (4, "pairing.0.text", "Extra inputs")),
        ("upsell:\n  - {category: 跑鞋}\n", (2, "upsell.0.up_to", "either up_to_percent or up_to")),
        ("upsell:\n  - {up_to_percent: 20, up_to: 30}\n",
         (2, "upsell.0.up_to", "not both")),
        ("upsell:\n  - {up_to_percent: 150}\n", (2, "upsell.0.up_to_percent", "less than or equal")),
        ("upsell:\n  - {up_to: 三十}\n", (2, "upsell.0.up_to", "not an amount")),
        ("promotions:\n  - id: a\n    name: 满减\n    tiers: [{threshold: 300, minus: 300}]\n",
         (4, "promotions.0.tiers.0.minus", "as much as the threshold")),
        ("promotions:\n  - id: a\n    name: 满减\n    tiers:\n      - {threshold: 300, minus: 30}\n"
         "      - {threshold: 200, minus: 40}\n",
         (4, "promotions.0.tiers", "rising threshold")),
        ("promotions:\n  - id: a\n    name: 满减\n    tiers: [{threshold: 300, minus: 30}]\n"
         "    start: 2026-12-12\n    end: 2026-12-01\n",
         (6, "promotions.0.end", "before it starts")),
        ("promotions:\n  - id: a\n    name: 满减\n    tiers: [{threshold: 300, off: 30}]\n",
         (4, "promotions.0.tiers.0.minus", "Field required")),
        ("promotions:\n  - {id: a, name: x, tiers: [{threshold: 9, minus: 1}]}\n"
         "  - {id: a, name: y, tiers: [{threshold: 9, minus: 1}]}\n",
         (1, "promotions", "same id")),
        ("stockout:\n  alternatives: 9\n", (2, "stockout.alternatives", "less than or equal")),
        ("stockout:\n  alternative: 2\n", (2, "stockout.alternative", "Extra inputs")),
    ],
)  # fmt: skip
def test_a_problem_is_reported_at_its_line_and_field(
    text: str, where: tuple[int, str, str]
) -> None:
    line, field, words = where
    found = problems(text)
    assert any(f == field and n == line and words in m for n, f, m in found), found


def test_load_policy_names_the_file_line_and_field() -> None:
    with pytest.raises(BadInput) as exc:
        load_policy("upsell:\n  - {category: 跑鞋}\n", source="policy.yaml")
    assert "policy.yaml:2: upsell.0.up_to: Value error, give either" in str(exc.value)


def test_pairing_takes_the_first_rule_that_covers_the_product() -> None:
    p = load_policy(GOOD)
    shoe = _product("1001", "跑鞋")  # its own rule comes second: the category rule wins
    assert pairing_for(p.pairing, shoe) is p.pairing[0]
    assert pairing_for(p.pairing, _product("1001", "外套")) is p.pairing[1]
    assert pairing_for(p.pairing, _product("2002", "外套")) is None


def test_upsell_headroom_by_percent_or_amount() -> None:
    p = load_policy(GOOD)
    shoes = upsell_for(p.upsell, ["跑鞋"])
    assert shoes is p.upsell[0] and shoes.headroom(29999) == 5999  # 20 %, rounded down
    other = upsell_for(p.upsell, ["外套"])
    assert other is p.upsell[1] and other.headroom(100000) == 5000
    assert (
        upsell_for(load_policy("upsell:\n  - {category: 跑鞋, up_to: 9}\n").upsell, ["外套"])
        is None
    )


def test_the_stockout_price_band() -> None:
    assert load_policy(GOOD).stockout.band(29900) == (26910, 32890)
    assert load_policy("stockout: {price_band_percent: 0}").stockout.band(999) == (999, 999)


def test_a_stacking_promotion_then_the_best_coupon_on_what_is_left() -> None:
    p = load_policy(GOOD)
    s = saving(p.promotions, p.coupons, 32900, today=DEC3)
    assert (s.promotion_off, s.coupon.id if s.coupon else None, s.coupon_off, s.pay) == (
        3000, "S20", 2000, 27900,
    )  # fmt: skip
    assert s.text() == (
        "按¥329计算：双12满减满300减30，减¥30；再用店铺券满199减20，减¥20（与满减可叠加）；"
        "预计实付¥279。双12满减不与补贴同享。双12满减：再买¥171可减¥60。以结算页为准。"
    )


def test_the_coupon_threshold_is_checked_after_the_promotion() -> None:
    p = load_policy(GOOD)
    s = saving(p.promotions, p.coupons, 51000, today=DEC3)  # 510 - 60 = 450 < 499
    assert (s.promotion_off, s.coupon.id if s.coupon else None, s.pay) == (6000, "S20", 43000)


def test_a_promotion_that_does_not_stack_gives_way_to_a_bigger_coupon() -> None:
    text = GOOD.replace("stacks_with_coupons: true", "stacks_with_coupons: false")
    p = load_policy(text)
    small = saving(p.promotions, p.coupons, 32900, today=DEC3)  # 满减 30 beats the 20 coupon
    assert (small.promotion_off, small.coupon, small.pay) == (3000, None, 29900)
    assert "双12满减不与店铺券同享。" in small.text()
    big = saving(p.promotions, p.coupons, 49900, today=DEC3)  # 满减 30 < the 50 coupon
    assert (big.promotion, big.coupon.id if big.coupon else None, big.pay) == (None, "S50", 44900)
    assert "用券更划算" in big.text()


def test_dates_categories_and_new_customers() -> None:
    p = load_policy(GOOD)
    before = saving(p.promotions, p.coupons, 32900, today=date(2026, 11, 30))
    assert before.promotion is None and before.pay == 30900  # the coupon alone
    assert running_terms(p.promotions, date(2026, 12, 13)) == []
    assert running_terms(p.promotions, DEC3) == [
        "双12满减：满300减30、满500减60，与店铺券可叠加，不与补贴同享，12月1日至12月12日"
    ]
    only = load_policy(
        GOOD.replace("    start: 2026-12-01", "    categories: [跑鞋]\n    start: 2026-12-01")
    )
    assert saving(only.promotions, [], 32900, today=DEC3, categories=["外套"]).promotion is None
    assert saving(only.promotions, [], 32900, today=DEC3).promotion is None  # goods unknown
    assert saving(only.promotions, [], 32900, today=DEC3, categories=["跑鞋"]).pay == 29900
    cheap = saving(p.promotions, p.coupons, 15000, today=date(2026, 11, 1), new_customer=True)
    assert cheap.coupon is not None and cheap.coupon.id == "NEW10" and cheap.pay == 14000
    old = saving(p.promotions, p.coupons, 15000, today=date(2026, 11, 1))
    assert old.coupon is None and old.pay == 15000
    assert "没有可用的满减或店铺券" in old.text()


@pytest.mark.parametrize("name", ["stride", "volt"])
def test_the_demo_pairings_name_products_of_their_own_catalogue(name: str) -> None:
    text = (files("xiaoer.demo") / f"policy_{name}.yaml").read_text(encoding="utf-8")
    policy = load_policy(text)
    module = {"stride": catalog_stride, "volt": catalog_volt}[name]
    products, _ = module.build_products(random.Random(7))
    categories = {p["id"]: p["category"] for p in products}
    assert policy.pairing and policy.upsell and policy.stockout.alternatives
    for rule in policy.pairing:
        assert rule.for_.product in categories or rule.for_.category in categories.values()
        for pid in rule.suggest.products:
            assert categories.get(pid) not in (None, rule.for_.category), (name, pid)
    assert all(r.category in categories.values() for r in policy.upsell)


def test_the_documented_examples_load_and_say_what_the_docs_say() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "policy.md").read_text(encoding="utf-8")
    section = doc[doc.index("## 售前策略") : doc.index("## 店铺规则")]
    blocks = [load_policy(b) for b in re.findall(r"```yaml\n(.*?)```", section, re.S)]
    assert len(blocks) == 4
    pairing, upsell, promo, stockout = blocks
    assert pairing.pairing and upsell.upsell[1].up_to == 10000 and stockout.stockout.alternatives
    worked = saving(promo.promotions, promo.coupons, 32900, today=DEC3).text()
    assert worked in section


def test_a_policy_without_the_new_sections_keeps_its_version_hash() -> None:
    """Hashes as computed before the sections existed: the defaults and the held-out shop's
    policy still find the versions (and the actions' `policy_version`) they were stored under."""
    assert policy_hash(ShopPolicy()) == (
        "662377d3fd94e6aa64f9c8da14ba2ea725dfbc02edfed6d7c53956abd4d6b39f"
    )
    orchard = (files("xiaoer.demo") / "policy_orchard.yaml").read_text(encoding="utf-8")
    assert policy_hash(load_policy(orchard)) == (
        "ca2936fcd492ca1bcf8ebdaac2ac93f4d7b7470f87a96b2d4a727d53a41cce90"
    )
    stride = (files("xiaoer.demo") / "policy_stride.yaml").read_text(encoding="utf-8")
    assert policy_hash(load_policy(stride)) == (  # with rules, none of them using `unless`
        "3e0e845189963afc9777079631706837b2a9bef941e3e31dd1ca79486fe2a412"
    )
    assert policy_hash(load_policy("stockout: {alternatives: 1}")) != policy_hash(ShopPolicy())


def test_assist_mode_changes_the_hash_only_when_on() -> None:
    assert policy_hash(load_policy("handoff: {assist: false}")) == policy_hash(ShopPolicy())
    assert policy_hash(load_policy("handoff: {assist: true}")) != policy_hash(ShopPolicy())
