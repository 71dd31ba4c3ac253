"""Shared state and helpers for the τ-retail tool implementations.

Copy-on-write: a world never mutates a record object it did not create itself. The first
write to a user/order replaces that record in its table with a private deep copy, so a
forked db (see `world.fork_db`) can share untouched records with its base db safely.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

Record = dict[str, Any]

PENDING = "pending"
DELIVERED = "delivered"


class ToolError(Exception):
    """Raised by tool bodies before any write; becomes an `Error: ...` string."""


def money(value: float) -> float:
    """Dollars rounded to cents, as float (never -0.0)."""
    return round(float(value), 2) + 0.0


def clone(value: Any) -> Any:
    """Deep copy of a JSON value (much faster than `copy.deepcopy`)."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


def dump(value: Any) -> str:
    """The JSON string a tool returns."""
    return json.dumps(value, ensure_ascii=False)


def tool[F: Callable[..., str]](fn: F) -> F:
    """Mark a method as a tool and turn `ToolError` into an `Error: ...` return value."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> str:
        try:
            return fn(*args, **kwargs)
        except ToolError as exc:
            return f"Error: {exc}"

    wrapper.is_tool = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


class WorldBase:
    """Holds one db and the lookup / copy-on-write helpers the tools share."""

    def __init__(self, db: dict[str, Any]) -> None:
        self.db = db
        self.transferred = False
        # id -> record for records this world owns (strong refs keep ids from being reused)
        self._owned: dict[int, Record] = {}

    # -- lookups (read-only, raise ToolError) ------------------------------------------
    def _user(self, user_id: str) -> Record:
        user = self.db["users"].get(user_id)
        if user is None:
            raise ToolError("user not found")
        return user

    def _order(self, order_id: str) -> Record:
        order = self.db["orders"].get(order_id)
        if order is None:
            raise ToolError("order not found")
        return order

    def _product(self, product_id: str) -> Record:
        product = self.db["products"].get(product_id)
        if product is None:
            raise ToolError("product not found")
        return product

    def _order_with_status(self, order_id: str, status: str) -> Record:
        order = self._order(order_id)
        if order["status"] != status:
            raise ToolError(f"non-{status} order cannot be changed by this tool")
        return order

    def _payment_method(self, order: Record, payment_method_id: str) -> Record:
        """A payment method of the order's owner."""
        user = self._user(order["user_id"])
        method = user["payment_methods"].get(payment_method_id)
        if method is None:
            raise ToolError("payment method not found")
        return method

    @staticmethod
    def _match_items(order: Record, item_ids: list[str]) -> list[int]:
        """Indexes of order items for `item_ids`, counting repeated ids separately."""
        if not item_ids:
            raise ToolError("item_ids must not be empty")
        result: list[int] = []
        for item_id in item_ids:
            index = next(
                (
                    i
                    for i, item in enumerate(order["items"])
                    if item["item_id"] == item_id and i not in result
                ),
                None,
            )
            if index is None:
                raise ToolError(f"item {item_id} not found in the order")
            result.append(index)
        return result

    def _new_variants(
        self, order: Record, indexes: list[int], new_item_ids: list[str]
    ) -> list[Record]:
        """Available variants of the same products for each (old item, new id) pair."""
        if len(indexes) != len(new_item_ids):
            raise ToolError("item_ids and new_item_ids must have the same length")
        variants: list[Record] = []
        for index, new_id in zip(indexes, new_item_ids, strict=True):
            product = self._product(order["items"][index]["product_id"])
            variant = product["variants"].get(new_id)
            if variant is None:
                raise ToolError(f"new item {new_id} is not a variant of the same product")
            if not variant.get("available"):
                raise ToolError(f"new item {new_id} is not available")
            variants.append(variant)
        return variants

    # -- copy-on-write ------------------------------------------------------------------
    def _own(self, table: str, key: str) -> Record:
        """The record `db[table][key]`, made private to this world before a write."""
        record = self.db[table][key]
        if id(record) in self._owned:
            return record
        record = clone(record)
        self.db[table][key] = record
        self._owned[id(record)] = record
        return record

    def _add_gift_card_balance(self, user_id: str, method_id: str, delta: float) -> None:
        """Add `delta` dollars to a gift card's balance (no-op for other sources)."""
        user = self.db["users"][user_id]
        if user["payment_methods"][method_id]["source"] != "gift_card":
            return
        user = self._own("users", user_id)
        card = user["payment_methods"][method_id]
        card["balance"] = money(card.get("balance", 0) + delta)
