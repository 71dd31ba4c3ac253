"""Changes to an unshipped order (items, payment), the lock an item change puts on the order,
cancel reasons, who pays a price difference and where a refund may go."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from xiaoer.domain.models import (
    Address,
    Order,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    Product,
    Sku,
)
from xiaoer.policy import changes, load_policy, rules
from xiaoer.policy.schema import ShopPolicy

NOW = datetime(2026, 11, 20, 14, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
ADDR = Address("王芳", "13812345678", "浙江省", "杭州市", "西湖区", "文三路 100 号")
TEE = Product(
    "P1", "纯棉T恤", "上衣", "", "", {},
    (Sku("P1-W-M", "P1", {"颜色": "白色", "尺码": "M"}, 9900, 5),
     Sku("P1-W-L", "P1", {"颜色": "白色", "尺码": "L"}, 9900, 0),
     Sku("P1-B-M", "P1", {"颜色": "黑色", "尺码": "M"}, 12900, 3)),
)  # fmt: skip
MUG = Sku("P2-R", "P2", {"颜色": "红色"}, 3900, 9)
LINE = OrderLine("P1-W-M", "P1", "纯棉T恤", {"颜色": "白色", "尺码": "M"}, 9900, 1)
CARD = PaymentMethod("card_1", "bank_card", "银行卡")
GIFT = PaymentMethod("gift_1", "gift_card", "礼品卡", balance_fen=2000)
RICH_GIFT = PaymentMethod("gift_2", "gift_card", "礼品卡", balance_fen=50000)
WALLET = PaymentMethod("wallet_1", "wallet", "钱包")

POLICY = load_policy(
    """
