"""Every policy rule, table by table, on hand-made orders."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from xiaoer.domain.errors import BadInput
from xiaoer.domain.models import Address, Order, OrderLine, OrderStatus, Product, Sku
from xiaoer.policy import load_policy, parse_policy, rules
from xiaoer.policy.schema import ShopPolicy, Subsidy
from xiaoer.policy.subsidy import quote

NOW = datetime(2026, 11, 20, 14, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
ADDR = Address("王芳", "13812345678", "浙江省", "杭州市", "西湖区", "文三路 100 号")
SHOE = Product(
    "P1", "疾风 3 男子缓震跑鞋", "跑鞋", "步履", "", {"尺码偏差": "偏小半码"},
    (Sku("P1-BLK-42", "P1", {"颜色": "黑色", "尺码": "42"}, 29900, 5),
     Sku("P1-BLK-43", "P1", {"颜色": "黑色", "尺码": "43"}, 29900, 0),
     Sku("P1-WHT-42", "P1", {"颜色": "白色", "尺码": "42"}, 29900, 3),
     Sku("P1-RED-42", "P1", {"颜色": "红色", "尺码": "42"}, 31900, 3)),
)  # fmt: skip
CUSTOM = Product("P9", "定制印花帆布鞋", "休闲鞋", "步履", "", {}, (), ("定制款",))
BUDS = Product("P5", "声澜 FreeBuds 5", "蓝牙耳机", "声澜", "", {}, ())
LINE = OrderLine("P1-BLK-42", "P1", "疾风 3 男子缓震跑鞋", {"颜色": "黑色", "尺码": "42"}, 29900, 1)
SOCKS = OrderLine("P7-M", "P7", "篮球袜", {}, 3900, 2)


def order(status: str = "待发货", *, delivered_days: float | None = None, **kw: object) -> Order:
    base = Order(
        "SO1", "U1", OrderStatus(status), NOW - timedelta(days=10), (LINE,), 29900, 29900, ADDR,
        paid_at=NOW - timedelta(days=10),
        delivered_at=None if delivered_days is None else NOW - timedelta(days=delivered_days),
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


POLICY = load_policy(
    """
refund: {auto_limit: 200}
returns:
  no_reason_days: 7
  quality_days: 30
  exclusions:
    - {tags: [定制款], reason: 定制款不支持7天无理由退货}
    - {categories: [蓝牙耳机], said: [拆封, 拆开], reason: 蓝牙耳机拆封后不支持}
  pickup_fee: {空调: 200}
  quality_words: [质量, 坏, 破, 故障, 开胶]
exchange: {days: 7, quality_days: 30, per_order: 1}
retention:
  offers:
    - {kind: coupon, amount: 20, max_order: 499}
    - {kind: partial_refund, percent: 5, max: 200, min_order: 499}
  per_order: 1
  per_shopper: 2
