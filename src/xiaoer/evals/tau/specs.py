"""Tool schemas of the 16 τ-retail tools, as the model sees them (our own wording, the
benchmark's names and parameters)."""

from __future__ import annotations

from typing import Any

from xiaoer.llm.base import ToolSpec

_S = {"type": "string"}
_IDS = {"type": "array", "items": {"type": "string"}}
_NEW_IDS = {
    "type": "array",
    "items": {"type": "string"},
    "description": "item ids of the new options (or their option values, e.g. 'blue, size M')",
}
_ADDRESS = {
    "address1": _S,
    "address2": _S,
    "city": _S,
    "state": _S,
    "country": _S,
    "zip": _S,
}


def _spec(name: str, description: str, **params: dict[str, Any]) -> ToolSpec:
    return ToolSpec(
        name, description, {"type": "object", "properties": params, "required": list(params)}
    )


def _table(new_ids: dict[str, Any]) -> dict[str, ToolSpec]:
    return {
        s.name: s
        for s in (
            _spec(
                "find_user_id_by_email",
                "Find the user id from the user's email. Authenticates the user.",
                email=_S,
            ),
            _spec(
                "find_user_id_by_name_zip",
                "Find the user id from first name, last name and zip code. Authenticates the user.",
                first_name=_S,
                last_name=_S,
                zip=_S,
            ),
            _spec(
                "get_user_details",
                "The user's profile: name, default address, payment methods, order ids.",
                user_id=_S,
            ),
            _spec(
                "get_order_details",
                "An order's status, items (item_id, options, price), address and payments.",
                order_id=_S,
            ),
            _spec(
                "get_product_details",
                "A product's variants: item_id, options, availability and price.",
                product_id=_S,
            ),
            _spec("list_all_product_types", "Every product name with its product_id."),
            _spec(
                "calculate",
                "Evaluate an arithmetic expression (numbers, + - * / and parentheses).",
                expression=_S,
            ),
            _spec("think", "Write down reasoning; changes nothing.", thought=_S),
            _spec(
                "transfer_to_human_agents",
                "Hand the user over to a human agent, with a summary of the issue.",
                summary=_S,
            ),
            _spec(
                "cancel_pending_order",
                "Cancel a pending order. reason: 'no longer needed' or 'ordered by mistake'.",
                order_id=_S,
                reason=_S,
            ),
            _spec(
                "modify_pending_order_address",
                "Change the shipping address of a pending order.",
                order_id=_S,
                **_ADDRESS,
            ),
            _spec(
                "modify_pending_order_items",
                "Swap items of a pending order for other options of the same products, all in one "
                "call (once per order); the price difference goes to payment_method_id.",
                order_id=_S,
                item_ids=_IDS,
                new_item_ids=new_ids,
                payment_method_id=_S,
            ),
            _spec(
                "modify_pending_order_payment",
                "Pay a pending order with another of the user's payment methods.",
                order_id=_S,
                payment_method_id=_S,
            ),
            _spec(
                "modify_user_address",
                "Change the user's default address.",
                user_id=_S,
                **_ADDRESS,
            ),
            _spec(
                "return_delivered_order_items",
                "Return items of a delivered order; refund to the original payment method or a "
                "gift card.",
                order_id=_S,
                item_ids=_IDS,
                payment_method_id=_S,
            ),
            _spec(
                "exchange_delivered_order_items",
                "Exchange items of a delivered order for other options of the same products, all in "
                "one call; the price difference goes to payment_method_id.",
                order_id=_S,
                item_ids=_IDS,
                new_item_ids=new_ids,
                payment_method_id=_S,
            ),
        )
    }


TAU_SPECS = _table(_IDS)
"""As the benchmark states them (the baseline's)."""
XIAOER_SPECS = _table(_NEW_IDS)
"""xiaoer's tools also accept option values for new items, and resolve them in code."""

MUTATING_TAU = (
    "cancel_pending_order",
    "modify_pending_order_address",
    "modify_pending_order_items",
    "modify_pending_order_payment",
    "modify_user_address",
    "return_delivered_order_items",
    "exchange_delivered_order_items",
)
