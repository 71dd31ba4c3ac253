"""Rules for changing an order that has not shipped (its items, its payment), for the shopper's
profile, and for which payment method may pay or receive money in a change.

Like `rules.py`: pure functions from (policy, order, facts) to a verdict. `done` counts the
changes already applied to the order, by `Change.kind`, as the commerce backend's ledger has them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from xiaoer.domain.models import Order, OrderLine, OrderStatus, PaymentMethod, Sku
from xiaoer.domain.money import yuan
from xiaoer.policy.rules import ITEM_CHANGE, locked
from xiaoer.policy.schema import ShopPolicy
from xiaoer.policy.verdict import Verdict, allow, deny

type Swap = tuple[OrderLine, Sku | None]
"""An order line and the option (SKU) it is to become; None when none matched."""


def _states(rule: str, order: Order, states: Sequence[str], what: str) -> Verdict | None:
    if order.status == OrderStatus.CANCELLED:
        return deny(rule, "这个订单已经取消了")
    if order.status.value in states:
        return None
    return deny(rule, f"订单{order.status.value}，{what}只能在{'、'.join(states)}状态办理")


def price_difference(swaps: Sequence[Swap]) -> int:
    """What the new options cost more (positive) or less (negative) than the old, in 分."""
    return sum((sku.price_fen - line.unit_price_fen) * line.quantity for line, sku in swaps if sku)


def check_swaps(rule: str, swaps: Sequence[Swap]) -> Verdict | None:
    """Every line becomes an in-stock option of its own product."""
    if not swaps:
        return deny(f"{rule}.target", "没有找到要换的商品")
    for line, sku in swaps:
        if sku is None:
            return deny(f"{rule}.target", f"{line.title} 没有找到要换成的款式")
        if sku.product_id != line.product_id:
            return deny(f"{rule}.target", "只能换同一商品的其他规格，不能换成别的商品")
        if sku.stock <= 0:
            return deny(f"{rule}.stock", f"{line.title} 要换的规格目前缺货")
    return None


def check_item_change(
    policy: ShopPolicy, order: Order, swaps: Sequence[Swap], done: Mapping[str, int]
) -> Verdict:
    """Change options of lines of an unshipped order: enabled, in a listed state, within the
    per-order count, each line to an in-stock option of the same product."""
    rule = policy.item_change
    if not rule.enabled:
        return deny("item_change.enabled", "本店不支持修改订单里的商品规格")
    if bad := _states("item_change.states", order, rule.states, "修改商品"):
        return bad
    if done.get(ITEM_CHANGE, 0) >= rule.per_order:
        return deny("item_change.per_order", f"每单最多修改{rule.per_order}次商品，这单已经改过了")
    if bad := check_swaps("item_change", swaps):
        return bad
    return allow("item_change.states", "订单未发货，可以修改商品规格")


def check_payer(
    policy: ShopPolicy, method: PaymentMethod | None, amount_fen: int
) -> Verdict | None:
    """A method of the shopper's that is to pay `amount_fen` (nothing to pay when ≤ 0)."""
    if method is None:
        return deny("payments.method", "没有找到这个付款方式，请从您账户里的付款方式中选择")
    short = method.balance_fen is not None and method.balance_fen < amount_fen
    if amount_fen > 0 and short and policy.payments.stored_value_covers:
        return deny(
            "payments.stored_value_covers",
            f"{method.label or method.id}余额{yuan(method.balance_fen or 0)}，"
            f"不够支付{yuan(amount_fen)}",
        )
    return None


def check_refund_to(policy: ShopPolicy, order: Order, method: PaymentMethod | None) -> Verdict:
    """Where a refund may go: the order's own payment method and/or a stored-value method."""
    allowed = policy.payments.refund_to
    if method is None:
        return deny("payments.method", "没有找到这个收款方式，请从您账户里的付款方式中选择")
    if "original" in allowed and method.id == order.payment_method:
        return allow("payments.refund_to", "退回原付款方式")
    if "stored_value" in allowed and method.stored_value:
        return allow("payments.refund_to", "退到您的储值卡（礼品卡/余额）")
    where = "原付款方式" + ("或储值卡（礼品卡/余额）" if "stored_value" in allowed else "")
    return deny("payments.refund_to", f"退款只能退回{where}")


def check_payment_change(
    policy: ShopPolicy, order: Order, method: PaymentMethod | None, done: Mapping[str, int]
) -> Verdict:
    """Pay an unshipped order with another of the shopper's methods, one that covers it."""
    rule = policy.payment_change
    if not rule.enabled:
        return deny("payment_change.enabled", "本店不支持修改订单的付款方式")
    if bad := _states("payment_change.states", order, rule.states, "改付款方式"):
        return bad
    if lock := locked(policy, done):
        return lock
    if method is not None and method.id == order.payment_method:
        return deny("payment_change.same", "新的付款方式和原来的一样，请选择另一种")
    if bad := check_payer(policy, method, order.pay_fen):
        return bad
    return allow("payment_change.states", "订单未发货，可以改用其他付款方式")


def check_profile_address(policy: ShopPolicy) -> Verdict:
    if not policy.profile.address_change:
        return deny("profile.address_change", "默认收货地址请在账户设置里修改")
    return allow("profile.address_change", "可以修改默认收货地址")