price_protection: {enabled: true, days: 15}
invoice: {types: [电子普通发票, 增值税专用发票], states: [已签收, 已完成]}
"""
)


@pytest.mark.parametrize(
    ("status", "allowed", "rule"),
    [
        ("待付款", True, "cancel.states"),
        ("待发货", True, "cancel.states"),
        ("已发货", False, "cancel.states"),
        ("已签收", False, "cancel.states"),
        ("已取消", False, "cancel.states"),
        ("售后中", False, "cancel.states"),
    ],
)
def test_cancel(status: str, allowed: bool, rule: str) -> None:
    v = rules.check_cancel(POLICY, order(status))
    assert (v.allowed, v.rule) == (allowed, rule)


@pytest.mark.parametrize(
    ("status", "done_before", "allowed", "rule"),
    [
        ("待发货", 0, True, "address_change.states"),
        ("待发货", 1, False, "address_change.max_changes"),
        ("已发货", 0, False, "address_change.states"),
        ("已签收", 0, False, "address_change.states"),
    ],
)
def test_address_change(status: str, done_before: int, allowed: bool, rule: str) -> None:
    v = rules.check_address_change(POLICY, order(status), done_before)
    assert (v.allowed, v.rule) == (allowed, rule)
    if status == "已发货":
        assert "改派" in v.reason


def test_subsidy_warning_only_when_leaving_the_province() -> None:
    o = order(extras={"national_subsidy": {"category": "空调"}})
    assert "国补" in rules.subsidy_region_warning(POLICY, o, "北京市")
    assert rules.subsidy_region_warning(POLICY, o, "浙江省") == ""
    assert rules.subsidy_region_warning(POLICY, order(), "北京市") == ""


@pytest.mark.parametrize(
    ("status", "said", "amount", "allowed", "approval", "rule", "fen"),
    [
        ("待发货", "拍错了", None, True, True, "refund.auto_limit", 29900),
        ("已签收", "不想要了", None, False, False, "refund.shipped_needs_reason", 0),
        ("已签收", "鞋子开胶了", 5000, True, False, "refund.states", 5000),
        ("已签收", "鞋子开胶了", 40000, False, False, "refund.amount", 29900),
        ("待付款", "拍错了", None, False, False, "refund.states", 0),
        ("已取消", "拍错了", None, False, False, "refund.states", 0),
    ],
)
def test_refund(
    status: str, said: str, amount: int | None, allowed: bool, approval: bool, rule: str, fen: int
) -> None:
    m = rules.check_refund(POLICY, order(status, delivered_days=2), [said], amount_fen=amount)
    assert (m.verdict.allowed, m.verdict.needs_approval, m.verdict.rule) == (
        allowed,
        approval,
        rule,
    )
    assert m.amount_fen == fen


@pytest.mark.parametrize(
    ("days", "product", "said", "allowed", "rule"),
    [
        (3, SHOE, "不喜欢", True, "returns.no_reason_days"),
        (7.5, SHOE, "不喜欢", False, "returns.no_reason_days"),
        (20, SHOE, "鞋底开胶了", True, "returns.quality_days"),
        (31, SHOE, "鞋底开胶了", False, "returns.quality_days"),
        (2, CUSTOM, "不喜欢", False, "returns.exclusions"),
        (2, CUSTOM, "印错字了，质量问题", True, "returns.quality_days"),
        (2, BUDS, "拆开试了音质一般", False, "returns.exclusions"),
        (2, BUDS, "没拆封，不想要了", True, "returns.no_reason_days"),
        (2, SHOE, "没穿出去过，不喜欢", True, "returns.no_reason_days"),
        (2, CUSTOM, "没有质量问题，就是不喜欢", False, "returns.exclusions"),
        (2, BUDS, "不想要了", True, "returns.no_reason_days"),
    ],
)
def test_return(days: float, product: Product, said: str, allowed: bool, rule: str) -> None:
    line = replace(LINE, product_id=product.id, title=product.title)
    o = order("已签收", delivered_days=days, lines=(line,))
    m = rules.check_return(POLICY, o, [line], {product.id: product}, [said], NOW)
    assert (m.verdict.allowed, m.verdict.rule) == (allowed, rule)
    if allowed:
        assert m.amount_fen == 29900


def test_return_needs_delivery() -> None:
    for status in ("待发货", "已发货", "已取消", "售后中"):
        m = rules.check_return(POLICY, order(status), [LINE], {"P1": SHOE}, ["不喜欢"], NOW)
        assert not m.verdict.allowed


def test_partial_return_refunds_the_lines_share_of_what_was_paid() -> None:
    # 299 shoe + 2 × 39 socks = 377, paid 357 after a 20 coupon, plus 8 shipping
    o = order("已签收", delivered_days=1, lines=(LINE, SOCKS), total_fen=37700,
              discount_fen=2000, shipping_fee_fen=800, pay_fen=36500)  # fmt: skip
    assert rules.line_share(o, [SOCKS]) == (36500 - 800) * 7800 // 37700
    assert rules.line_share(o, [LINE, SOCKS]) == 35700


@pytest.mark.parametrize(
    ("days", "target", "said", "done", "allowed", "rule"),
    [
        (3, "P1-WHT-42", "想换白色", 0, True, "exchange.days"),
        (3, "P1-BLK-43", "换43码", 0, False, "exchange.stock"),
        (3, "P1-RED-42", "换红色", 0, False, "exchange.target"),
        (9, "P1-WHT-42", "想换白色", 0, False, "exchange.days"),
        (20, "P1-BLK-42", "鞋面开胶了换新", 0, True, "exchange.days"),
        (3, "P1-WHT-42", "想换白色", 1, False, "exchange.per_order"),
    ],
)
def test_exchange(days: float, target: str, said: str, done: int, allowed: bool, rule: str) -> None:
    sku = next(s for s in SHOE.skus if s.id == target)
    o = order("已签收", delivered_days=days)
    v = rules.check_exchange(POLICY, o, LINE, sku, [said], NOW, done)
    assert (v.allowed, v.rule) == (allowed, rule)


@pytest.mark.parametrize(
    ("said", "pay", "on_order", "to_shopper", "kind", "fen", "rule"),
    [
        ("觉得贵了", 29900, 0, 0, "coupon", 2000, "retention.offers"),
        ("别家便宜", 89900, 0, 0, "partial_refund", 4495, "retention.offers"),
        ("别家便宜", 900000, 0, 0, "partial_refund", 20000, "retention.offers"),
        ("拍错了", 29900, 0, 0, None, 0, "retention.when_reason"),
        ("太贵了而且质量不好", 29900, 0, 0, None, 0, "retention.never_when"),
        ("太贵了", 29900, 1, 1, None, 0, "retention.per_order"),
        ("太贵了", 29900, 0, 2, None, 0, "retention.per_shopper"),
    ],
)
def test_retention(
    said: str, pay: int, on_order: int, to_shopper: int, kind: str | None, fen: int, rule: str
) -> None:
    v, offer = rules.retention_offer(
        POLICY, order(pay_fen=pay), [said], offers_on_order=on_order, offers_to_shopper=to_shopper
    )
    assert v.rule == rule
    assert (offer.offer.kind, offer.amount_fen) == (kind, fen) if offer else kind is None


def test_retention_off_without_offers() -> None:
    v, offer = rules.retention_offer(
        ShopPolicy(), order(), ["太贵了"], offers_on_order=0, offers_to_shopper=0
    )
    assert offer is None and v.rule == "retention.enabled"


@pytest.mark.parametrize(
    ("price_now", "paid_days", "enabled", "allowed", "fen", "rule"),
    [
        (25900, 3, True, True, 4000, "price_protection.days"),
        (29900, 3, True, False, 0, "price_protection.no_drop"),
        (25900, 16, True, False, 0, "price_protection.days"),
        (25900, 3, False, False, 0, "price_protection.enabled"),
    ],
)
def test_price_protection(
    price_now: int, paid_days: int, enabled: bool, allowed: bool, fen: int, rule: str
) -> None:
    policy = POLICY.model_copy(
        update={"price_protection": POLICY.price_protection.model_copy(update={"enabled": enabled})}
    )
    o = order("已签收", delivered_days=1, paid_at=NOW - timedelta(days=paid_days))
    current = {"P1-BLK-42": replace(SHOE.skus[0], price_fen=price_now)}
    m = rules.check_price_protection(policy, o, current, NOW)
    assert (m.verdict.allowed, m.amount_fen, m.verdict.rule) == (allowed, fen, rule)
    if rule == "price_protection.no_drop":  # the two prices, so the shopper sees why
        assert m.verdict.reason == f"{SHOE.title}购买价¥299、现价¥299，没有降价，不产生差价"


@pytest.mark.parametrize(
    ("status", "kind", "title", "tax_id", "subsidy", "allowed", "rule"),
    [
        ("已签收", "电子普通发票", "个人", "", False, True, "invoice.types"),
        ("已签收", "增值税专用发票", "杭州步履科技有限公司", "91350100M000100Y43", False, True, "invoice.types"),
        ("已签收", "增值税专用发票", "杭州步履科技有限公司", "91350100M000100Y4X", False, False, "invoice.tax_id"),
        ("已签收", "增值税专用发票", "个人", "", False, False, "invoice.types"),
        ("已签收", "增值税专用发票", "杭州步履科技有限公司", "91350100M000100Y43", True, False, "invoice.subsidy_personal_only"),
        ("待发货", "电子普通发票", "个人", "", False, False, "invoice.states"),
    ],
)  # fmt: skip
def test_invoice(
    status: str, kind: str, title: str, tax_id: str, subsidy: bool, allowed: bool, rule: str
) -> None:
    o = order(status, extras={"national_subsidy": {}} if subsidy else {})
    v = rules.check_invoice(POLICY, o, kind, title, tax_id)
    assert (v.allowed, v.rule) == (allowed, rule)


def test_tax_id_check_character() -> None:
    assert rules.valid_tax_id("91350100M000100Y43")  # the example code in GB 32100 guides
    assert not rules.valid_tax_id("91350100M000100Y4X")
    assert not rules.valid_tax_id("9133010")


OVERLAY = Subsidy(
    enabled=True,
    regions={
        "上海市": {"status": "quota_exhausted", "note": "本月名额已领完"},
        "广东省": {"extra_categories": {"电饭煲": 15}},
        "四川省": {"start": "2026-12-01"},
    },  # type: ignore[dict-item]
)
D2025, D2026 = date(2025, 6, 1), date(2026, 11, 20)


@pytest.mark.parametrize(
    ("category", "grade", "price", "province", "on", "eligible", "fen"),
    [
        ("空调", "一级", 299900, "浙江省", D2025, True, 59980),  # 20 %
        ("空调", "二级", 299900, "浙江省", D2025, True, 44985),  # 15 %
        ("冰箱", "一级", 1299900, "浙江省", D2025, True, 200000),  # capped at 2,000
        ("空调", "一级", 299900, "浙江省", D2026, True, 44985),  # 2026: 15 %
        ("空调", "二级", 299900, "浙江省", D2026, False, 0),  # 2026: grade 1 only
        ("冰箱", "一级", 1299900, "浙江省", D2026, True, 150000),  # capped at 1,500
        ("微波炉", "一级", 59900, "浙江省", D2026, False, 0),  # dropped in 2026
        ("电饭煲", "", 59900, "广东省", D2026, True, 8985),  # provincial top-up
        ("手机", "", 299900, "浙江省", D2026, True, 44985),
        ("手机", "", 399900, "浙江省", D2026, True, 50000),  # capped at 500
        ("手机", "", 649900, "浙江省", D2026, False, 0),  # over the 6,000 ceiling
        ("智能眼镜", "", 199900, "浙江省", D2026, True, 29985),  # new in 2026
        ("智能眼镜", "", 199900, "浙江省", D2025, False, 0),
        ("手机", "", 299900, "浙江省", date(2025, 1, 10), False, 0),  # digital from 01-20
        ("手机", "", 299900, "上海市", D2026, False, 0),  # quota exhausted
        ("手机", "", 299900, "四川省", D2026, False, 0),  # not started yet
        ("智能手表", "", 69900, "浙江省", D2026, True, 10485),  # alias → 智能手表手环
    ],
)
def test_subsidy(
    category: str, grade: str, price: int, province: str, on: date, eligible: bool, fen: int
) -> None:
    q = quote(category, grade, price, province, on, OVERLAY)
    assert (q.eligible, q.amount_fen) == (eligible, fen)
    assert "以当地政策为准" in q.text(price) and "政策发布日期" in q.text(price)


def test_invalid_policy_names_the_field() -> None:
    with pytest.raises(BadInput) as err:
        load_policy("refund: {auto_limit: -5}\nretention: {offers: [{kind: cash}]}\n")
    message = err.value.message
    assert "refund.auto_limit" in message and "retention.offers.0.kind" in message
    with pytest.raises(BadInput, match=r"policy.yaml:\d+: not valid YAML"):
        load_policy("refund:\n  auto_limit: [1\n")
    with pytest.raises(BadInput, match="cancel.statez"):
        load_policy("cancel: {statez: [待发货]}")


def test_money_round_trips_through_storage() -> None:
    dumped = POLICY.model_dump(mode="json")
    assert dumped["refund"]["auto_limit"] == "200"
    again = parse_policy(dumped)
    assert again == POLICY and again.refund.auto_limit == 20000
