"""The seven mutating τ-retail tools.

Every tool validates everything first and raises `ToolError` before its first write, so a
failed call leaves the db untouched. Writes go through `_own` (copy-on-write).
"""

from __future__ import annotations

from typing import Any

from xiaoer.evals.tau._base import (
    DELIVERED,
    PENDING,
    Record,
    ToolError,
    WorldBase,
    dump,
    money,
    tool,
)

CANCEL_REASONS = ("no longer needed", "ordered by mistake")
ITEM_MODIFIED = "pending (item modified)"


def _address(address1: str, address2: str, city: str, state: str, country: str, zip: str) -> Record:
    return {
        "address1": address1,
        "address2": address2,
        "city": city,
        "state": state,
        "country": country,
        "zip": zip,
    }


def _payments(order: Record) -> list[Record]:
    return [p for p in order["payment_history"] if p["transaction_type"] == "payment"]


class WriteTools(WorldBase):
    """Cancel, modify, return and exchange tools."""

    @tool
    def cancel_pending_order(self, order_id: str, reason: str) -> str:
        """Cancel a pending order and refund every payment (gift cards immediately)."""
        order = self._order_with_status(order_id, PENDING)
        if reason not in CANCEL_REASONS:
            raise ToolError(f"reason must be one of {list(CANCEL_REASONS)}")
        payments = _payments(order)
        for payment in payments:
            self._payment_method(order, payment["payment_method_id"])
        order = self._own("orders", order_id)
        for payment in payments:
            amount = money(payment["amount"])
            method_id = payment["payment_method_id"]
            order["payment_history"].append(
                {"transaction_type": "refund", "amount": amount, "payment_method_id": method_id}
            )
            self._add_gift_card_balance(order["user_id"], method_id, amount)
        order["status"] = "cancelled"
        order["cancel_reason"] = reason
        return dump(order)

    @tool
    def modify_pending_order_address(
        self,
        order_id: str,
        address1: str,
        address2: str,
        city: str,
        state: str,
        country: str,
        zip: str,
    ) -> str:
        """Replace the shipping address of a pending order."""
        self._order_with_status(order_id, PENDING)
        order = self._own("orders", order_id)
        order["address"] = _address(address1, address2, city, state, country, zip)
        return dump(order)

    def _swap(
        self,
        order: dict[str, Any],
        item_ids: list[str],
        new_item_ids: list[str],
        payment_method_id: str,
        purpose: str,
    ) -> tuple[list[int], list[dict[str, Any]], dict[str, Any], float]:
        """Check an item swap (modify or exchange): item positions, new variants, the payment
        method and the price difference, which a gift card must cover."""
        indexes = self._match_items(order, item_ids)
        variants = self._new_variants(order, indexes, new_item_ids)
        method = self._payment_method(order, payment_method_id)
        old_total = sum(order["items"][i]["price"] for i in indexes)
        diff = money(sum(v["price"] for v in variants) - old_total)
        if method["source"] == "gift_card" and diff > 0 and method.get("balance", 0) < diff:
            raise ToolError(f"insufficient gift card balance {purpose}")
        return indexes, variants, method, diff

    @tool
    def modify_pending_order_items(
        self, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
    ) -> str:
        """Swap items for variants of the same products (once per order); settle the difference."""
        order = self._order_with_status(order_id, PENDING)
        indexes, variants, method, diff = self._swap(
            order, item_ids, new_item_ids, payment_method_id, "to pay for the new items"
        )
        order = self._own("orders", order_id)
        order["payment_history"].append(
            {
                "transaction_type": "payment" if diff >= 0 else "refund",
                "amount": abs(diff),
                "payment_method_id": payment_method_id,
            }
        )
        self._add_gift_card_balance(order["user_id"], payment_method_id, -diff)
        for index, variant in zip(indexes, variants, strict=True):
            item = order["items"][index]
            item["item_id"] = variant["item_id"]
            item["price"] = variant["price"]
            item["options"] = dict(variant["options"])
        order["status"] = ITEM_MODIFIED
        return dump(order)

    @tool
    def modify_pending_order_payment(self, order_id: str, payment_method_id: str) -> str:
        """Move the single payment of a pending order to another of the user's methods."""
        order = self._order_with_status(order_id, PENDING)
        payments = _payments(order)
        if len(payments) != 1:
            raise ToolError("only an order with exactly one payment can change payment method")
        old_id = payments[0]["payment_method_id"]
        amount = money(payments[0]["amount"])
        method = self._payment_method(order, payment_method_id)
        if payment_method_id == old_id:
            raise ToolError("the new payment method must differ from the current one")
        if method["source"] == "gift_card" and method.get("balance", 0) < amount:
            raise ToolError("insufficient gift card balance to pay for the order")
        self._payment_method(order, old_id)
        order = self._own("orders", order_id)
        order["payment_history"].extend(
            [
                {
                    "transaction_type": "payment",
                    "amount": amount,
                    "payment_method_id": payment_method_id,
                },
                {"transaction_type": "refund", "amount": amount, "payment_method_id": old_id},
            ]
        )
        self._add_gift_card_balance(order["user_id"], payment_method_id, -amount)
        self._add_gift_card_balance(order["user_id"], old_id, amount)
        return dump(order)

    @tool
    def modify_user_address(
        self,
        user_id: str,
        address1: str,
        address2: str,
        city: str,
        state: str,
        country: str,
        zip: str,
    ) -> str:
        """Replace the user's default address."""
        self._user(user_id)
        user = self._own("users", user_id)
        user["address"] = _address(address1, address2, city, state, country, zip)
        return dump(user)

    @tool
    def return_delivered_order_items(
        self, order_id: str, item_ids: list[str], payment_method_id: str
    ) -> str:
        """Request a return; refund to the original method or a gift card (no money moves)."""
        order = self._order_with_status(order_id, DELIVERED)
        self._match_items(order, item_ids)
        method = self._payment_method(order, payment_method_id)
        payments = _payments(order)
        original = payments[0]["payment_method_id"] if payments else None
        if payment_method_id != original and method["source"] != "gift_card":
            raise ToolError("refund must go to the original payment method or a gift card")
        order = self._own("orders", order_id)
        order["status"] = "return requested"
        order["return_items"] = sorted(item_ids)
        order["return_payment_method_id"] = payment_method_id
        return dump(order)

    @tool
    def exchange_delivered_order_items(
        self, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
    ) -> str:
        """Request an exchange for variants of the same products (no money moves yet)."""
        order = self._order_with_status(order_id, DELIVERED)
        indexes, variants, method, diff = self._swap(
            order, item_ids, new_item_ids, payment_method_id, "to pay for the price difference"
        )
        order = self._own("orders", order_id)
        order["status"] = "exchange requested"
        order["exchange_items"] = sorted(item_ids)
        order["exchange_new_items"] = sorted(new_item_ids)
        order["exchange_payment_method_id"] = payment_method_id
        order["exchange_price_difference"] = diff
        return dump(order)
