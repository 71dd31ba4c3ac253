"""Quoting a shop subsidy programme, construct by construct: dates, provinces, categories,
tiers, caps, limits, conditions; earlier uses read from orders; which programme applies."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from xiaoer.domain.models import Address, Order, OrderLine, OrderStatus
from xiaoer.policy import load_policy
from xiaoer.policy.programme_quote import (
    Line,
    Purchase,
    Use,
    choose,
    past_uses,
    quote_programme,
    same_province,
)
from xiaoer.policy.programmes import Programme
from xiaoer.policy.subsidy import Quote

TZ = ZoneInfo("Asia/Shanghai")
ON = date(2026, 6, 15)
# Attribute names, values and categories are the policy's: made-up words, not any shop's.
BASE: dict[str, Any] = {
    "id": "p1",
    "name": "店铺焕新补贴",
    "tier_by": "档位",
    "tiers": [{"value": "甲", "percent": 20}, {"value": "乙", "percent": 15}],
}
LINE = Line("甲类电器", {"档位": "甲"}, 300000)
HERE = Purchase("浙江省", ON)


def programme(**fields: Any) -> Programme:
    return Programme.model_validate(BASE | fields)


def quoted(line: Line = LINE, purchase: Purchase = HERE, **fields: Any) -> tuple[bool, int, str]:
    q = quote_programme(programme(**fields), line, purchase)
    return q.eligible, q.amount_fen, q.reason


@pytest.mark.parametrize(
    ("fields", "on", "eligible", "reason"),
    [
        ({"start": "2026-06-15", "end": "2026-06-15"}, ON, True, ""),  # both days inclusive
        ({"start": "2026-06-16"}, ON, False, "活动从2026-06-16开始"),
        ({"end": "2026-06-14"}, ON, False, "活动已于2026-06-14结束"),
        ({"start": "2026-01-01"}, ON, True, ""),
    ],
)
def test_dates(fields: dict[str, Any], on: date, eligible: bool, reason: str) -> None:
    ok, _, why = quoted(purchase=Purchase("浙江省", on), **fields)
    assert (ok, why) == (eligible, reason)


@pytest.mark.parametrize(
    ("province", "eligible", "reason"),
    [
        ("浙江省", True, ""),
        ("江苏", True, ""),  # written without 省
        ("上海市", False, "仅限收货地址在浙江省、江苏省，上海市不在活动范围内"),
        ("", False, "仅限收货地址在浙江省、江苏省，需要先确认您的收货省份"),
    ],
)
def test_regions(province: str, eligible: bool, reason: str) -> None:
    ok, _, why = quoted(purchase=Purchase(province, ON), regions=["浙江省", "江苏省"])
    assert (ok, why) == (eligible, reason)
    assert quoted(purchase=Purchase("", ON))[0]  # no regions: everywhere


def test_same_province() -> None:
    assert same_province("广西", "广西壮族自治区") and same_province("上海", "上海市")
    assert not same_province("浙江省", "江苏省") and not same_province("", "")


@pytest.mark.parametrize(
    ("fields", "eligible"),
    [
        ({}, True),
        ({"categories": ["甲类电器", "乙类电器"]}, True),
        ({"categories": ["乙类电器"]}, False),
        ({"exclude_categories": ["甲类电器"]}, False),
        ({"exclude_categories": ["乙类电器"]}, True),
    ],
)
def test_categories(fields: dict[str, Any], eligible: bool) -> None:
    ok, _, why = quoted(**fields)
    assert ok is eligible and (ok or why == "甲类电器不在活动品类内")


@pytest.mark.parametrize(
    ("attributes", "eligible", "fen", "reason"),
    [
        ({"档位": "甲"}, True, 60000, ""),  # 20 %
        ({"档位": "乙"}, True, 45000, ""),  # 15 %
        ({"档位": " 乙 "}, True, 45000, ""),
        ({"档位": "丙"}, False, 0, "档位为丙，活动只补贴档位为甲、乙的商品"),
        ({}, False, 0, "商品没有档位信息，活动只补贴档位为甲、乙的商品"),
    ],
)
def test_tiers_by_the_attribute_the_policy_names(
    attributes: dict[str, Any], eligible: bool, fen: int, reason: str
) -> None:
    assert quoted(Line("甲类电器", attributes, 300000)) == (eligible, fen, reason)


def test_a_fixed_amount_tier_and_a_single_tier() -> None:
    fixed = {"tiers": [{"value": "甲", "amount": 300}, {"value": "乙", "percent": 15}]}
    assert quoted(**fixed)[:2] == (True, 30000)
    assert quoted(Line("甲类电器", {"档位": "甲"}, 20000), **fixed)[:2] == (True, 20000)  # ≤ price
    flat = {"tier_by": "", "tiers": [{"percent": 5}]}
    assert quoted(Line("乙类电器", {}, 300000), **flat)[:2] == (True, 15000)


def test_caps_per_item_and_per_order() -> None:
    assert quoted(caps={"item": 500})[:2] == (True, 50000)
    three = Line("甲类电器", {"档位": "甲"}, 300000, quantity=3)
    assert quoted(three)[:2] == (True, 180000)
    assert quoted(three, caps={"item": 500})[:2] == (True, 150000)
    assert quoted(three, caps={"item": 500, "order": 1200})[:2] == (True, 120000)


def _use(category: str = "甲类电器", on: date = date(2026, 5, 1), key: str = "p1") -> Use:
    return Use(key, category, "SO9", on)


@pytest.mark.parametrize(
    ("limit", "uses", "eligible"),
    [
        ({"count": 1}, [], True),
        ({"count": 1}, [_use()], False),
        ({"count": 2}, [_use()], True),
        ({"count": 1}, [_use("乙类电器")], True),  # per category: another category's use
        ({"count": 1, "by": "programme"}, [_use("乙类电器")], False),
        ({"count": 1}, [_use(key="other")], True),  # another programme's use
        ({"count": 1, "period": "year"}, [_use(on=date(2025, 12, 31))], True),
        ({"count": 1, "period": "year"}, [_use(on=date(2026, 1, 1))], False),
        ({"count": 1, "period": "month"}, [_use(on=date(2026, 5, 31))], True),
        ({"count": 1, "period": "month"}, [_use(on=date(2026, 6, 1))], False),
        ({"count": 1, "period": "days", "days": 30}, [_use(on=ON - timedelta(days=30))], True),
        ({"count": 1, "period": "days", "days": 30}, [_use(on=ON - timedelta(days=29))], False),
    ],
)
def test_person_limits_count_earlier_uses(
    limit: dict[str, Any], uses: list[Use], eligible: bool
) -> None:
    ok, _, why = quoted(purchase=Purchase("浙江省", ON, tuple(uses)), limits=[limit])
    assert ok is eligible
    assert ok or "您2026-" in why and "的订单SO9已经享受过" in why


def test_a_programme_period_counts_uses_within_its_dates_only() -> None:
    dated = {"start": "2026-05-10", "end": "2026-12-31", "limits": [{"count": 1}]}
    before = Purchase("浙江省", ON, (_use(on=date(2026, 5, 9)),))
    within = Purchase("浙江省", ON, (_use(on=date(2026, 5, 10)),))
    assert quoted(purchase=before, **dated)[0] and not quoted(purchase=within, **dated)[0]
    assert "每人每类限1件（活动期内）" in quoted(purchase=within, **dated)[2]


def test_a_person_limit_leaves_some_units_and_an_order_limit_caps_them() -> None:
    three = Line("甲类电器", {"档位": "甲"}, 100000, quantity=3)
    some = Purchase("浙江省", ON, (_use(),))
    q = quote_programme(programme(limits=[{"count": 2}]), three, some)
    assert (q.eligible, q.amount_fen) == (True, 20000)  # one unit left of two
    assert "这一单3件中1件可以补贴" in q.text()
    per_order = programme(limits=[{"count": 2, "per": "order"}])
    assert quote_programme(per_order, three, HERE).amount_fen == 40000
    assert "每单每类限2件" in quote_programme(per_order, three, HERE).text()


def test_conditions_invoice_and_coupons() -> None:
    strict = {"needs_invoice": True, "stacks_with_coupons": False}
    assert quoted(**strict)[0]
    assert quoted(purchase=Purchase("浙江省", ON, coupon=True), **strict) == (
        False, 0, "不与优惠券同享，这一单用了优惠券",
    )  # fmt: skip
    assert quoted(purchase=Purchase("浙江省", ON, invoice=False), **strict) == (
        False, 0, "需要开具发票才能享受",
    )  # fmt: skip
    assert quoted(purchase=Purchase("浙江省", ON, coupon=True, invoice=False))[0]  # no conditions
    text = quote_programme(programme(**strict), LINE, HERE).text()
    assert "需开具发票" in text and "不与优惠券同享" in text


def test_the_text_names_the_programme_with_the_figures() -> None:
    p = programme(start="2026-03-01", end="2026-12-31", caps={"item": 2000}, note="到店验机。")
    text = quote_programme(p, LINE, HERE).text()
    assert text == (
        "可以享受店铺焕新补贴：按成交价¥3000补贴20%（档位甲），约¥600，到手约¥2400。"
        "每件最高¥2000；到店验机。依据：本店活动「店铺焕新补贴」（2026-03-01至2026-12-31）。"
    )
    assert "以旧换新" not in text and "当地政策" not in text
    no = quote_programme(p, Line("甲类电器", {"档位": "丙"}, 300000), HERE).text()
    assert no == "不能享受店铺焕新补贴：档位为丙，活动只补贴档位为甲、乙的商品。"


# ---------- earlier uses, from orders ----------

ADDR = Address("王芳", "13812345678", "浙江省", "杭州市", "西湖区", "文三路 100 号")


def _order(oid: str, extras: dict[str, Any], status: str = "已签收", **kw: Any) -> Order:
    lines = (OrderLine("S1", "P1", "一台电器", {}, 100000, 1),
             OrderLine("S2", "P2", "另一台", {}, 100000, 1))  # fmt: skip
    created = datetime(2026, 5, 31, 20, 0, tzinfo=ZoneInfo("UTC"))  # 06-01 04:00 in Shanghai
    return Order(oid, "U1", OrderStatus(status), created, lines, 200000, 200000, ADDR,
                 extras=extras, **kw)  # fmt: skip


def test_past_uses_read_the_marks_orders_carry() -> None:
    orders = [
        _order("A", {"p1": {"category": "甲类电器", "discount_fen": 100}}),
        _order("B", {"p1": [{"category": "乙类电器"}, {"category": "丙类电器"}]}),
        _order("C", {"p1": True}),  # no category: the order's products' categories
        _order("D", {"p1": {"category": "甲类电器"}}, status="已取消"),
        _order("E", {"other": {"category": "甲类电器"}}),
        _order("F", {"p1": None}),
    ]
    uses = past_uses(orders, {"p1"}, TZ, {"P1": "丁类电器", "P2": "戊类电器"})
    assert [(u.order_id, u.category) for u in uses] == [
        ("A", "甲类电器"), ("B", "乙类电器"), ("B", "丙类电器"), ("C", "丁类电器"),
        ("C", "戊类电器"),
    ]  # fmt: skip
    assert uses[0] == Use("p1", "甲类电器", "A", date(2026, 6, 1))  # the shop's day
    paid = _order("G", {"p1": {}}, paid_at=datetime(2026, 7, 1, 12, tzinfo=TZ))
    assert past_uses([paid], {"p1"}, TZ, {})[0].on == date(2026, 7, 1)


def test_a_programme_may_read_another_record_key() -> None:
    p = programme(record="shop_subsidy", limits=[{"count": 1}])
    uses = past_uses([_order("A", {"shop_subsidy": {"category": "甲类电器"}})], {p.key}, TZ, {})
    assert not quote_programme(p, LINE, Purchase("浙江省", ON, uses)).eligible


# ---------- which one applies ----------


def _national(fen: int, eligible: bool = True) -> Quote:
    return Quote(eligible, fen, 15, "", "2026 年全国以旧换新", date(2025, 12, 31))


def _shop(name: str, percent: int, *, ok: bool = True) -> Any:
    p = programme(
        id=f"p{percent}{len(name)}",
        name=name,
        tiers=[{"value": "甲" if ok else "乙", "percent": percent}],
    )
    return quote_programme(p, LINE, HERE)


def test_choose_best_pays_the_most_and_a_tie_goes_to_national_then_listed() -> None:
    national, a, b = _national(45000), _shop("甲活动", 20), _shop("乙活动", 10)
    pick = choose(national, [a, b], "best")
    assert pick.chosen is a
    assert pick.why == (
        "同时符合2026 年全国以旧换新（约¥450）、甲活动（约¥600）、乙活动（约¥300），"
        "只能享受其中一项，按本店规则取补贴最多的一项：甲活动"
    )
    assert choose(_national(60000), [a], "best").chosen.amount_fen == 60000  # type: ignore[union-attr]
    assert isinstance(choose(_national(60000), [a], "best").chosen, Quote)
    twin = _shop("孪生活动", 20)
    assert choose(None, [a, twin], "best").chosen is a


def test_choose_national_first_or_shop_first() -> None:
    national, a, b = _national(45000), _shop("甲活动", 20), _shop("乙活动", 10)
    assert choose(national, [a, b], "national").chosen is national
    assert "优先使用2026 年全国以旧换新" in choose(national, [a], "national").why
    assert choose(national, [b, a], "shop").chosen is b
    assert "优先使用本店活动（按活动排列顺序）：乙活动" in choose(national, [b, a], "shop").why
    missed = choose(_national(0, eligible=False), [b, a], "national")
    assert missed.chosen is b and "按本店活动的排列顺序取：乙活动" in missed.why


def test_choose_one_or_none() -> None:
    a, off = _shop("甲活动", 20), _shop("乙活动", 10, ok=False)
    assert choose(_national(0, eligible=False), [a, off], "best").chosen is a
    assert choose(None, [a], "best").why == ""
    assert choose(_national(0, eligible=False), [off], "best").chosen is None


def test_programmes_come_from_the_policy_file() -> None:
    policy = load_policy(
        "subsidy:\n  enabled: true\n  choose: shop\n  programmes:\n"
        "    - {id: p1, name: 店铺焕新补贴, tiers: [{percent: 10}]}\n"
    )
    q = quote_programme(policy.subsidy.programmes[0], Line("任意", {}, 10000), HERE)
    assert (q.eligible, q.amount_fen, policy.subsidy.choose) == (True, 1000, "shop")