cancel: {states: [待发货], reasons: [不想要了, 拍错了]}
item_change: {enabled: true, states: [待发货], per_order: 1, locks_order: true}
payment_change: {enabled: true}
payments: {refund_to: [original, stored_value]}
exchange: {price_difference: settle}
profile: {address_change: true}
"""
)


def order(status: str = "待发货", **kw: object) -> Order:
    base = Order(
        "SO1", "U1", OrderStatus(status), NOW, (LINE,), 9900, 9900, ADDR, payment_method="card_1"
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def sku(sku_id: str) -> Sku:
    return next(s for s in TEE.skus if s.id == sku_id)


@pytest.mark.parametrize(
    ("reason", "allowed", "rule"),
    [
        ("拍错了", True, "cancel.states"),
        (" 不想要了。", True, "cancel.states"),
        ("太贵了", False, "cancel.reasons"),
        ("", False, "cancel.reasons"),
    ],
)
def test_cancel_needs_a_listed_reason_when_the_shop_lists_them(
    reason: str, allowed: bool, rule: str
) -> None:
    v = rules.check_cancel(POLICY, order(), reason=reason)
    assert (v.allowed, v.rule) == (allowed, rule)
    if rule == "cancel.reasons":
        assert "不想要了" in v.reason and "拍错了" in v.reason


def test_cancel_reason_takes_the_shops_wording_and_any_reason_without_a_list() -> None:
    english = load_policy("cancel: {reasons: [no longer needed, ordered by mistake]}")
    assert rules.cancel_reason(english, "No longer needed.") == "no longer needed"
    assert rules.cancel_reason(english, "too expensive") is None
    assert rules.cancel_reason(english, "The reason is: no longer needed") == "no longer needed"
    both = "no longer needed, ordered by mistake"
    assert rules.cancel_reason(english, both) is None
    assert rules.cancel_reason(ShopPolicy(), "随便什么原因") == "随便什么原因"
    assert rules.check_cancel(ShopPolicy(), order(), reason="随便").allowed


def test_an_item_change_locks_the_order_when_the_policy_says_so() -> None:
    done = {rules.ITEM_CHANGE: 1}
    assert rules.check_cancel(POLICY, order(), reason="拍错了", done=done).rule == (
        "item_change.locks_order"
    )
    assert rules.check_address_change(POLICY, order(), 0, done=done).rule == (
        "item_change.locks_order"
    )
    assert changes.check_payment_change(POLICY, order(), WALLET, done).rule == (
        "item_change.locks_order"
    )
    v = changes.check_item_change(POLICY, order(), [(LINE, sku("P1-B-M"))], done)
    assert (v.allowed, v.rule) == (False, "item_change.per_order")
    # other changes before it do not lock anything
    assert rules.check_cancel(POLICY, order(), reason="拍错了", done={"address_change": 2}).allowed
    unlocked = load_policy("item_change: {enabled: true}")
    assert rules.check_cancel(unlocked, order(), done=done).allowed


@pytest.mark.parametrize(
    ("status", "target", "allowed", "rule"),
    [
        ("待发货", "P1-B-M", True, "item_change.states"),
        ("待发货", "P1-W-M", True, "item_change.states"),  # the same option is no change, no harm
        ("待发货", "P1-W-L", False, "item_change.stock"),
        ("待发货", None, False, "item_change.target"),
        ("已发货", "P1-B-M", False, "item_change.states"),
        ("已取消", "P1-B-M", False, "item_change.states"),
    ],
)
def test_item_change(status: str, target: str | None, allowed: bool, rule: str) -> None:
    swap = (LINE, sku(target) if target else None)
    v = changes.check_item_change(POLICY, order(status), [swap], {})
    assert (v.allowed, v.rule) == (allowed, rule)


def test_item_change_stays_within_the_product_and_is_off_by_default() -> None:
    v = changes.check_item_change(POLICY, order(), [(LINE, MUG)], {})
    assert (v.allowed, v.rule) == (False, "item_change.target")
    assert changes.check_item_change(POLICY, order(), [], {}).rule == "item_change.target"
    off = changes.check_item_change(ShopPolicy(), order(), [(LINE, sku("P1-B-M"))], {})
    assert (off.allowed, off.rule) == (False, "item_change.enabled")


def test_price_difference_and_who_pays_it() -> None:
    up = [(LINE, sku("P1-B-M"))]
    assert changes.price_difference(up) == 3000
    assert changes.price_difference([(replace(LINE, quantity=2), sku("P1-B-M"))]) == 6000
    assert changes.check_payer(POLICY, CARD, 3000) is None  # a card has no balance to run out
    short = changes.check_payer(POLICY, GIFT, 3000)
    assert short is not None and short.rule == "payments.stored_value_covers"
    assert "余额¥20" in short.reason and "¥30" in short.reason
    assert changes.check_payer(POLICY, GIFT, 2000) is None
    assert changes.check_payer(POLICY, GIFT, -3000) is None  # a refund needs no balance
    missing = changes.check_payer(POLICY, None, 0)
    assert missing is not None and missing.rule == "payments.method"
    lenient = load_policy("payments: {stored_value_covers: false}")
    assert changes.check_payer(lenient, GIFT, 3000) is None


@pytest.mark.parametrize(
    ("method", "allowed", "rule"),
    [
        (WALLET, True, "payment_change.states"),
        (RICH_GIFT, True, "payment_change.states"),
        (GIFT, False, "payments.stored_value_covers"),
        (CARD, False, "payment_change.same"),
        (None, False, "payments.method"),
    ],
)
def test_payment_change(method: PaymentMethod | None, allowed: bool, rule: str) -> None:
    v = changes.check_payment_change(POLICY, order(), method, {})
    assert (v.allowed, v.rule) == (allowed, rule)


def test_payment_change_needs_an_unshipped_order_and_the_shops_consent() -> None:
    shipped = changes.check_payment_change(POLICY, order("已发货"), WALLET, {})
    assert (shipped.allowed, shipped.rule) == (False, "payment_change.states")
    off = changes.check_payment_change(ShopPolicy(), order(), WALLET, {})
    assert (off.allowed, off.rule) == (False, "payment_change.enabled")


@pytest.mark.parametrize(
    ("policy", "method", "allowed"),
    [
        (POLICY, CARD, True),  # the original method
        (POLICY, GIFT, True),  # any stored-value method
        (POLICY, WALLET, False),
        (ShopPolicy(), CARD, True),
        (ShopPolicy(), GIFT, False),  # by default refunds go back the way they came
    ],
)
def test_refund_destination(policy: ShopPolicy, method: PaymentMethod, allowed: bool) -> None:
    v = changes.check_refund_to(policy, order("已签收"), method)
    assert (v.allowed, v.rule) == (allowed, "payments.refund_to")


def test_exchange_may_settle_a_price_difference_when_the_shop_says_so() -> None:
    delivered = order("已签收", delivered_at=NOW)
    black = sku("P1-B-M")
    strict = rules.check_exchange(ShopPolicy(), delivered, LINE, black, [], NOW, 0)
    assert (strict.allowed, strict.rule) == (False, "exchange.target")
    settle = rules.check_exchange(POLICY, delivered, LINE, black, [], NOW, 0)
    assert settle.allowed


def test_profile_address_change_is_off_unless_enabled() -> None:
    assert changes.check_profile_address(POLICY).allowed
    assert not changes.check_profile_address(ShopPolicy()).allowed
