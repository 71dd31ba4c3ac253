"""The seven mutating τ tools through the product's policy engine.

Each call is read as the product's change (cancel, address_change, item_change,
payment_change, return, exchange, profile address) on domain types from the commerce port, its
named items and options are resolved to ids by the product's resolver, and the rules in
`xiaoer.policy` decide with the τ shop's `policy.yaml` — the same rules, loader and schema as
any shop's. The τ world's own checks still run after (on a throw-away copy), as a platform's
would.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xiaoer.commerce.resolve import lines_of, resolve_lines, resolve_option, sku_of
from xiaoer.domain.models import Order, OrderLine, PaymentMethod, Product, Shopper
from xiaoer.policy import changes, rules
from xiaoer.policy.load import load_policy
from xiaoer.policy.schema import ShopPolicy
from xiaoer.policy.verdict import Verdict
from xiaoer.tools.deps import TurnDeps

POLICY_FILE = Path(__file__).with_name("policy.yaml")

KINDS = {
    "cancel_pending_order": "cancel",
    "modify_pending_order_address": "address_change",
    "modify_pending_order_items": rules.ITEM_CHANGE,
    "modify_pending_order_payment": "payment_change",
    "modify_user_address": "profile_address",
    "return_delivered_order_items": "return",
    "exchange_delivered_order_items": "exchange",
}
"""τ tool → the product's `Change.kind`."""

_EN = {
    "cancel.states": "only a pending order can be cancelled",
    "address_change.states": "only a pending order's address can be changed",
    "address_change.max_changes": "this order's address was changed too many times",
    "item_change.states": "only a pending order's items can be modified",
    "item_change.per_order": "this order's items were already modified (once per order)",
    "item_change.locks_order": "this order's items were modified, so it cannot be changed "
    "or cancelled any more",
    "item_change.target": "each new item must be another option of the same product",
    "item_change.stock": "the new item is not available",
    "payment_change.states": "only a pending order's payment method can be changed",
    "payment_change.same": "the new payment method must differ from the original one",
    "payments.method": "that payment method is not one of the user's",
    "payments.stored_value_covers": "the gift card balance does not cover the amount",
    "payments.refund_to": "the refund must go to the original payment method or a gift card",
    "returns.states": "only a delivered order can be returned",
    "returns.lines": "no items to return",
    "exchange.states": "only a delivered order can be exchanged",
    "exchange.per_order": "this order was already exchanged (once per order)",
    "exchange.target": "each new item must be another option of the same product",
    "exchange.stock": "the new item is not available",
    "profile.address_change": "the default address cannot be changed here",
}


def tau_policy() -> ShopPolicy:
    """The τ shop's policy, read by the product's loader (a bad file is a clear error)."""
    return load_policy(POLICY_FILE.read_text(encoding="utf-8"), source=str(POLICY_FILE))


def refusal(policy: ShopPolicy, verdict: Verdict) -> str:
    """What the model reads when the policy says no: the rule and the reason, in English."""
    why = _EN.get(verdict.rule, verdict.reason)
    if verdict.rule == "cancel.reasons":
        why = "the reason must be one of: " + ", ".join(f"'{r}'" for r in policy.cancel.reasons)
    return f"Error: the shop's policy does not allow this ({verdict.rule}): {why}."


@dataclass
class Checked:
    """A τ call read and checked: its arguments with names and options resolved to ids, and
    the policy's verdict; or, for arguments that name nothing real, the error instead."""

    arguments: dict[str, Any]
    verdict: Verdict | None = None
    error: str = ""


async def check(
    deps: TurnDeps, name: str, args: dict[str, Any], order: Order | None, shopper: Shopper
) -> Checked:
    """Resolve and check one mutating τ call (`order` is None only for the profile change)."""
    policy = deps.policy
    if order is None:
        return Checked(args, changes.check_profile_address(policy))
    records = await deps.commerce.records_for(deps.shopper.id, order_id=order.id)
    done = Counter(r.kind for r in records if r.status != "failed")
    methods = {m.id: m for m in shopper.payment_methods}
    if name == "cancel_pending_order":
        reason = str(args.get("reason", ""))
        canonical = rules.cancel_reason(policy, reason)
        out = {**args, "reason": canonical or reason}
        return Checked(out, rules.check_cancel(policy, order, reason=reason, done=done))
    if name == "modify_pending_order_address":
        verdict = rules.check_address_change(policy, order, done["address_change"], done=done)
        return Checked(args, verdict)
    if name == "modify_pending_order_payment":
        method = methods.get(str(args.get("payment_method_id", "")))
        return Checked(args, changes.check_payment_change(policy, order, method, done))
    if not isinstance(args.get("item_ids"), list):
        return Checked(args, error="Error: item_ids must be a list of item ids")
    args = {**args, "item_ids": resolve_lines(order, args["item_ids"])}
    lines, missing = lines_of(order, args["item_ids"])
    if missing:
        return Checked(args, error=f"Error: item {missing[0]} not found in the order")
    method = methods.get(str(args.get("payment_method_id", "")))
    if name == "return_delivered_order_items":
        products = {
            p.id: p for ln in lines if (p := await deps.commerce.get_product(ln.product_id))
        }
        plan = rules.check_return(policy, order, lines, products, deps.said, deps.now)
        if not plan.verdict.allowed:
            return Checked(args, plan.verdict)
        return Checked(args, changes.check_refund_to(policy, order, method))
    return await _swap(deps, name, args, order, lines, method, done)


async def _swap(
    deps: TurnDeps,
    name: str,
    args: dict[str, Any],
    order: Order,
    lines: list[OrderLine],
    method: PaymentMethod | None,
    done: Counter[str],
) -> Checked:
    """An item change (pending order) or an exchange (delivered order): new options resolved
    per line, then the rule for the change, then who pays the price difference."""
    given = args.get("new_item_ids")
    if not isinstance(given, list) or len(given) != len(lines):
        return Checked(args, error="Error: item_ids and new_item_ids must have the same length")
    products: dict[str, Product | None] = {}
    for line in lines:
        if line.product_id not in products:
            products[line.product_id] = await deps.commerce.get_product(line.product_id)
    new_ids = [
        resolve_option(line, product, new) if (product := products[line.product_id]) else str(new)
        for line, new in zip(lines, given, strict=True)
    ]
    args = {**args, "new_item_ids": new_ids}
    swaps = [
        (line, sku_of(products[line.product_id], new_id))
        for line, new_id in zip(lines, new_ids, strict=True)
    ]
    policy = deps.policy
    if name == "modify_pending_order_items":
        verdict = changes.check_item_change(policy, order, swaps, done)
    else:
        said, now, before = deps.said, deps.now, done["exchange"]
        verdicts = [
            rules.check_exchange(policy, order, line, sku, said, now, before) for line, sku in swaps
        ]
        verdict = next((v for v in verdicts if not v.allowed), verdicts[0])
    if not verdict.allowed:
        return Checked(args, verdict)
    payer = changes.check_payer(policy, method, changes.price_difference(swaps))
    return Checked(args, payer or verdict)
